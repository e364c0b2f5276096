"""``parkgis publish DIR``: the public map as a PMTiles archive plus a static investor map.

The page in ``DIR`` needs no app server and no database: any static host or object store that
answers HTTP range requests serves it (a CDN in front). What it shows is exactly what the public
tile routes show, because the tiles are rendered by the same tile SQL
(:func:`parkgis.publish.tiles.build_tile_sql`) from the same public-field registry
(:mod:`parkgis.db.collections`); vacant parcels carry every public field of the registry so the
parcel sheet can open without an API, and nothing else.

Publishing is safe under a CDN: the archive name carries a hash of its bytes
(``public-<sha256[:16]>.pmtiles``), is written to a temporary name and renamed into place, and
only then is ``manifest.json`` — the one file the page reads first, never cached — replaced
atomically (temporary file + ``os.replace``). A reader therefore sees either the old manifest
and the old, complete archive, or the new ones. Archives named by the last ``keep`` manifests
stay; older ones are removed once they are ``grace_s`` old, so a page opened before a
republish can finish reading the archive it started on.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from psycopg import sql

from parkgis.db.collections import COLLECTIONS, VACANT_STATUSES, Collection
from parkgis.errors import ParkGISError
from parkgis.land.lifecycle import park_today
from parkgis.ledger import stock
from parkgis.publish import tiles
from parkgis.vocabulary import is_sample

MIN_ZOOM = 8
MAX_ZOOM = 16
MANIFEST = "manifest.json"
ARCHIVE_RE = re.compile(r"public-[0-9a-f]{16}\.pmtiles")
# A published archive holds every public parcel of its tiles: the cap only guards a degenerate
# low-zoom tile of a province-sized set (then the page shows a sample of that tile's parcels).
MAX_FEATURES = 50_000
DEFAULT_KEEP = 3
DEFAULT_GRACE_S = 24 * 3600.0

# Web assets copied next to index.html (source under web/static -> target under DIR/assets).
STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "static"
TEMPLATE = Path(__file__).resolve().parent.parent.parent / "web" / "templates" / "static_map.html"
ASSETS: tuple[tuple[str, str], ...] = (
    ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.js"),
    ("vendor/leaflet/leaflet.css", "vendor/leaflet/leaflet.css"),
    (
        "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
        "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    ),
    ("vendor/pmtiles/pmtiles.js", "vendor/pmtiles/pmtiles.js"),
    ("js/static_map.js", "js/static_map.js"),
    ("css/static_map.css", "css/static_map.css"),
)


class PublishError(ParkGISError):
    """The output directory cannot be used (not a directory, not writable, assets missing)."""


@dataclass(frozen=True)
class PublishReport:
    directory: Path
    archive: str
    new_archive: bool
    tiles: int
    bytes: int
    sample: bool
    removed: tuple[str, ...]

    def summary(self) -> str:
        state = "新版本 / new version" if self.new_archive else "数据未变 / unchanged"
        return (
            f"已发布 / published {self.directory}/index.html · {self.archive} "
            f"({self.tiles} tiles, {self.bytes:,} B, {state})"
            + (f"; removed {', '.join(self.removed)}" if self.removed else "")
        )


# Vacant parcels (design §2: available, reserved, listed) with every public field the sheet
# shows; the registry still decides what is public (build_tile_sql refuses anything else).
_PARCEL_PROPS = (
    "code",
    "status",
    "zone_code",
    "landuse_code",
    "landuse_alias",
    "area_m2",
    "area_mu",
    "area_ha",
    "svc_road",
    "svc_water",
    "svc_drainage",
    "svc_power",
    "svc_gas",
    "svc_heat",
    "svc_telecom",
    "svc_levelled",
    "land_price_wan_per_mu",
    "reserved_until",
    "elev_mean_m",
    "slope_mean_deg",
    "flood_share",
)


def public_layers(conn: psycopg.Connection) -> list[Collection]:
    """The layers of the static map, in drawing order (places when the table exists)."""
    parcels = dataclasses.replace(
        COLLECTIONS["parcels"],
        where="t.status IN (" + ", ".join(f"'{s}'" for s in VACANT_STATUSES) + ")",
        tile_props=_PARCEL_PROPS,
    )
    out = [
        COLLECTIONS["zones"],
        COLLECTIONS["infrastructure"],
        COLLECTIONS["upgrades"],
        parcels,
        COLLECTIONS["enterprises"],
    ]
    places = COLLECTIONS.get("places")
    if (
        places is not None
        and conn.execute("SELECT to_regclass(%s)", (places.table,)).fetchone()[0] is not None
    ):
        out.append(places)
    return out


def _extent(conn: psycopg.Connection, layers: list[Collection]) -> tuple[float, ...] | None:
    parts = [
        sql.SQL(
            tiles.EXTENT_SQL_TEMPLATE.format(
                table=sql.Identifier(c.table).as_string(None), where=c.where
            )
        )
        for c in layers
    ]
    xs: list[tuple[float, ...]] = []
    for q in parts:
        row = conn.execute(q).fetchone()
        if row[0] is not None:
            xs.append(tuple(float(v) for v in row))
    if not xs:
        return None
    return (
        min(r[0] for r in xs),
        min(r[1] for r in xs),
        max(r[2] for r in xs),
        max(r[3] for r in xs),
    )


def render_archive(
    conn: psycopg.Connection,
    path: Path,
    layers: list[Collection],
    min_zoom: int = MIN_ZOOM,
    max_zoom: int = MAX_ZOOM,
    metadata: dict[str, Any] | None = None,
    on_zoom: Callable[[int, int, int], None] | None = None,
) -> int:
    """Write a PMTiles v3 archive of ``layers`` (one MVT layer each) for z ``min_zoom``–
    ``max_zoom`` over the layers' extent; returns the number of tiles written.

    Only tiles holding a feature are written; a tile is visited only when its parent held
    one (a child's buffered envelope lies inside its parent's, so an empty parent has empty
    children). Tiles are gzip-compressed (the reader in the browser inflates them).
    """
    ext = _extent(conn, layers)
    if ext is None:
        raise PublishError("没有可发布的公开数据 / nothing public to publish: the layers are empty")
    stmts = {(c.id, simp): tiles.build_tile_sql(c, simp) for c in layers for simp in (False, True)}
    header: dict[str, Any] = {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": int(ext[0] * 1e7),
        "min_lat_e7": int(ext[1] * 1e7),
        "max_lon_e7": int(ext[2] * 1e7),
        "max_lat_e7": int(ext[3] * 1e7),
        "center_zoom": min(max(min_zoom, 14), max_zoom),
        "center_lon_e7": int((ext[0] + ext[2]) / 2 * 1e7),
        "center_lat_e7": int((ext[1] + ext[3]) / 2 * 1e7),
    }
    written = 0
    frontier: set[tuple[int, int]] | None = None
    # the published map shows the park as of the day it is published (servicing, overdue)
    day = park_today()
    with open(path, "wb") as f:
        w = Writer(f)
        for z in range(min_zoom, max_zoom + 1):
            x0, y0 = tiles.lonlat_to_tile(ext[0], ext[3], z)
            x1, y1 = tiles.lonlat_to_tile(ext[2], ext[1], z)
            cand = [
                (x, y)
                for x in range(x0, x1 + 1)
                for y in range(y0, y1 + 1)
                if frontier is None or (x // 2, y // 2) in frontier
            ]
            found: dict[int, bytes] = {}
            kept: set[tuple[int, int]] = set()
            for x, y in cand:
                simplify, params = tiles.tile_params(z, x, y, MAX_FEATURES, day)
                data = b"".join(
                    bytes(conn.execute(stmts[(c.id, simplify)], params, prepare=True).fetchone()[0])
                    for c in layers
                )
                if data:
                    kept.add((x, y))
                    found[zxy_to_tileid(z, x, y)] = gzip.compress(data, 6, mtime=0)
            # Tile ids run zoom by zoom, so writing each zoom sorted keeps the archive
            # clustered while holding only one zoom's tiles in memory.
            for tid in sorted(found):
                w.write_tile(tid, found[tid])
            written += len(found)
            frontier = kept
            if on_zoom is not None:
                on_zoom(z, len(cand), len(found))
        if not written:
            raise PublishError(
                "没有可发布的公开数据 / nothing public to publish: the layers are empty"
            )
        w.finalize(header, metadata or {})
        f.flush()
        os.fsync(f.fileno())
    return written


def _metadata(layers: list[Collection], sample: bool) -> dict[str, Any]:
    from parkgis.publish import i18n
    from parkgis.publish.maps import layers as styles

    return {
        "name": "ParkGIS 公开地图 / public map",
        "attribution": "ParkGIS 卫辉市产业集聚区",
        "vector_layers": [
            {
                "id": c.id,
                "description": c.title,
                "minzoom": MIN_ZOOM,
                "maxzoom": MAX_ZOOM,
                "fields": {n: (c.prop(n).type if c.prop(n) else "string") for n in c.tile_props},
            }
            for c in layers
        ],
        "parkgis": {
            "sample": sample,
            "layers": [{"id": c.id, "zh": c.title_zh, "en": c.title_en} for c in layers],
            "fields": {
                c.id: {
                    n: [c.prop(n).title_zh, c.prop(n).title_en]  # type: ignore
                    for n in c.tile_props
                }
                for c in layers
            },
            "labels": i18n.as_json(),
            "statusStyle": {
                s: {"fillColor": styles.STATUS_COLOURS[s], "fillOpacity": styles.STATUS_OPACITY[s]}
                for s in VACANT_STATUSES
            },
            "infraStyle": {k: v.leaflet() for k, v in styles.INFRA_STYLES.items()},
            "zoneStyle": {s: styles.zone_style(s) for s in ("approved", "proposed")},
        },
    }


def _is_sample(conn: psycopg.Connection) -> bool:
    return is_sample({r[0] for r in conn.execute("SELECT code FROM zones").fetchall()})


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        m = json.loads((directory / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and ARCHIVE_RE.fullmatch(str(m.get("archive", ""))) else None


def _write_site(directory: Path) -> None:
    if not TEMPLATE.exists():
        raise PublishError("缺少静态地图模板 / the static map template is missing")
    for src, dst in ASSETS:
        s = STATIC_DIR / src
        if not s.exists():
            raise PublishError(f"缺少前端资源 / web asset missing: {src} (run `make setup`)")
        _atomic_write(_asset_path(directory, dst), s.read_bytes())
    imgs = STATIC_DIR / "vendor" / "leaflet" / "images"
    if imgs.is_dir():
        for p in imgs.iterdir():
            _atomic_write(_asset_path(directory, f"vendor/leaflet/images/{p.name}"), p.read_bytes())
    _atomic_write(directory / "index.html", TEMPLATE.read_bytes())


def _asset_path(directory: Path, rel: str) -> Path:
    p = directory / "assets" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def publish(
    conn: psycopg.Connection,
    directory: Path,
    *,
    sample: bool | None = None,
    keep: int = DEFAULT_KEEP,
    grace_s: float = DEFAULT_GRACE_S,
    on_zoom: Callable[[int, int, int], None] | None = None,
) -> PublishReport:
    """Write (or refresh) the static public map in ``directory``.

    Long because the switch (write, rename, manifest, cleanup) must read as one sequence.

    Parameters
    ----------
    conn : psycopg.Connection
        Read only; one snapshot (REPEATABLE READ) so every tile shows the same moment.
    directory : Path
        Created if missing.
    sample : bool or None
        Show the "示例数据 / sample data" notice; ``None`` detects the bundled sample.
    keep : int
        Archives named by this many latest manifests are never removed.
    grace_s : float
        Other ``public-*.pmtiles`` are removed only once older than this.
    on_zoom : callable (z, tiles visited, tiles written), optional
        Progress.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"无法创建目录 / cannot create the directory: {exc.strerror}") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise PublishError("输出目录不可写 / the output directory is not writable")
    # One snapshot for every tile: an edit committed mid-publish is in no tile or in all.
    if conn.autocommit:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    elif conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
    try:
        layers = public_layers(conn)
        is_sample = _is_sample(conn) if sample is None else sample
        meta = _metadata(layers, is_sample)
        view = _extent(conn, [COLLECTIONS["zones"]]) or _extent(conn, layers)
        meta["parkgis"]["view"] = list(view) if view else None
        meta["parkgis"]["zones"] = {
            r[0]: [r[1], r[2]]
            for r in conn.execute(
                "SELECT code, name_zh, coalesce(name_en, name_zh) FROM zones ORDER BY code"
            )
        }
        # The headline totals of the investor map (/api/ledger/public), from the same snapshot
        # as the tiles, so the panel and the parcels drawn never disagree.
        meta["parkgis"]["available"] = stock.public_summary(conn)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".public-", suffix=".pmtiles.tmp")
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            n = render_archive(conn, tmp_path, layers, metadata=meta, on_zoom=on_zoom)
            digest = hashlib.sha256()
            with open(tmp_path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            name = f"public-{digest.hexdigest()[:16]}.pmtiles"
            final = directory / name
            new = not final.exists()
            if new:
                os.chmod(tmp_path, 0o644)
                os.replace(tmp_path, final)  # complete before any manifest names it
            size = final.stat().st_size
        finally:
            tmp_path.unlink(missing_ok=True)
    finally:
        if conn.autocommit:
            conn.execute("ROLLBACK")
        else:
            conn.rollback()
    _write_site(directory)
    old = read_manifest(directory)
    history = [name] + [
        a
        for a in ([old["archive"]] + list(old.get("previous", [])) if old else [])
        if a != name and ARCHIVE_RE.fullmatch(str(a))
    ]
    manifest = {
        "format": "parkgis-static-map/1",
        "archive": name,
        "sha256_16": name[len("public-") : -len(".pmtiles")],
        "bytes": size,
        "tiles": n,
        "minzoom": MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "sample": is_sample,
        "published": datetime.now(UTC).isoformat(timespec="seconds"),
        "previous": history[1:keep],
    }
    _atomic_write(
        directory / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
    )
    removed = _cleanup(directory, set(history[:keep]), grace_s)
    return PublishReport(directory, name, new, n, size, is_sample, tuple(removed))


def _cleanup(directory: Path, keep: set[str], grace_s: float) -> list[str]:
    now = time.time()
    removed = []
    for p in sorted(directory.glob("public-*.pmtiles")):
        if p.name in keep or not ARCHIVE_RE.fullmatch(p.name):
            continue
        if now - p.stat().st_mtime >= grace_s:
            p.unlink(missing_ok=True)
            removed.append(p.name)
    for p in directory.glob(".public-*.pmtiles.tmp"):  # left by a crashed run
        if now - p.stat().st_mtime >= max(grace_s, 3600):
            p.unlink(missing_ok=True)
    return removed


__all__ = [
    "PublishError",
    "PublishReport",
    "public_layers",
    "publish",
    "read_manifest",
    "render_archive",
]
