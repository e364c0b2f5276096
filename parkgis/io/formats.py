"""Reading any vector file the loader accepts, through pyogrio (GDAL).

GeoPackage, GeoJSON, Shapefile (plain ``.shp`` or a ``.zip`` read in place through GDAL's
``/vsizip/``), KML/KMZ and DXF are the formats the product promises; anything else GDAL opens
works too but is not tested. Every failure becomes a ``ParkGISError`` phrased for one line:
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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from parkgis.errors import InvalidData, InvalidInput, NotFound

#: Encodings tried, in order, when a shapefile's strings look mis-decoded. UTF-8 first: random
#: GBK bytes almost never form valid UTF-8, so a UTF-8 success is trustworthy.
FALLBACK_ENCODINGS = ("UTF-8", "GB18030")

# Characters GDAL produces when it decodes GBK/UTF-8 bytes as ISO-8859-1.
_LATIN1_HIGH = re.compile("[\u0080-\u00ff]")

_READ_ERRORS = (DataSourceError, DataLayerError, FieldError, GeometryError, RuntimeError,
                ValueError, OSError)


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


def _cannot_read(path: Path, exc: BaseException) -> InvalidData:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return InvalidData(f"cannot read {path.name}: {msg}")


def resolve_source(path: str | Path) -> Source:
    """Resolve ``path`` to a GDAL path, opening zips through ``/vsizip/``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Source

    Raises
    ------
    NotFound
        The file does not exist.
    InvalidData
        A zip that cannot be opened, or that holds no vector data.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise NotFound(f"no such file: {p}")
    if p.is_dir():
        # A folder of shapefiles (or a FileGDB): GDAL opens folders itself.
        return Source(p, str(p))
    suffix = p.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise _cannot_read(p, e) from e
        if bad is not None:
            raise InvalidData(f"cannot read {p.name}: damaged member {bad}")
        shps = [n for n in names if n.lower().endswith(".shp")]
        others = [n for n in names if n.lower().endswith((".gpkg", ".geojson", ".json", ".kml"))]
        if len(shps) > 1:
            raise InvalidInput(f"{p.name} holds {len(shps)} shapefiles ({', '.join(shps[:5])}); "
                               "zip one per file")
        if shps:
            inner = shps[0]
            stem = inner[:-4]
            has_cpg = any(n.lower() == (stem + ".cpg").lower() for n in names)
            return Source(p, f"/vsizip/{p.resolve()}/{inner}", is_shapefile=True,
                          has_cpg=has_cpg)
        if len(others) == 1:
            return Source(p, f"/vsizip/{p.resolve()}/{others[0]}")
        raise InvalidData(f"cannot read {p.name}: no shapefile or other vector file inside")
    if suffix == ".shp":
        return Source(p, str(p), is_shapefile=True, has_cpg=p.with_suffix(".cpg").exists()
                      or p.with_suffix(".CPG").exists())
    if suffix == ".dbf":
        raise InvalidInput(f"{p.name}: open the .shp, not the .dbf")
    return Source(p, str(p))


def list_layers(source: Source) -> list[tuple[str, str | None]]:
    """Layers of a source as ``(name, geometry type or None)``.

    Raises
    ------
    InvalidData
        GDAL cannot open the file (truncated, corrupt, not a vector format).
    """
    try:
        return [(str(n), None if t is None else str(t))
                for n, t in pyogrio.list_layers(source.gdal_path)]
    except _READ_ERRORS as e:
        raise _cannot_read(source.path, e) from e


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
        samples += [v for v in frame[col].dropna().head(500)
                    if isinstance(v, str) and _LATIN1_HIGH.search(v)]
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
        return gpd.read_file(source.gdal_path, **kw)
    except LookupError as e:
        raise InvalidInput(f"unknown encoding {encoding!r}") from e
    except _READ_ERRORS as e:
        raise _cannot_read(source.path, e) from e


def read_vector(path: str | Path, layer: str | None = None,
                encoding: str | None = None) -> ReadResult:
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
    source = resolve_source(path)
    layers = list_layers(source)
    if not layers:
        raise InvalidData(f"cannot read {source.path.name}: no layers")
    names = [n for n, _ in layers]
    if layer is not None and layer not in names:
        lower = {n.lower(): n for n in names}
        if layer.lower() in lower:
            layer = lower[layer.lower()]
        elif len(names) == 1:
            layer = None
        else:
            raise NotFound(f"{source.path.name} has no layer {layer!r} "
                           f"(layers: {', '.join(names)})")
    if layer is None:
        if len(names) > 1:
            raise InvalidInput(f"{source.path.name} has {len(names)} layers "
                               f"({', '.join(names)}): choose one with --layer")
        layer = names[0]

    try:
        info = pyogrio.read_info(source.gdal_path, layer=layer)
    except _READ_ERRORS as e:
        raise _cannot_read(source.path, e) from e
    driver = str(info.get("driver") or "")
    notes: list[str] = []

    frame = _read(source, layer, encoding)
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


__all__ = ["Source", "ReadResult", "resolve_source", "list_layers", "read_vector"]
