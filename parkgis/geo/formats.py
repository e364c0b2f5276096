"""Reading any vector file the loader accepts, through pyogrio (GDAL).

Only what was given is read. The format is decided from the file's bytes (``sniff``), never
its name, and only GeoPackage, GeoJSON, Shapefile (a plain ``.shp`` set, or a ``.zip`` holding
only .shp .shx .dbf .prj .cpg, unpacked with bounded sizes), KML (plain XML, no DTD) and DXF
pass; GDAL is then held to the driver the bytes named. Anything that can point at other files,
URLs or servers (VRT, GDALG, LIBKML, WFS, ``/vsicurl/``, ``PG:`` ...) is refused, and GDAL runs
with network access and those drivers switched off (``GDAL_SAFE_OPTIONS``,
``DEREGISTERED_DRIVERS``). Every failure becomes a ``ParkGISError`` phrased for one line:
a missing file or layer is ``NotFound``, a file GDAL cannot parse (truncated, corrupt, a
broken zip) is ``InvalidData('cannot read FILE: ...')``.

Attribute encoding: a ``.dbf`` written by Chinese desktop GIS is usually GBK and often comes
without the ``.cpg`` that says so; GDAL then decodes it as ISO-8859-1 and every Chinese name
turns into mojibake such as ``ÎÀ»ÔÊÐ``. ``read_vector`` notices Latin-1-range characters in
the strings of such a file, works out whether the bytes were really UTF-8 or GBK, and reads
the file again with that encoding.
"""

from __future__ import annotations

import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError
from shapely.errors import GEOSException

from parkgis.errors import InvalidData, InvalidInput, NotFound

#: Encodings tried, in order, when a shapefile's strings look mis-decoded. UTF-8 first: random
#: GBK bytes almost never form valid UTF-8, so a UTF-8 success is trustworthy.
FALLBACK_ENCODINGS = ("UTF-8", "GB18030")

# Characters GDAL produces when it decodes GBK/UTF-8 bytes as ISO-8859-1.
_LATIN1_HIGH = re.compile("[\u0080-\u00ff]")

_READ_ERRORS = (
    DataSourceError,
    DataLayerError,
    FieldError,
    GeometryError,
    RuntimeError,
    ValueError,
    OSError,
)


@dataclass
class Source:
    """A vector file resolved to something GDAL can open.

    Parameters
    ----------
    path : Path
        The file the user named.
    gdal_path : str
        What is handed to GDAL (``/vsizip/...`` for a zipped shapefile).
    driver : str or None
        GDAL driver name once opened.
    is_shapefile : bool
        Plain or zipped shapefile (the encoding and ``.prj`` rules apply).
    has_cpg : bool
        A shapefile with a ``.cpg`` declaring its encoding.
    """

    path: Path
    gdal_path: str
    driver: str | None = None
    is_shapefile: bool = False
    has_cpg: bool = False
    kind: str = ""


@dataclass
class ReadResult:
    """A layer read into memory.

    Parameters
    ----------
    frame : GeoDataFrame or DataFrame
        The features; a plain DataFrame for a non-spatial layer (GeoPackage attribute table).
    layer : str
        The source layer name.
    driver : str
        GDAL driver that read it.
    encoding : str or None
        Attribute encoding used when it was not the driver's own (``GBK`` for a detected
        GBK ``.dbf``).
    notes : list of str
        What the reader decided on the user's behalf, for the load report.
    """

    frame: gpd.GeoDataFrame | pd.DataFrame
    layer: str
    driver: str
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


#: What a path may not name: GDAL virtual file systems and connection strings reach other
#: files, URLs or servers instead of the bytes the user gave.
_REFERENCE_PREFIX = re.compile(r"^(/vsi|[A-Za-z][A-Za-z0-9_]+:)", re.I)

#: Shapefile members a zip may hold; anything else (a .vrt, a nested zip, a GeoPackage that
#: could be anything) is refused rather than guessed at.
ZIP_MEMBERS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
#: Index and metadata files desktop GIS writes next to a shapefile: left in the archive, never
#: unpacked or read, so exports from ArcGIS/QGIS need no clean-up.
ZIP_SKIPPED = (".sbn", ".sbx", ".qix", ".qpj", ".shp.xml")
#: A zipped upload may unpack to at most this much, and at most ``MAX_ZIP_RATIO`` times its
#: compressed size (a zip bomb is refused from its directory, before inflating anything).
MAX_UNZIPPED_BYTES = 1 << 30
MAX_ZIP_RATIO = 200
_RATIO_FLOOR = 16 << 20  # small archives may compress well (blank .dbf padding)

#: The GDAL configuration the loader reads under: no network, no reading of directories next
#: to the file, no SQLite virtual tables reaching other files. Applied process-wide because
#: GDAL's configuration is process-wide; nothing else in ParkGIS opens remote sources.
GDAL_SAFE_OPTIONS: dict[str, str] = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".parkgis-network-disabled",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "GDAL_ENABLE_DEPRECATED_DRIVER_DODS": "NO",
    "CPL_VSIL_CURL_USE_HEAD": "NO",
    "GDAL_HTTP_UNSAFESSL": "NO",
}

#: Drivers each sniffed kind may be opened with; GDAL is told which one, never left to guess.
KIND_DRIVERS: dict[str, str] = {
    "gpkg": "GPKG",
    "geojson": "GeoJSON",
    "shapefile": "ESRI Shapefile",
    "kml": "KML",
    "dxf": "DXF",
}

_MSG_MAX = 300


#: Drivers taken out of pyogrio's GDAL altogether: those that read other files or URLs named
#: inside a file (VRT, GDALG, LIBKML NetworkLinks), talk to servers, or run programs
#: (GPSBabel). The exporters write only GPKG, GeoJSON, Shapefile, KML and CSV, all kept.
DEREGISTERED_DRIVERS = (
    "OGR_VRT",
    "VRT",
    "GDALG",
    "LIBKML",
    "WFS",
    "OAPIF",
    "OGCAPI",
    "HTTP",
    "CSW",
    "Carto",
    "Elasticsearch",
    "AmigoCloud",
    "NGW",
    "PLSCENES",
    "EEDA",
    "ADBC",
    "GPSBabel",
    "PostgreSQL",
    "MySQL",
    "ODBC",
    "MSSQLSpatial",
    "OCI",
    "MongoDBv3",
    "WMS",
    "WMTS",
    "WCS",
    "DAAS",
    "STACIT",
    "STACTA",
)


def _deregister_unsafe_drivers() -> list[str]:
    """Remove ``DEREGISTERED_DRIVERS`` from the GDAL library pyogrio is linked with.

    pyogrio has no per-open driver allow-list, and GDAL_SKIP only acts before drivers are
    registered (pyogrio registers them on import), so the drivers are deregistered through
    the GDAL C API; ``dlsym`` on pyogrio's own extension module finds the GDAL it links.
    """
    import ctypes

    from pyogrio import _ogr

    gdal = ctypes.CDLL(_ogr.__file__)
    gdal.GDALGetDriverByName.restype = ctypes.c_void_p
    gdal.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    gdal.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
    gdal.GDALDestroyDriver.argtypes = [ctypes.c_void_p]
    removed = []
    for name in DEREGISTERED_DRIVERS:
        drv = gdal.GDALGetDriverByName(name.encode())
        if drv:
            gdal.GDALDeregisterDriver(drv)
            removed.append(name)
    return removed


def _gdal_safe() -> None:
    pyogrio.set_gdal_config_options(GDAL_SAFE_OPTIONS)  # type: ignore[arg-type]
    _deregister_unsafe_drivers()


_gdal_safe()


def scrub(text: str, *names: str) -> str:
    """``text`` without server paths, one line, capped: GDAL messages name the full path of
    the file they read (a temporary directory, the working tree), which is not the user's
    business and may reveal the layout of the server."""
    out = " ".join(str(text).split())
    for n in sorted({n for n in names if n}, key=len, reverse=True):
        out = out.replace(n, Path(n).name or "file")
    # Any absolute path left (GDAL, pyproj and site-packages name their own files).
    out = re.sub(r"(/vsi\w+)?(/[^\s/:'\",;()]+){2,}/?", lambda m: Path(m.group(0)).name or "…", out)
    return out if len(out) <= _MSG_MAX else out[: _MSG_MAX - 1] + "…"


def _cannot_read(path: Path, exc: BaseException, gdal_path: str = "") -> InvalidData:
    if "Too many characters" in str(exc):
        # json-c's limit on one token, reached by a multi-megabyte attribute: say what it is.
        return InvalidData(
            f"cannot read {path.name}: a value too long (millions of characters in one attribute)"
        )
    msg = (
        scrub(str(exc), gdal_path, str(path), str(path.resolve()) if path.name else "")
        or type(exc).__name__
    )
    return InvalidData(f"cannot read {path.name}: {msg}")


def _refused(path: Path, why: str) -> InvalidData:
    return InvalidData(
        f"不支持的文件 / {path.name}: {why}. Accepted: GeoPackage, GeoJSON, "
        "zipped Shapefile (.shp .shx .dbf .prj .cpg only), KML, DXF"
    )


def _xml_kind(path: Path, head: bytes) -> str:
    """KML only, as plain XML: a DTD or entity could pull in other files or expand without
    bound, and any other root (OGRVRTDataSource, GML, GPX...) is not on the list."""
    text = head.decode("utf-8", errors="replace")
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.I):
        raise _refused(path, "XML with a DTD or entities is not read")
    body = re.sub(r"<\?.*?\?>|<!--.*?-->", "", text, flags=re.S).lstrip()
    m = re.match(r"<([A-Za-z_][\w.:-]*)", body)
    root = m.group(1).split(":")[-1] if m else ""
    if root.lower() != "kml":
        raise _refused(path, f"XML whose root is <{root[:40]}> (only KML is read)")
    return "kml"


_KML_NS = "{http://www.opengis.net/kml/2.2}"


def _kml_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kml_attributes(path: Path, layer: str, single_layer: bool, n: int) -> pd.DataFrame | None:
    """The ``ExtendedData`` of a KML layer's placemarks, in feature order.

    GDAL's plain KML driver (the one without network access) reads geometry, name and
    description only; the attributes a GIS writes live in ``ExtendedData`` (``SimpleData`` /
    ``Data``). The file has been checked to carry no DTD or entity, so the standard parser
    cannot be made to read anything else. Returns None when the placemarks cannot be matched
    to the features one to one (then only name and description are loaded).
    """
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()  # noqa: S314 - DTD and entities refused by sniff()
    except ET.ParseError as e:
        raise InvalidData(f"cannot read {path.name}: {scrub(str(e))}") from e
    if single_layer:
        marks = [el for el in root.iter() if _kml_local(el.tag) == "Placemark"]
    else:
        marks = []
        for el in root.iter():
            if _kml_local(el.tag) in ("Folder", "Document"):
                name = next((c.text for c in el if _kml_local(c.tag) == "name"), None)
                if (name or "").strip() == layer:
                    marks = [c for c in el if _kml_local(c.tag) == "Placemark"]
                    break
    if len(marks) != n:
        return None
    rows: list[dict[str, str | None]] = []
    for mark in marks:
        row: dict[str, str | None] = {}
        for el in mark.iter():
            tag = _kml_local(el.tag)
            if tag == "SimpleData" and el.get("name"):
                row[str(el.get("name"))] = el.text
            elif tag == "Data" and el.get("name"):
                value = next((c.text for c in el if _kml_local(c.tag) == "value"), None)
                row[str(el.get("name"))] = value
        rows.append(row)
    return pd.DataFrame(rows)


def sniff(path: Path) -> str:
    """The kind of a file decided from its bytes, never its name: ``gpkg``, ``geojson``,
    ``zip``, ``shapefile``, ``kml`` or ``dxf``.

    Raises
    ------
    InvalidInput
        The file is empty.
    InvalidData
        Anything else: a VRT, an SQLite database that is not a GeoPackage, UTF-16 text,
        XML with a DTD, unknown bytes.
    """
    with path.open("rb") as f:
        head = f.read(1 << 16)
        if len(head) < (1 << 16):
            full = head
        else:  # a DTD may hide after a long comment; KML is small enough to scan whole
            full = b""
    if not head.strip():
        raise InvalidInput(f"空文件 / {path.name}: empty file")
    if head.startswith(b"SQLite format 3\x00"):
        app_id = head[68:72] if len(head) >= 72 else b""
        if app_id in (b"GPKG", b"GP10", b"GP11"):
            return "gpkg"
        raise _refused(path, "an SQLite database that is not a GeoPackage")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shapefile"
    starts = b"{<\r\n\t "
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        len(head) > 1
        and ((head[1] == 0 and head[0] in starts) or (head[0] == 0 and head[1] in starts))
    ):
        raise _refused(path, "UTF-16 text (save it as UTF-8)")
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    stripped = text.lstrip()
    if stripped.startswith(b"{"):
        return "geojson"
    if stripped.startswith(b"<"):
        if not full:
            with path.open("rb") as f:
                full = f.read(64 << 20)
        return _xml_kind(path, full or head)
    if head.startswith(b"AutoCAD Binary DXF") or re.match(
        rb"\s*0\s*\r?\n\s*SECTION\b", stripped[:64]
    ):
        return "dxf"
    raise _refused(path, "not a recognised vector format")


def _check_zip(path: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members worth extracting, after refusing anything that could escape, reference
    or expand: paths, symlinks, nested archives, other formats, a bomb."""
    members = [i for i in zf.infolist() if not i.is_dir()]
    if not members:
        raise InvalidData(f"cannot read {path.name}: the zip is empty")
    total = sum(i.file_size for i in members)
    packed = max(1, sum(i.compress_size for i in members))
    if total > MAX_UNZIPPED_BYTES or (total > _RATIO_FLOOR and total > MAX_ZIP_RATIO * packed):
        raise InvalidData(
            f"文件过大 / {path.name}: too large when unzipped "
            f"({total >> 20} MB from {packed >> 20} MB; at most "
            f"{MAX_UNZIPPED_BYTES >> 20} MB and {MAX_ZIP_RATIO}x)"
        )
    for i in members:
        name = i.filename
        shown = name[:80]
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name):
            raise _refused(path, f"zip member {shown!r} has a path outside the archive")
        if (i.external_attr >> 16) & 0o170000 == 0o120000:
            raise _refused(path, f"zip member {shown!r} is a symbolic link")
        if not name.lower().endswith(ZIP_MEMBERS + ZIP_SKIPPED):
            raise _refused(path, f"zip member {shown!r} is not part of a shapefile")
    return [i for i in members if i.filename.lower().endswith(ZIP_MEMBERS)]


def _extract_zip(path: Path, workdir: Path) -> Source:
    """Unpack a zipped shapefile into ``workdir``, bounded by the sizes checked above (a
    member that inflates past its declared size is a lie and refused)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = _check_zip(path, zf)
            shps = [i.filename for i in members if i.filename.lower().endswith(".shp")]
            if len(shps) != 1:
                raise InvalidData(
                    f"cannot read {path.name}: "
                    f"{'no shapefile' if not shps else f'{len(shps)} shapefiles'}"
                    " inside (zip exactly one)"
                )
            budget = MAX_UNZIPPED_BYTES
            for n, info in enumerate(members):
                # Flat, numbered names: nothing of the member's path reaches the file system.
                suffix = Path(info.filename).suffix.lower()
                stem = Path(info.filename).name[: -len(suffix)].lower()
                target = workdir / f"{stem.encode().hex()[:60] or n}{suffix}"
                written = 0
                with zf.open(info) as src, target.open("wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        budget -= len(chunk)
                        if written > info.file_size or budget < 0:
                            raise InvalidData(
                                f"文件过大 / {path.name}: a member inflates past its declared size"
                            )
                        out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise _cannot_read(path, e, str(workdir)) from e
    shp = next(p for p in workdir.iterdir() if p.suffix == ".shp")
    return Source(
        path,
        str(shp),
        is_shapefile=True,
        kind="shapefile",
        has_cpg=shp.with_suffix(".cpg").exists(),
    )


def resolve_source(path: str | Path, workdir: Path | None = None) -> Source:
    """Resolve ``path`` to what GDAL may open, after deciding its format from its content.

    Parameters
    ----------
    path : str or Path
    workdir : Path, optional
        An empty private directory a zipped shapefile is unpacked into; without it a zip is
        refused (``open_source`` provides one).

    Returns
    -------
    Source

    Raises
    ------
    NotFound
        The file does not exist.
    InvalidInput
        A folder, a connection string or virtual file system path, an empty file.
    InvalidData
        A format not on the list, a zip that is unsafe or broken.
    """
    raw = str(path)
    if _REFERENCE_PREFIX.match(raw) and not Path(raw).exists():
        raise InvalidInput(
            f"{raw[:80]!r} is not a file: connection strings and GDAL virtual paths are not read"
        )
    p = Path(path).expanduser()
    if not p.exists():
        raise NotFound(f"no such file: {p.name}")
    if p.is_dir():
        raise InvalidInput(
            f"{p.name} is a folder: name the .shp, .gpkg, .geojson, .kml, .dxf or .zip file"
        )
    if not p.is_file():
        raise InvalidInput(f"{p.name} is not a regular file")
    kind = sniff(p)
    if kind == "zip":
        if workdir is None:
            raise InvalidInput(f"{p.name}: a zip is read through open_source()")
        return _extract_zip(p, workdir)
    resolved = str(p.resolve())
    if kind == "shapefile":
        if p.suffix.lower() != ".shp":
            raise InvalidInput(f"{p.name}: a shapefile is read by its .shp name")
        return Source(
            p,
            resolved,
            is_shapefile=True,
            kind=kind,
            has_cpg=p.with_suffix(".cpg").exists() or p.with_suffix(".CPG").exists(),
        )
    return Source(p, resolved, kind=kind)


@contextmanager
def open_source(path: str | Path) -> Iterator[Source]:
    """``resolve_source`` with a private directory for a zip's contents, removed after."""
    with tempfile.TemporaryDirectory(prefix="parkgis-read-") as tmp:
        yield resolve_source(path, Path(tmp))


def list_layers(source: Source) -> list[tuple[str, str | None]]:
    """Layers of a source as ``(name, geometry type or None)``.

    Raises
    ------
    InvalidData
        GDAL cannot open the file (truncated, corrupt, not a vector format).
    """
    try:
        return [
            (str(n), None if t is None else str(t))
            for n, t in pyogrio.list_layers(source.gdal_path)
        ]
    except _READ_ERRORS as e:
        raise _cannot_read(source.path, e, source.gdal_path) from e


def _textual(series: pd.Series) -> bool:
    # pandas 3 reads strings as the ``str`` dtype, older pandas as ``object``.
    return bool(pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series))


def _looks_misdecoded(frame: pd.DataFrame) -> bool:
    for col in frame.columns:
        if col == "geometry" or not _textual(frame[col]):
            continue
        for v in frame[col].dropna().head(500):
            if isinstance(v, str) and _LATIN1_HIGH.search(v):
                return True
    return False


def _redecode_guess(frame: pd.DataFrame) -> str | None:
    """Which encoding the Latin-1 mis-decoded strings really were in, or None."""
    samples = []
    for col in frame.columns:
        if col == "geometry" or not _textual(frame[col]):
            continue
        samples += [
            v
            for v in frame[col].dropna().head(500)
            if isinstance(v, str) and _LATIN1_HIGH.search(v)
        ]
    try:
        raw = [s.encode("latin-1") for s in samples]
    except UnicodeEncodeError:
        return None  # already real Unicode beyond Latin-1: not mojibake
    for enc in FALLBACK_ENCODINGS:
        try:
            for b in raw:
                b.decode(enc)
        except UnicodeDecodeError:
            continue
        return enc
    return None


def _read(source: Source, layer: str | None, encoding: str | None) -> pd.DataFrame:
    kw: dict[str, object] = {"engine": "pyogrio"}
    if layer is not None:
        kw["layer"] = layer
    if encoding:
        kw["encoding"] = encoding
    try:
        with warnings.catch_warnings():
            # GDAL's and shapely's remarks (unclosed ring, NaN) become precise errors below;
            # as warnings they would break the CLI's one-line contract.
            warnings.simplefilter("ignore", RuntimeWarning)
            return gpd.read_file(source.gdal_path, **kw)
    except LookupError as e:
        raise InvalidInput(f"unknown encoding {str(encoding)[:40]!r}") from e
    except GEOSException as e:
        why = (
            "a polygon ring is not closed (its first and last points differ)"
            if "closed" in str(e)
            else scrub(str(e))
        )
        raise InvalidData(f"cannot read {source.path.name}: invalid geometry: {why}") from e
    except _READ_ERRORS as e:
        raise _cannot_read(source.path, e, source.gdal_path) from e


def read_vector(
    path: str | Path, layer: str | None = None, encoding: str | None = None
) -> ReadResult:
    """Read one layer of a vector file.

    Parameters
    ----------
    path : str or Path
        GeoPackage, GeoJSON, ``.shp``, zipped shapefile, KML/KMZ, DXF, or anything GDAL reads.
    layer : str, optional
        Layer to read; required when the file has several layers. If the file has a single
        layer, a ``layer`` that is not one of its names is ignored here (the loader uses it as
        the target table name, e.g. ``parkgis load plots.shp --layer parcels``).
    encoding : str, optional
        Attribute encoding (``GBK``); by default the driver's and, for shapefiles without a
        ``.cpg``, a detected one.

    Returns
    -------
    ReadResult

    Raises
    ------
    NotFound
        No such file, or no such layer in a multi-layer file.
    InvalidData
        The file cannot be read.
    """
    with open_source(path) as source:
        return _read_source(source, layer, encoding)


def _read_source(source: Source, layer: str | None, encoding: str | None) -> ReadResult:
    layers = list_layers(source)
    if not layers:
        raise InvalidData(f"文件中没有图层 / cannot read {source.path.name}: no layers")
    names = [n for n, _ in layers]
    if layer is not None and layer not in names:
        lower = {n.lower(): n for n in names}
        if layer.lower() in lower:
            layer = lower[layer.lower()]
        elif len(names) == 1:
            layer = None
        else:
            raise NotFound(
                f"{source.path.name} has no layer {layer[:80]!r} "
                f"(layers: {', '.join(n[:80] for n in names[:20])})"
            )
    if layer is None:
        if len(names) > 1:
            raise InvalidInput(
                f"{source.path.name} has {len(names)} layers "
                f"({', '.join(names)}): choose one with --layer"
            )
        layer = names[0]

    try:
        info = pyogrio.read_info(source.gdal_path, layer=layer)
    except _READ_ERRORS as e:
        raise _cannot_read(source.path, e, source.gdal_path) from e
    driver = str(info.get("driver") or "")
    if source.kind and driver != KIND_DRIVERS[source.kind]:
        # Content said one format, GDAL another: do not read what we did not mean to allow.
        raise _refused(source.path, f"opened as {driver[:40]}, not {KIND_DRIVERS[source.kind]}")
    notes: list[str] = []

    frame = _read(source, layer, encoding)
    if source.kind == "kml":
        extra = _kml_attributes(source.path, layer, len(names) == 1, len(frame))
        if extra is not None and len(extra.columns):
            extra.index = frame.index
            keep = [c for c in frame.columns if c not in extra.columns]
            frame = gpd.GeoDataFrame(
                pd.concat([frame[keep], extra], axis=1), geometry=frame.geometry.name, crs=frame.crs
            )
        elif extra is None:
            notes.append(
                "KML: ExtendedData could not be matched to the placemarks; "
                "only name and description read"
            )
    used = encoding
    if encoding is None and source.is_shapefile and not source.has_cpg and _looks_misdecoded(frame):
        guess = _redecode_guess(frame)
        if guess is not None:
            # GB18030 is a superset of GBK, so reading with it never loses a character;
            # users know the encoding as GBK, so that is what the report calls it.
            frame = _read(source, layer, guess)
            used = "GBK" if guess == "GB18030" else guess
            notes.append(f"attributes read as {used} (the .dbf has no .cpg)")
    return ReadResult(frame=frame, layer=layer, driver=driver, encoding=used, notes=notes)


__all__ = [
    "Source",
    "ReadResult",
    "resolve_source",
    "open_source",
    "list_layers",
    "read_vector",
    "sniff",
    "scrub",
]
