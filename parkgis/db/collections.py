"""The public collections: what each layer is called and which of its fields anyone may see.

This registry is the single answer to "what does a public route show?": the OGC API, vector
tiles, exports and the investor map read it, so a confidential column (negotiation notes,
contacts, internal prices) can only leak by being added here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from parkgis.vocabulary import SERVICES


@dataclass(frozen=True)
class Prop:
    name: str
    type: str  # JSON Schema type: string, number, integer, boolean
    title_zh: str
    title_en: str
    sql: str | None = None  # expression when not a plain column of the source
    format: str | None = None  # e.g. "date"
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Collection:
    id: str
    table: str
    title_zh: str
    title_en: str
    description: str
    geometry_type: str  # for queryables / metadata
    props: tuple[Prop, ...]
    # extra FROM clause (joins) after the table aliased "t"
    joins: str = ""
    # filter applied on every public read (e.g. hide retired parcels)
    where: str = "TRUE"
    tile_props: tuple[str, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        return f"{self.title_zh} / {self.title_en}"

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.props if p.name == name), None)

    def expr(self, name: str) -> str:
        """SQL expression of a public property; callers validate ``name`` first."""
        p = self.prop(name)
        if p is None:
            raise KeyError(name)
        return p.sql or f"t.{p.name}"


PARCEL_STATUSES = (
    "available",
    "reserved",
    "listed",
    "allocated",
    "under_construction",
    "operational",
    "not_for_supply",
    "historic",
)
VACANT_STATUSES = ("available", "reserved", "listed")

_S, _N, _I, _B = "string", "number", "integer", "boolean"

# Today in the park (Asia/Shanghai) in SQL: what is in service and what is overdue are as of
# it (issue #13; parkgis.land.lifecycle.park_today is the Python side). Every date-dependent
# expression below spells today exactly so: the vector tiles put a bound date in its place
# (``as_of``, parkgis.publish.tiles), so a new one must use this constant too.
_PARK_TODAY = "(now() AT TIME ZONE 'Asia/Shanghai')::date"
PARK_TODAY_SQL = _PARK_TODAY


#: The 七通一平 store (migration 0014) joined to the parcel row ``{alias}`` as ``{store}``: one
#: primary-key probe per parcel; no row when no completed upgrade reaches the parcel.
SVC_JOIN_SQL = "LEFT JOIN parcel_services {store} ON {store}.parcel_id = {alias}.id"


def svc_join(alias: str = "t", store: str = "ps") -> str:
    """The join :func:`svc_sql` reads, for the parcel row ``alias``.

    >>> svc_join("p", "pss")
    'LEFT JOIN parcel_services pss ON pss.parcel_id = p.id'
    """
    return SVC_JOIN_SQL.format(alias=alias, store=store)


def svc_sql(name: str, day: str = _PARK_TODAY, alias: str = "t", store: str = "ps") -> str:
    """七通一平 as in service on ``day`` (SQL) of the parcel row ``alias``: the survey or a
    completed upgrade reaching the parcel by then — never a hand-kept flag alone. The rule is
    ``svc_as_of`` of migration 0011; the upgrade side is read from the store
    ``parcel_services`` (migration 0014, kept by triggers), joined as ``store`` by
    :func:`svc_join`. Eight spatial sub-selects per parcel made the flags cost 3.8x the rest
    of the tile SQL at 10^6 parcels (bench/README.md); tests/db/test_svc_store.py holds this
    equal to ``svc_as_of`` on every parcel, service and date that matters, after edits.

    >>> svc_sql("road", "%(d)s")
    '(t.svc_road OR coalesce(ps.road <= %(d)s, false))'
    """
    if name not in SERVICES:
        raise ValueError(name)
    return f"({alias}.svc_{name} OR coalesce({store}.{name} <= {day}, false))"


def svc_filter_sql(name: str, day: str = _PARK_TODAY, alias: str = "t") -> str:
    """The same flag as :func:`svc_sql` without a join, for a WHERE clause (a probe of the
    store's primary key per row tested).

    >>> svc_filter_sql("gas", "%(as_of)s", "p").startswith("(p.svc_gas OR EXISTS")
    True
    """
    if name not in SERVICES:
        raise ValueError(name)
    return (
        f"({alias}.svc_{name} OR EXISTS (SELECT 1 FROM parcel_services s"
        f" WHERE s.parcel_id = {alias}.id AND s.{name} <= {day}))"
    )


def _svc(name: str) -> str:
    return svc_sql(name)


ZONES = Collection(
    id="zones",
    table="zones",
    title_zh="园区边界",
    title_en="Park boundaries",
    description="Cluster zone, Houhe specialised park and road-rail logistics park.",
    geometry_type="MultiPolygon",
    props=(
        Prop("code", _S, "编号", "Code"),
        Prop("name_zh", _S, "名称", "Name (Chinese)"),
        Prop("name_en", _S, "英文名称", "Name (English)"),
        Prop(
            "kind", _S, "类型", "Kind", enum=("cluster_zone", "specialised_park", "logistics_park")
        ),
        Prop("status", _S, "状态", "Status", enum=("approved", "proposed")),
        Prop("gk_srid", _I, "高斯-克吕格投影", "Gauss-Krüger EPSG"),
        Prop("area_ha", _N, "面积（公顷）", "Area (ha)", sql="t.area_m2 / 10000"),
    ),
    tile_props=("code", "name_zh", "name_en", "kind", "status"),
)

PARCELS = Collection(
    id="parcels",
    table="parcels",
    title_zh="地块",
    title_en="Parcels",
    description="Land parcels with status, land use, servicing (七通一平) and benchmark price.",
    geometry_type="MultiPolygon",
    props=(
        Prop("code", _S, "地块编号", "Parcel code"),
        Prop("zone_code", _S, "所属园区", "Zone"),
        Prop("status", _S, "状态", "Status", enum=PARCEL_STATUSES),
        Prop("landuse_code", _S, "用地分类代码", "Land-use code"),
        Prop("landuse_alias", _S, "旧分类（GB 50137）", "Old code (GB 50137)"),
        Prop("area_m2", _N, "面积（平方米）", "Area (m²)"),
        Prop("area_mu", _N, "面积（亩）", "Area (mu)"),
        Prop("area_ha", _N, "面积（公顷）", "Area (ha)"),
        Prop("svc_road", _B, "通路", "Road", sql=_svc("road")),
        Prop("svc_water", _B, "通给水", "Water supply", sql=_svc("water")),
        Prop("svc_drainage", _B, "通排水", "Drainage", sql=_svc("drainage")),
        Prop("svc_power", _B, "通电", "Power", sql=_svc("power")),
        Prop("svc_gas", _B, "通气", "Gas", sql=_svc("gas")),
        Prop("svc_heat", _B, "通热", "Heat", sql=_svc("heat")),
        Prop("svc_telecom", _B, "通信", "Telecom", sql=_svc("telecom")),
        Prop("svc_levelled", _B, "场地平整", "Site levelled", sql=_svc("levelled")),
        Prop("land_price_wan_per_mu", _N, "基准地价（万元/亩）", "Benchmark price (10k CNY/mu)"),
        Prop("enterprise_code", _S, "入驻企业", "Enterprise"),
        Prop("reserved_until", _S, "预留至", "Reserved until", format="date"),
        Prop("elev_mean_m", _N, "平均高程（米）", "Mean elevation (m)", sql="pt.elev_mean_m"),
        Prop("slope_mean_deg", _N, "平均坡度（度）", "Mean slope (°)", sql="pt.slope_mean_deg"),
        Prop("flood_share", _N, "淹没比例", "Flood share", sql="pt.flood_share"),
        Prop(
            "project_overdue",
            _B,
            "项目逾期未开工",
            "Project past its start date",
            sql=f"COALESCE(project_past_start(pj.stage, pj.start_date, {_PARK_TODAY}), false)",
        ),
    ),
    joins="LEFT JOIN parcel_terrain pt ON pt.parcel_code = t.code\n"
    "  LEFT JOIN projects pj ON pj.code = t.project_code\n  " + svc_join(),
    where="t.status <> 'historic'",
    # 七通一平 ride in the tiles so that a map as of a date (``?as_of=``) shows them then
    tile_props=(
        "code",
        "status",
        "landuse_code",
        "zone_code",
        "area_mu",
        "project_overdue",
        "svc_road",
        "svc_water",
        "svc_drainage",
        "svc_power",
        "svc_gas",
        "svc_heat",
        "svc_telecom",
        "svc_levelled",
    ),
)

INFRASTRUCTURE = Collection(
    id="infrastructure",
    table="infrastructure",
    title_zh="基础设施",
    title_en="Infrastructure",
    description="Roads, rail and sidings, water, sewer, power, gas, heat, telecom, plants, river.",
    geometry_type="Geometry",
    props=(
        Prop("code", _S, "编号", "Code"),
        Prop("kind", _S, "类型", "Kind"),
        Prop("name_zh", _S, "名称", "Name (Chinese)"),
        Prop("name_en", _S, "英文名称", "Name (English)"),
        Prop("status", _S, "状态", "Status", enum=("existing", "planned", "under_construction")),
        Prop("capacity", _N, "容量", "Capacity"),
        Prop("capacity_unit", _S, "容量单位", "Capacity unit"),
        Prop("voltage_kv", _N, "电压（千伏）", "Voltage (kV)"),
        Prop("diameter_mm", _N, "管径（毫米）", "Diameter (mm)"),
    ),
    tile_props=("code", "kind", "name_zh", "name_en", "status"),
)

UPGRADES = Collection(
    id="upgrades",
    table="upgrades",
    title_zh="基础设施提升工程",
    title_en="Infrastructure upgrades",
    description="The zone's infrastructure upgrade programme (基础设施提升工程).",
    geometry_type="Geometry",
    props=(
        Prop("code", _S, "编号", "Code"),
        Prop("infra_code", _S, "所属设施", "Infrastructure"),
        Prop("kind", _S, "类型", "Kind"),
        Prop("name_zh", _S, "名称", "Name (Chinese)"),
        Prop("name_en", _S, "英文名称", "Name (English)"),
        Prop("capacity_added", _N, "新增容量", "Capacity added"),
        Prop("capacity_unit", _S, "容量单位", "Capacity unit"),
        Prop("cost_wan", _N, "投资（万元）", "Cost (10k CNY)"),
        Prop("start_date", _S, "开工日期", "Start", format="date"),
        Prop("finish_date", _S, "完工日期", "Finish", format="date"),
        Prop("status", _S, "状态", "Status", enum=("planned", "under_way", "completed")),
        Prop("operator", _S, "实施单位", "Operator"),
        Prop(
            "overdue",
            _B,
            "逾期未完工",
            "Overdue (past finish, not complete)",
            sql=f"upgrade_overdue(t.status, t.finish_date, {_PARK_TODAY})",
        ),
    ),
    tile_props=("code", "kind", "name_zh", "name_en", "status", "finish_date", "overdue"),
)

ENTERPRISES = Collection(
    id="enterprises",
    table="enterprises",
    title_zh="入驻企业",
    title_en="Resident enterprises",
    description="Resident firms with their role in the industrial chain.",
    geometry_type="Point",
    props=(
        Prop("code", _S, "编号", "Code"),
        Prop("name_zh", _S, "名称", "Name (Chinese)"),
        Prop("name_en", _S, "英文名称", "Name (English)"),
        Prop("industry", _S, "产业", "Industry"),
        Prop("chain_role", _S, "产业链环节", "Chain role"),
        Prop("is_anchor", _B, "龙头企业", "Anchor"),
        Prop("parcel_code", _S, "地块", "Parcel"),
        Prop("zone_code", _S, "园区", "Zone"),
        Prop("employees", _I, "员工人数", "Employees"),
    ),
    tile_props=("code", "name_zh", "name_en", "chain_role", "is_anchor"),
)

APPROVALS = Collection(
    id="approvals",
    table="approvals",
    title_zh="建设用地批次",
    title_en="Land approval batches",
    description="农用地转用/土地征收批次 (land approved for construction): approval number, date, "
    "area. The sample batches are illustrative.",
    geometry_type="MultiPolygon",
    props=(
        Prop("code", _S, "批次编号", "Batch code"),
        Prop("approval_no", _S, "批准文号", "Approval number"),
        Prop(
            "kind",
            _S,
            "类型",
            "Kind",
            enum=("conversion", "expropriation", "conversion_expropriation"),
        ),
        Prop("approved_on", _S, "批准日期", "Approved on", format="date"),
        Prop("zone_code", _S, "园区", "Zone"),
        Prop("area_mu", _N, "面积（亩）", "Area (mu)"),
        Prop("area_ha", _N, "面积（公顷）", "Area (ha)", sql="t.area_m2 / 10000"),
        Prop("area_declared_mu", _N, "批准面积（亩）", "Declared area (mu)"),
    ),
    tile_props=("code", "approval_no", "approved_on", "zone_code"),
)

PLACES = Collection(
    id="places",
    table="places",
    title_zh="参考地名",
    title_en="Reference places",
    description="County seat, cities and the airport, each coordinate with its cited source "
    "and licence; bearing and distance from the parks computed (migration 0012).",
    geometry_type="Point",
    props=(
        Prop("code", _S, "编号", "Code"),
        Prop(
            "kind",
            _S,
            "类型",
            "Kind",
            enum=("county_seat", "township_seat", "city", "provincial_capital", "airport"),
        ),
        Prop("name_zh", _S, "名称", "Name (Chinese)"),
        Prop("name_en", _S, "英文名称", "Name (English)"),
        Prop("source_url", _S, "坐标来源", "Source of the coordinate"),
        Prop("licence", _S, "来源许可", "Licence of the source"),
        Prop(
            "bearing_deg",
            _N,
            "自园区方位角（度）",
            "Bearing from the parks (degrees)",
            sql="place_bearing_deg(t.geom)",
        ),
        Prop(
            "direction_zh",
            _S,
            "自园区方向",
            "Direction from the parks (Chinese)",
            sql="compass_zh(place_bearing_deg(t.geom))",
        ),
        Prop(
            "direction_en",
            _S,
            "自园区方向（英文）",
            "Direction from the parks",
            sql="compass_en(place_bearing_deg(t.geom))",
        ),
        Prop(
            "distance_km",
            _N,
            "距园区直线距离（公里）",
            "Straight distance from the parks (km)",
            sql="place_distance_km(t.geom)",
        ),
    ),
    tile_props=("code", "kind", "name_zh", "name_en"),
)

COLLECTIONS: dict[str, Collection] = {
    c.id: c for c in (ZONES, PARCELS, INFRASTRUCTURE, UPGRADES, ENTERPRISES, APPROVALS, PLACES)
}

# Never on a public route, whatever a client asks for.
CONFIDENTIAL_FIELDS = frozenset(
    {"note_internal", "contact", "negotiation_notes", "password_hash", "land_budget_wan"}
)
