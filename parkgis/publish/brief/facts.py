"""Everything a site brief states about one parcel, gathered from the store.

The public facts come from :func:`parkgis.publish.sheet.parcel_sheet` (the investor map's parcel
sheet), so a brief and the map never disagree; terrain from :mod:`parkgis.geo.terrain`; the fit of
a project from :mod:`parkgis.siting.fit`. This module adds only what a printed page needs besides:
geometries for the maps (in the zone's Gauss–Krüger metres), chain neighbours, the land-control
indicators in force, the contact block and the data version.

Nothing confidential is read: no ``note_internal``, no enterprise or project contact, no
negotiation notes, and the project's land budget is never quoted (``confidential=False``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import psycopg
import shapely
from psycopg.rows import dict_row
from shapely.geometry.base import BaseGeometry

from parkgis.errors import InvalidInput, NotFound
from parkgis.publish.sheet import parcel_sheet
from parkgis.settings import PROJECT_ROOT, EarthworkSettings
from parkgis.siting import fit

Lang = Literal["zh", "en", "both"]
LANGS: tuple[str, ...] = ("zh", "en", "both")

MU_M2 = Decimal(10000) / Decimal(15)
#: Half-width (m) of the main map around the parcel, at least.
MAP_HALF_MIN_M = 650.0
#: Radius (m) within which enterprises count as chain neighbours (the fit engine's radius).
CHAIN_RADIUS_M = fit.CHAIN_RADIUS_M
NEIGHBOURS = 6

ROOT = PROJECT_ROOT  # not this file's depth, which the restructure changed
COUNTIES_GEOJSON = ROOT / "data" / "shapes" / "sources" / "xinxiang_counties.geojson"

# --- SQL (module constants; every value a bind parameter) ----------------------------------

ZONE_SQL = """
SELECT code, name_zh, name_en, kind, status, gk_srid, leading_industries, area_m2,
       ST_AsBinary(geom_gk) AS wkb
  FROM zones WHERE code = %(zone)s
"""
ALL_ZONES_SQL = """
SELECT code, name_zh, name_en, kind, status, area_m2,
       ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM zones ORDER BY code
"""
PARCEL_GEOM_SQL = """
SELECT ST_AsBinary(geom_gk) AS wkb, project_code FROM parcels WHERE code = %(code)s
"""
# Live parcels whose box meets the map window (window in the parcel's GK metres).
WINDOW_PARCELS_SQL = """
SELECT code, status, zone_code, area_m2, ST_AsBinary(geom_gk) AS wkb
  FROM parcels
 WHERE status <> 'historic' AND gk_srid = %(srid)s
   AND ST_SetSRID(geom_gk, 0) && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 0)
"""
WINDOW_INFRA_SQL = """
SELECT code, kind, status, name_zh, name_en,
       ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM infrastructure
 WHERE ST_Transform(geom, %(srid)s) && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s)
"""
WINDOW_UPGRADES_SQL = """
SELECT code, kind, status, name_zh, name_en, finish_date,
       ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM upgrades
 WHERE ST_Transform(geom, %(srid)s) && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s)
"""
ENTERPRISES_SQL = """
SELECT e.code, e.name_zh, e.name_en, e.industry, e.chain_role, e.is_anchor, e.parcel_code,
       ST_AsBinary(ST_Transform(e.geom, %(srid)s)) AS wkb,
       ST_Distance(ST_SetSRID(e.geom_gk, 0), ST_SetSRID(p.geom_gk, 0)) AS distance_m
  FROM enterprises e, parcels p
 WHERE p.code = %(code)s AND e.gk_srid = p.gk_srid
 ORDER BY distance_m, e.code
"""
BOUNDARIES_SQL = """
SELECT code, name_zh, name_en, level, ST_AsBinary(geom) AS wkb
  FROM boundaries WHERE level = 'county' ORDER BY code
"""
DATA_VERSION_SQL = "SELECT max(version) AS version, max(changed) AS changed FROM data_versions"
# Only what the industry lookup reads (never budget, contact or notes).
PROJECT_ROW_SQL = """
SELECT code, chain_role, to_jsonb(p) ->> 'industry_code' AS industry_code
  FROM projects p WHERE p.code = %(code)s
"""

# Indicator keys in display order: (key, zh, en, unit kind).
INDICATOR_ORDER: tuple[tuple[str, str, str], ...] = (
    ("investment_intensity", "投资强度", "Investment intensity"),
    ("floor_area_ratio", "容积率", "Floor-area ratio"),
    ("building_coverage", "建筑系数", "Building coverage"),
    ("green_ratio", "绿地率", "Green ratio"),
    ("office_share", "办公生活用地占比", "Office share"),
    ("tax_per_mu", "亩均税收", "Tax per mu"),
)
# Design §3 reference values (国土资发〔2008〕24号), used only when no indicator set is in force.
REFERENCE_INDICATORS: tuple[tuple[str, str, str], ...] = (
    ("investment_intensity", "按地区等别×行业确定", "by region tier × industry"),
    ("floor_area_ratio", "≥ 0.6–1.0（按行业；食品 ≥ 1.0）", "≥ 0.6–1.0 by industry (food ≥ 1.0)"),
    ("building_coverage", "≥ 30%", "≥ 30 %"),
    ("green_ratio", "≤ 20%", "≤ 20 %"),
    ("office_share", "≤ 7%", "≤ 7 %"),
)

# Contact block: illustrative placeholder text (no real names or numbers), per zone kind.
CONTACT = {
    "zh": (
        "卫辉市产业集聚区管理委员会 招商服务局",
        "河南省新乡市卫辉市 产业集聚区管委会",
        "电话 0373-0000000（示例） · invest@example.cn",
    ),
    "en": (
        "Investment Promotion Bureau, Weihui Industrial Cluster Zone Administration",
        "Weihui, Xinxiang, Henan Province, China",
        "Tel +86 373 000 0000 (placeholder) · invest@example.cn",
    ),
}


@dataclass
class Layer:
    """Rows of one map layer: properties plus a shapely geometry (GK metres)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> Layer:
        out = []
        for r in rows:
            r = dict(r)
            wkb = r.pop("wkb")
            r["geom"] = shapely.from_wkb(bytes(wkb))
            out.append(r)
        return cls(out)


@dataclass
class FitSummary:
    """How a project fits this parcel, in the fit engine's own words."""

    project: dict[str, Any]
    candidate: bool
    score: float | None
    passed: bool
    criteria: list[dict[str, Any]]
    failures: list[dict[str, str]]
    footprint: BaseGeometry | None  # GK metres
    footprint_angle: float | None
    note_zh: str | None = None
    note_en: str | None = None


@dataclass
class BriefFacts:
    """The facts of one brief (see :func:`gather`)."""

    code: str
    sheet: dict[str, Any]
    zone: dict[str, Any]
    srid: int
    parcel_geom: BaseGeometry
    window: tuple[float, float, float, float]
    parcels: Layer
    infrastructure: Layer
    upgrades_map: Layer
    enterprises: Layer
    zones: Layer
    counties: list[dict[str, Any]]
    county: dict[str, Any] | None
    neighbours: list[dict[str, Any]]
    indicators: list[dict[str, str]]
    indicators_source: tuple[str, str]
    terrain: dict[str, Any] | None
    fit: FitSummary | None
    data_version: int
    data_changed: dt.datetime | None
    generated: dt.date
    contact: dict[str, tuple[str, ...]] = field(default_factory=lambda: CONTACT)

    @property
    def parcel(self) -> dict[str, Any]:
        return self.sheet["parcel"]

    @property
    def area_mu(self) -> Decimal:
        """Exact area in mu (from the stored m², never from a rounded figure)."""
        return Decimal(repr(float(self.parcel["area_m2"]))) / MU_M2

    @property
    def area_ha(self) -> Decimal:
        return Decimal(repr(float(self.parcel["area_m2"]))) / Decimal(10000)


def drive_text(v: dict[str, Any], lang: str) -> str:
    """The network figure beside a straight distance on the brief (issue #15): road km and
    minutes, marked as an estimate beyond the road network; empty without a route."""
    if v.get("drive_min") is None or v.get("drive_m") is None:
        return ""

    def say(zh: str, en: str) -> str:
        return zh if lang == "zh" else en if lang == "en" else f"{zh} {en}"

    est = f" ({say('估算', 'estimate')})" if v.get("estimate") else ""
    return (
        f" · {say('车程', 'by road')} {v['drive_m'] / 1000:.1f} km, "
        f"{v['drive_min']:.0f} {say('分钟', 'min')}{est}"
    )


def area_mu_text(area_m2: float) -> str:
    """The area in mu exactly as every brief prints it (2 decimals, half-up)."""
    from decimal import ROUND_HALF_UP

    mu = Decimal(repr(float(area_m2))) / MU_M2
    return f"{mu.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def area_ha_text(area_m2: float) -> str:
    from decimal import ROUND_HALF_UP

    ha = Decimal(repr(float(area_m2))) / Decimal(10000)
    return f"{ha.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        raise InvalidInput(
            f"lang={lang!r}：应为 zh、en 或 both / lang must be zh, en or both", param="lang"
        )
    return lang  # type: ignore[return-value]


def _window(geom: BaseGeometry, aspect: float) -> tuple[float, float, float, float]:
    """A map window around the parcel (width/height = ``aspect``, the map frame's)."""
    x0, y0, x1, y1 = geom.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(MAP_HALF_MIN_M, 1.6 * max(x1 - x0, y1 - y0))
    return cx - half, cy - half / aspect, cx + half, cy + half / aspect


def _counties() -> list[dict[str, Any]]:
    if not COUNTIES_GEOJSON.is_file():
        return []
    fc = json.loads(COUNTIES_GEOJSON.read_text(encoding="utf-8"))
    return [
        {**f["properties"], "geom": shapely.geometry.shape(f["geometry"])} for f in fc["features"]
    ]


_COUNTIES_CACHE: list[dict[str, Any]] | None = None


def counties() -> list[dict[str, Any]]:
    """Xinxiang's counties (CGCS2000 lon/lat), read once per process."""
    global _COUNTIES_CACHE
    if _COUNTIES_CACHE is None:
        _COUNTIES_CACHE = _counties()
    return _COUNTIES_CACHE


PERCENT_INDICATORS = ("building_coverage", "office_share", "green_ratio")


def _value_text(key: str, lo: Any, lo_hi: Any, hi: Any, hi_lo: Any, unit: str, lang: str) -> str:
    """'≥ a–b' / '≤ c' in the indicator's display unit (percent, plain ratio, money)."""

    def fmt(v: Any) -> str:
        if key in PERCENT_INDICATORS:
            return f"{Decimal(v) * 100:.0f}%"
        if unit == "ratio":
            return f"{Decimal(v):.1f}"
        return _num(v)

    parts = []
    if lo is not None:
        parts.append("≥ " + fmt(lo) + ("" if lo_hi in (None, lo) else f"–{fmt(lo_hi)}"))
    if hi is not None:
        parts.append("≤ " + fmt(hi) + ("" if hi_lo in (None, hi) else f"（{fmt(hi_lo)}–）"))
    text = ("，" if lang == "zh" else ", ").join(parts)
    if unit == "万元/公顷" and lo is not None:
        per_mu = [Decimal(lo) / 15] + ([Decimal(lo_hi) / 15] if lo_hi not in (None, lo) else [])
        mu = "–".join(_num(v) for v in per_mu)
        text += f" 万元/公顷（{mu} 万元/亩）" if lang == "zh" else f" × 10k CNY/ha ({mu} per mu)"
    return text


def _indicators(
    conn: psycopg.Connection, project_row: dict[str, Any] | None
) -> tuple[list[dict[str, str]], tuple[str, str]]:
    """The control indicators in force, from :mod:`parkgis.promotion.indicators` (the active set).

    With a project, the most specific row for its industry (``indicators.lookup``); without,
    the span over industries. No set in the store: the design §3 reference values, so labelled.
    """
    from parkgis.promotion import indicators as ind

    # Read only: a brief never seeds the table (``indicators.ensure_seeded`` is the review
    # feature's job); until a set exists the reference values are shown, labelled as such.
    try:
        active = ind.get_set(conn)
    except (NotFound, psycopg.errors.UndefinedTable):
        names = {k: (zh, en) for k, zh, en in INDICATOR_ORDER}
        return (
            [
                {"key": k, "zh": names[k][0], "en": names[k][1], "value_zh": vz, "value_en": ve}
                for k, vz, ve in REFERENCE_INDICATORS
            ],
            (
                "参考值：国土资发〔2008〕24号，以现行指标为准",
                "Reference values: MLR 2008 No. 24; current tables prevail",
            ),
        )
    rows = active["rows"]
    tier = active.get("park_region_tier")
    industry = None
    if project_row is not None:
        industry = ind.industry_for(conn, project_row).get("code")
    out: list[dict[str, str]] = []
    assumed = False
    for key, zh, en in INDICATOR_ORDER:
        if industry is not None:
            r = ind.lookup(rows, key, tier, industry)
            cand = [r] if r is not None else []
        else:
            cand = [
                r
                for r in rows
                if r["indicator"] == key and (r["region_tier"] is None or r["region_tier"] == tier)
            ]
        if not cand:
            continue
        assumed = assumed or any(r.get("is_assumption") for r in cand)
        lo = sorted(r["min_value"] for r in cand if r["min_value"] is not None)
        hi = sorted(r["max_value"] for r in cand if r["max_value"] is not None)
        unit = cand[0]["unit"]
        mark = "*" if any(r.get("is_assumption") for r in cand) else ""
        args = (
            lo[0] if lo else None,
            lo[-1] if lo else None,
            hi[-1] if hi else None,
            hi[0] if hi else None,
            unit,
        )
        out.append(
            {
                "key": key,
                "zh": zh,
                "en": en,
                "value_zh": _value_text(key, *args, "zh") + mark,
                "value_en": _value_text(key, *args, "en") + mark,
            }
        )
    scope_zh = "按项目行业" if industry else "各行业区间"
    scope_en = "for the project's industry" if industry else "range over industries"
    note_zh = "；* 含示例假设值，须核实" if assumed else ""
    note_en = "; * includes sample assumptions, to be checked" if assumed else ""
    return out, (
        f"{active['source']}（{active['version']} 版，{tier or '—'}地区，{scope_zh}）{note_zh}",
        f"{active['name_en']}, {active['source']} ({active['version']}, tier "
        f"{tier or '—'}, {scope_en}){note_en}",
    )


def _num(v: Any) -> str:
    f = float(v)
    return f"{f:,.0f}" if abs(f) >= 100 else f"{f:.2f}".rstrip("0").rstrip(".")


def _fit(
    conn: psycopg.Connection, code: str, project: str, srid: int, as_of: dt.date | None = None
) -> FitSummary:
    """Score this one parcel for a project with the fit engine's own checks and criteria.

    :func:`parkgis.siting.fit.match` ranks every site; a brief needs the verdict on *this* parcel
    even
    when it is not in the top list, so the engine's per-site steps are applied directly.
    """
    req = fit.load_requirement(conn, project)
    public = req.public()
    verdict = fit.evaluate_site(conn, req, code, as_of)
    if verdict is None:
        return FitSummary(
            public,
            False,
            None,
            False,
            [],
            [],
            None,
            None,
            "该地块当前不可供地，未参与选址匹配",
            "the parcel is not open to supply, so it was not matched",
        )
    placement = verdict.placement
    return FitSummary(
        public,
        True,
        verdict.score,
        not verdict.failures,
        verdict.criteria,
        [
            {
                "name": f.name,
                "zh": f.reason_zh,
                "en": f.reason_en,
                "name_zh": fit.HARD_ZH.get(f.name, f.name),
            }
            for f in verdict.failures
        ],
        placement.geometry if placement is not None else None,
        placement.angle_deg if placement is not None else None,
    )


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    return v


def _county(cur: psycopg.Cursor) -> dict[str, Any] | None:
    """The county boundary (first row of ``boundaries``) with its geometry parsed."""
    row = cur.execute(BOUNDARIES_SQL).fetchone()
    if row is None:
        return None
    county = dict(row)
    county["geom"] = shapely.from_wkb(bytes(county.pop("wkb")))
    return county


def _terrain(
    conn: psycopg.Connection, p: dict[str, Any], earthwork: EarthworkSettings
) -> dict[str, Any] | None:
    """The sheet's terrain figures of parcel ``p`` plus its levelling ("一平": the stored
    flat-platform cut and fill, priced at ``earthwork``'s rate); None without terrain data."""
    keys = ("elev_mean_m", "slope_mean_deg", "flood_share")
    if all(p.get(k) is None for k in keys):
        return None
    terrain = {k: p.get(k) for k in keys}
    from parkgis.geo.terrain import terrain_for

    stats = terrain_for(conn, [p["code"]]).get(p["code"])
    if stats is not None and stats.earthwork_cut_m3 is not None:
        terrain.update(
            earthwork_cut_m3=stats.earthwork_cut_m3,
            earthwork_fill_m3=stats.earthwork_fill_m3,
            earthwork_cost_yuan=stats.earthwork_cost_yuan(earthwork.yuan_per_m3),
        )
    return terrain


def gather(
    conn: psycopg.Connection,
    code: str,
    project: str | None = None,
    today: dt.date | None = None,
    as_of: dt.date | None = None,
    *,
    earthwork: EarthworkSettings = EarthworkSettings(),
) -> BriefFacts:
    """Collect the facts of a brief for parcel ``code``.

    Parameters
    ----------
    conn : psycopg.Connection
    code : str
        A live parcel's code.
    project : str, optional
        A project code: adds its fit (score, reasons, footprint).
    today : date, optional
        The date printed on the brief.
    as_of : date, optional
        Servicing, distances and the fit from what is in service on this date (default
        ``today``, else the current date): the sheet's and the fit engine's own figures.
    earthwork : EarthworkSettings
        The app's ``settings.earthwork``: prices the levelling (default: the shipped rate).

    Returns
    -------
    BriefFacts

    Raises
    ------
    InvalidInput
        ``code`` is not a parcel code.
    NotFound
        no live parcel ``code``, or no project ``project``.

    Long because each section of the brief is gathered in the order it is printed.
    """
    as_of = as_of or today
    sheet = parcel_sheet(conn, code, as_of)
    p = sheet["parcel"]
    cur = conn.cursor(row_factory=dict_row)
    zone = dict(cur.execute(ZONE_SQL, {"zone": p["zone_code"]}).fetchone())
    srid = int(p["gk_srid"])
    zone["geom"] = shapely.from_wkb(bytes(zone.pop("wkb")))
    prow = cur.execute(PARCEL_GEOM_SQL, {"code": code}).fetchone()
    geom = shapely.from_wkb(bytes(prow["wkb"]))
    from parkgis.publish.brief.layout import main_aspect

    x0, y0, x1, y1 = _window(geom, main_aspect(project is not None))
    # Features a little outside the frame still draw their lines across its edge.
    pad = 0.25 * (x1 - x0)
    win = {"srid": srid, "x0": x0 - pad, "y0": y0 - pad, "x1": x1 + pad, "y1": y1 + pad}
    parcels = Layer.from_rows(cur.execute(WINDOW_PARCELS_SQL, win).fetchall())
    infra = Layer.from_rows(cur.execute(WINDOW_INFRA_SQL, win).fetchall())
    upgrades = Layer.from_rows(cur.execute(WINDOW_UPGRADES_SQL, win).fetchall())
    ents = Layer.from_rows(cur.execute(ENTERPRISES_SQL, {"srid": srid, "code": code}).fetchall())
    zones = Layer.from_rows(cur.execute(ALL_ZONES_SQL, {"srid": srid}).fetchall())
    county = _county(cur)

    neighbours = [
        {k: _plain(v) for k, v in e.items() if k != "geom"}
        for e in ents.rows
        if e["distance_m"] <= CHAIN_RADIUS_M and e.get("parcel_code") != code
    ][:NEIGHBOURS]

    summary = None
    project_row = None
    if project:
        summary = _fit(conn, code, project, srid, as_of)
        project_row = cur.execute(PROJECT_ROW_SQL, {"code": project}).fetchone()
    indicators, source = _indicators(conn, project_row)

    terrain = _terrain(conn, p, earthwork)
    dv = cur.execute(DATA_VERSION_SQL).fetchone()
    return BriefFacts(
        code=code,
        sheet=sheet,
        zone=zone,
        srid=srid,
        parcel_geom=geom,
        window=(x0, y0, x1, y1),
        parcels=parcels,
        infrastructure=infra,
        upgrades_map=upgrades,
        enterprises=ents,
        zones=zones,
        counties=counties(),
        county=county,
        neighbours=neighbours,
        indicators=indicators,
        indicators_source=source,
        terrain=terrain,
        fit=summary,
        data_version=int(dv["version"] or 0),
        data_changed=dv["changed"],
        generated=today or dt.date.today(),
    )


# --- the deck ------------------------------------------------------------------------------

DECK_PARCELS_SQL = """
SELECT code FROM parcels
 WHERE status <> 'historic'
   AND (%(zones)s::text[] IS NULL OR zone_code = ANY(%(zones)s))
   AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s))
 ORDER BY zone_code, code
"""
ZONE_CODES_SQL = "SELECT code FROM zones"


@dataclass
class DeckFacts:
    """The cover of a deck: zones drawn, their parcels and the chosen parcel codes."""

    zones: Layer
    parcels: Layer
    county: dict[str, Any] | None
    infrastructure: Layer
    codes: list[str]
    zone_codes: list[str]
    statuses: list[str]
    data_version: int
    data_changed: dt.datetime | None
    generated: dt.date
    srid: int


def deck_codes(
    conn: psycopg.Connection, zones: list[str] | None, statuses: list[str] | None
) -> list[str]:
    """Parcel codes of a deck, by zone then code.

    Raises
    ------
    InvalidInput
        an unknown status.
    NotFound
        an unknown zone code.
    """
    from parkgis.db.collections import PARCEL_STATUSES

    for s in statuses or []:
        if s not in PARCEL_STATUSES or s == "historic":
            raise InvalidInput(f"未知状态 / unknown status: {s}", param="status")
    known = {
        r[0] if not isinstance(r, dict) else r["code"]
        for r in conn.execute(ZONE_CODES_SQL).fetchall()
    }
    for z in zones or []:
        if z not in known:
            raise NotFound(f"没有编号为 {z} 的园区 / no zone {z}")
    rows = conn.execute(
        DECK_PARCELS_SQL, {"zones": zones or None, "statuses": statuses or None}
    ).fetchall()
    return [r["code"] if isinstance(r, dict) else r[0] for r in rows]


DECK_PARCELS_GEOM_SQL = """
SELECT code, status, zone_code, area_m2, ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM parcels WHERE status <> 'historic' AND zone_code = ANY(%(zones)s)
"""
DECK_INFRA_SQL = """
SELECT code, kind, status, name_zh, name_en, ST_AsBinary(ST_Transform(geom, %(srid)s)) AS wkb
  FROM infrastructure
 WHERE kind IN ('expressway', 'national_road', 'trunk_road', 'railway', 'rail_siding', 'river',
                'substation')
"""


def gather_deck(
    conn: psycopg.Connection,
    codes: list[str],
    zones: list[str] | None,
    statuses: list[str] | None,
    today: dt.date | None = None,
) -> DeckFacts:
    """The facts of a deck's cover."""
    cur = conn.cursor(row_factory=dict_row)
    srid_row = cur.execute("SELECT gk_srid FROM zones ORDER BY code LIMIT 1").fetchone()
    srid = int(srid_row["gk_srid"]) if srid_row else 4547
    zone_codes = zones or sorted(
        {
            r["zone_code"]
            for r in cur.execute(
                "SELECT zone_code FROM parcels WHERE code = ANY(%(c)s)", {"c": codes}
            ).fetchall()
        }
    )
    all_zones = Layer.from_rows(cur.execute(ALL_ZONES_SQL, {"srid": srid}).fetchall())
    parcels = Layer.from_rows(
        cur.execute(DECK_PARCELS_GEOM_SQL, {"srid": srid, "zones": zone_codes}).fetchall()
    )
    infra = Layer.from_rows(cur.execute(DECK_INFRA_SQL, {"srid": srid}).fetchall())
    county = _county(cur)
    dv = cur.execute(DATA_VERSION_SQL).fetchone()
    return DeckFacts(
        all_zones,
        parcels,
        county,
        infra,
        codes,
        list(zone_codes),
        list(statuses or []),
        int(dv["version"] or 0),
        dv["changed"],
        today or dt.date.today(),
        srid,
    )


def finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)
