"""Bilingual labels (Chinese first, English second) for the maps and the pages.

One dictionary serves the Python map builders, the Jinja templates and the browser (it is sent
to the page as JSON), so a label has exactly one Chinese and one English wording. Keys are
namespaced: ``status.available``, ``infra.substation``, ``role.brewery``, ``ui.filter`` ...

Examples
--------
>>> label("status.available")
('可供地', 'Available')
>>> text("status.available", "en")
'Available'
"""

from __future__ import annotations

import html
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # parcel status (the vocabulary of parcels.status)
    "status.available": ("可供地", "Available"),
    "status.reserved": ("已预留", "Reserved"),
    "status.listed": ("挂牌中", "Listed (tender)"),
    "status.allocated": ("已出让", "Allocated"),
    "status.under_construction": ("在建", "Under construction"),
    "status.operational": ("已投产", "Operational"),
    "status.not_for_supply": ("不供地", "Not for supply"),
    "status.historic": ("已注销", "Retired"),
    # zone kind / status
    "zone.cluster_zone": ("产业集聚区", "Industrial cluster zone"),
    "zone.specialised_park": ("专业园区", "Specialised park"),
    "zone.logistics_park": ("物流园区", "Logistics park"),
    "zone.approved": ("已批准", "Approved"),
    "zone.proposed": ("规划拟纳入", "Proposed"),
    # infrastructure kinds (infrastructure.kind; upgrades.kind uses the same words)
    "infra.expressway": ("高速公路", "Expressway"),
    "infra.national_road": ("国道", "National road"),
    "infra.trunk_road": ("主干道", "Trunk road"),
    "infra.local_road": ("支路", "Local road"),
    "infra.railway": ("铁路", "Railway"),
    "infra.rail_siding": ("铁路专用线", "Rail siding"),
    "infra.rail_station": ("铁路货运站", "Rail freight station"),
    "infra.water_main": ("给水管网", "Water main"),
    "infra.water_plant": ("自来水厂", "Water works"),
    "infra.sewer": ("污水管网", "Sewer"),
    "infra.wastewater_plant": ("污水处理厂", "Wastewater plant"),
    "infra.power_line": ("输电线路", "Power line"),
    "infra.substation": ("变电站", "Substation"),
    "infra.gas_main": ("燃气管网", "Gas main"),
    "infra.gas_station": ("燃气门站", "Gas station"),
    "infra.heat_main": ("供热管网", "Heat main"),
    "infra.telecom": ("通信线路", "Telecom"),
    "infra.river": ("河流", "River"),
    # infrastructure / upgrade status
    "infra_status.existing": ("现状", "Existing"),
    "infra_status.planned": ("规划", "Planned"),
    "infra_status.under_construction": ("在建", "Under construction"),
    "upgrade_status.planned": ("计划", "Planned"),
    "upgrade_status.under_way": ("实施中", "Under way"),
    "upgrade_status.completed": ("已完成", "Completed"),
    # industries and chain roles (enterprises.industry / chain_role, projects.chain_role)
    "industry.food_beverage_packaging": ("食品饮料及包装", "Food, beverage & packaging"),
    "industry.green_building_materials": ("绿色建材", "Green building materials"),
    "industry.logistics": ("现代物流", "Logistics"),
    "industry.health": ("大健康", "Health"),
    "industry.other": ("其他", "Other"),
    "role.brewery": ("啤酒酿造", "Brewery"),
    "role.beverage": ("饮料生产", "Beverages"),
    "role.bottling": ("灌装", "Filling & bottling"),
    "role.filling": ("灌装", "Filling & bottling"),
    "role.can_making": ("制罐", "Can making"),
    "role.film": ("薄膜", "Film"),
    "role.printing": ("彩印", "Colour printing"),
    "role.packaging": ("包装", "Packaging"),
    "role.flexible_packaging": ("软包装", "Flexible packaging"),
    "role.mineral_water": ("矿泉水", "Mineral water"),
    "role.snack_food": ("休闲食品", "Snack food"),
    "role.health_drinks": ("功能饮料", "Functional drinks"),
    "role.building_materials": ("建材", "Building materials"),
    "role.plasterboard": ("石膏板", "Plasterboard"),
    "role.doors_windows": ("门窗", "Doors & windows"),
    "role.cement": ("水泥", "Cement"),
    "role.prefab": ("装配式建筑", "Prefabricated buildings"),
    "role.profiles": ("型材", "Profiles"),
    "role.logistics": ("物流", "Logistics"),
    "role.other": ("其他", "Other"),
    # land use (国土空间用地用海分类 codes the park uses)
    "landuse.1001": ("工业用地", "Industrial"),
    "landuse.100101": ("一类工业用地", "Class 1 industrial"),
    "landuse.100102": ("二类工业用地", "Class 2 industrial"),
    "landuse.100103": ("三类工业用地", "Class 3 industrial"),
    "landuse.1101": ("物流仓储用地", "Logistics & warehousing"),
    "landuse.110101": ("一类物流仓储用地", "Class 1 logistics"),
    "landuse.110102": ("二类物流仓储用地", "Class 2 logistics"),
    "landuse.110103": ("三类物流仓储用地", "Class 3 logistics"),
    "landuse.1102": ("储备库用地", "Reserve depots"),
    "landuse.1201": ("铁路用地", "Railway land"),
    "landuse.1208": ("交通场站用地", "Transport stations"),
    "landuse.1401": ("公园绿地", "Parks"),
    "landuse.1402": ("防护绿地", "Protective green belt"),
    "landuse.1403": ("广场用地", "Squares"),
    # 七通一平
    "svc.road": ("通路", "Road"),
    "svc.water": ("通给水", "Water"),
    "svc.drainage": ("通排水", "Drainage"),
    "svc.power": ("通电", "Power"),
    "svc.gas": ("通气", "Gas"),
    "svc.heat": ("通热", "Heat"),
    "svc.telecom": ("通信", "Telecom"),
    "svc.levelled": ("场地平整", "Levelled"),
    "svc.title": ("七通一平", "Servicing (7 connections + levelled)"),
    # layers
    "layer.county": ("卫辉市界", "Weihui city boundary"),
    "layer.zones": ("园区边界", "Park boundaries"),
    "layer.parcels": ("地块（按状态）", "Parcels (by status)"),
    "layer.results": ("筛选结果", "Search results"),
    "layer.roads_rail": ("道路与铁路", "Roads & rail"),
    "layer.utilities": ("市政管线与场站", "Utilities"),
    "layer.river": ("河流", "River"),
    "layer.upgrades": ("基础设施提升工程", "Infrastructure upgrades"),
    "layer.enterprises": ("入驻企业（按产业链环节）", "Enterprises (by chain role)"),
    "layer.hillshade": ("地形晕渲", "Hillshade"),
    "layer.flood": ("洪水淹没", "Flood extent"),
    "base.none": ("无底图（离线）", "No basemap (offline)"),
    "base.osm": ("OpenStreetMap", "OpenStreetMap"),
    "base.tianditu": ("天地图", "Tianditu"),
    "base.amap": ("高德地图（GCJ-02）", "AMap (GCJ-02)"),
    # user interface
    "ui.title": ("卫辉市产业集聚区 · 投资地图", "Weihui Industrial Cluster Zone · Investor map"),
    "ui.subtitle": ("可供土地、基础设施与产业链", "Land, infrastructure and industry chains"),
    "ui.lang_toggle": ("English", "中文"),
    "ui.search": ("搜索地块编号或企业名称", "Search a parcel code or an enterprise"),
    "ui.filters": ("找地", "Find land"),
    "ui.area_mu": ("面积（亩）", "Area (mu)"),
    "ui.min": ("最小", "min"),
    "ui.max": ("最大", "max"),
    "ui.landuse": ("用地类型", "Land use"),
    "ui.any": ("不限", "Any"),
    "ui.zone": ("园区", "Zone"),
    "ui.status": ("状态", "Status"),
    "ui.vacant": ("可供（可供地/预留/挂牌）", "Vacant (available, reserved, listed)"),
    "ui.servicing": ("必须已通", "Must be connected"),
    "ui.max_rail_m": ("距铁路不超过（米）", "Rail within (m)"),
    "ui.max_substation_m": ("距变电站不超过（米）", "Substation within (m)"),
    "ui.max_road_m": ("距主干道不超过（米）", "Trunk road within (m)"),
    "ui.near_role": ("产业链邻居", "Chain neighbours"),
    "ui.near_role_m": ("距离（米）", "within (m)"),
    "ui.max_slope_deg": ("平均坡度不超过（度）", "Mean slope up to (°)"),
    "ui.max_flood_pct": ("易涝面积不超过（%）", "Flood-prone area up to (%)"),
    "ui.max_earthwork_wan": ("场地平整费用不超过（万元）", "Levelling cost up to (10k CNY)"),
    "ui.apply": ("查询", "Search"),
    "ui.reset": ("重置", "Reset"),
    "ui.results": ("结果", "Results"),
    "ui.no_results": ("没有符合条件的地块", "No parcel matches"),
    "ui.sort": ("排序", "Sort"),
    "ui.code": ("地块编号", "Parcel"),
    "ui.area": ("面积", "Area"),
    "ui.mu": ("亩", "mu"),
    "ui.measure_length": ("长度", "Length"),
    "ui.measure_hint": (
        "在地图上单击添加测量点，双击结束",
        "Click the map to add points, double-click to finish",
    ),
    "ui.ha": ("公顷", "ha"),
    "ui.m2": ("平方米", "m²"),
    "ui.m": ("米", "m"),
    "ui.rail": ("铁路", "Rail"),
    "ui.substation": ("变电站", "Substation"),
    "ui.road": ("主干道", "Trunk road"),
    "ui.distance": ("距离", "Distance"),
    "ui.sheet": ("地块信息", "Parcel sheet"),
    "ui.nearby_infra": ("周边基础设施", "Nearby infrastructure"),
    "ui.serving_upgrades": ("服务本地块的提升工程", "Upgrades that will serve it"),
    "ui.anchors": ("最近的龙头企业", "Nearest anchor enterprises"),
    "ui.brief": ("下载地块推介书（PDF）", "Download site brief (PDF)"),
    "ui.permalink": ("复制链接", "Copy link"),
    "ui.copied": ("链接已复制", "Link copied"),
    "ui.compare": ("对比", "Compare"),
    "ui.add_compare": ("加入对比", "Add to compare"),
    "ui.compare_full": ("最多对比四个地块", "At most four parcels can be compared"),
    "ui.clear": ("清空", "Clear"),
    "ui.close": ("关闭", "Close"),
    "ui.ask": ("咨询此地块", "Ask about this site"),
    "ui.inquiry": ("投资咨询", "Investment inquiry"),
    "ui.name": ("姓名", "Name"),
    "ui.company": ("公司", "Company"),
    "ui.contact": ("电话或邮箱", "Phone or e-mail"),
    "ui.message": ("留言", "Message"),
    "ui.parcels": ("地块", "Parcels"),
    "ui.send": ("提交", "Send"),
    "ui.legend": ("图例", "Legend"),
    "ui.land_price": ("基准地价（万元/亩）", "Benchmark price (10k CNY/mu)"),
    "ui.capacity": ("容量", "Capacity"),
    "ui.start": ("开工", "Start"),
    "ui.finish": ("完工", "Finish"),
    "ui.cost": ("投资（万元）", "Cost (10k CNY)"),
    "ui.voltage": ("电压（千伏）", "Voltage (kV)"),
    "ui.diameter": ("管径（毫米）", "Diameter (mm)"),
    "ui.kind": ("类型", "Kind"),
    "ui.role": ("产业链环节", "Chain role"),
    "ui.on_parcel": ("所在地块", "On parcel"),
    "ui.consent": ("我已阅读并同意按", "I have read and agree to the handling of my details under"),
    "ui.privacy": ("个人信息保护说明", "the personal-information notice"),
    "ui.anchor": ("龙头企业", "Anchor"),
    "ui.employees": ("员工", "Employees"),
    "ui.elevation": ("平均高程（米）", "Mean elevation (m)"),
    "ui.slope": ("平均坡度（度）", "Mean slope (°)"),
    "ui.flood": ("淹没比例", "Flood share"),
    "ui.yes": ("是", "yes"),
    "ui.no": ("否", "no"),
    "ui.loading": ("加载中…", "Loading…"),
    "ui.error": ("出错了", "Something went wrong"),
    "ui.occupant": ("入驻企业", "Occupant"),
    "ui.reserved_until": ("预留至", "Reserved until"),
    "ui.existing_vs_upgrade": ("现状为实线，提升工程为虚线", "Existing solid, upgrades dashed"),
    "ui.approved_vs_proposed": ("已批准为实线，拟纳入为虚线", "Approved solid, proposed dashed"),
    "ui.sort_area_desc": ("面积从大到小", "Area, largest first"),
    "ui.sort_area_asc": ("面积从小到大", "Area, smallest first"),
    "ui.sort_rail": ("距铁路最近", "Nearest to rail"),
    "ui.sort_substation": ("距变电站最近", "Nearest to a substation"),
    "ui.sort_code": ("按编号", "By code"),
    "ui.download_csv": ("下载CSV", "Download CSV"),
    "ui.inquiry_ok": ("已收到您的咨询，我们会尽快联系您。", "Thank you: we will contact you soon."),
    "ui.inquiry_bad": ("请检查填写的内容", "Please check the form"),
    "ui.inquiry_limited": ("提交过于频繁，请稍后再试。", "Too many inquiries: please try later."),
    "ui.not_found": ("未找到", "Not found"),
    "ui.hint": (
        "设定条件后点击“查询”，或直接点击地图上的地块。",
        "Set conditions and press Search, or click a parcel on the map.",
    ),
}


def label(key: str) -> tuple[str, str]:
    """The (Chinese, English) pair for ``key``; an unknown key falls back to the key itself.

    A missing entry must not break a page: the raw vocabulary word (e.g. a new chain role)
    is still more useful to a reader than an error.
    """
    if key in LABELS:
        return LABELS[key]
    word = key.split(".", 1)[-1].replace("_", " ")
    return word, word


def text(key: str, lang: Lang = "zh") -> str:
    """The label of ``key`` in one language."""
    zh, en = label(key)
    return en if lang == "en" else zh


def both(key: str, sep: str = " / ") -> str:
    """``"中文 / English"``, for places that cannot switch language (tooltips in exports)."""
    zh, en = label(key)
    return zh if zh == en else f"{zh}{sep}{en}"


# Characters that HTML escaping leaves alone but that are live inside the JavaScript template
# literals Folium wraps popups and tooltips in: a backtick ends the literal, "${" runs code
# and a backslash starts an escape (a bad one is a syntax error that stops the whole map).
_JS_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def esc(value: object) -> str:
    """``value`` as HTML text that is also inert inside a JavaScript template literal.

    Entities render as the literal characters, so a name shows exactly as stored whether the
    HTML lands in the DOM directly or through a Folium popup/tooltip script.
    """
    return html.escape("" if value is None else str(value), quote=True).translate(_JS_LITERAL)


def span(key: str | None = None, zh: str | None = None, en: str | None = None) -> str:
    """HTML ``<span>`` that the page's language toggle switches (``data-zh`` / ``data-en``).

    Either a dictionary ``key`` or literal ``zh``/``en`` texts (e.g. a feature's two names).
    The Chinese text is the initial content: Chinese is the default language.
    """
    if key is not None:
        zh, en = label(key)
    zh = zh or en or ""
    en = en or zh
    z, e = esc(zh), esc(en)
    return f'<span class="i18n" data-zh="{z}" data-en="{e}">{z}</span>'


def landuse_key(code: str | None) -> str:
    """The dictionary key of the most specific land-use label known for ``code``."""
    code = code or ""
    for n in (6, 4):
        if len(code) >= n and f"landuse.{code[:n]}" in LABELS:
            return f"landuse.{code[:n]}"
    return f"landuse.{code}"


def quantity(value: float | int | None, unit: str | None = None, *, sign: bool = False) -> str:
    """A measured amount as a reader expects it: one decimal below 10, whole numbers above,
    so a 2.6 km extension reads "2.6 km" (not "3 km") and 12,400 m³/d keeps its separator.

    >>> quantity(2.6, "km", sign=True)
    '+2.6 km'
    >>> quantity(12400, "m³/d")
    '12,400 m³/d'
    """
    if value is None:
        return "—"
    v = float(value)
    digits = 1 if abs(v) < 10 and v != int(v) else 0
    body = f"{v:,.{digits}f}"
    if sign and v > 0:
        body = "+" + body
    return f"{body} {unit}" if unit else body


def distance(metres: float | int | None) -> str:
    """A distance in metres for reading: whole metres below 1 km, one decimal of a kilometre
    below 10 km, whole kilometres beyond (a GIS distance has no centimetre-sized truth)."""
    if metres is None:
        return "—"
    m = float(metres)
    if m < 1000:
        return f"{m:,.0f} m"
    km = m / 1000
    return f"{km:,.1f} km" if km < 10 else f"{km:,.0f} km"


def as_json() -> dict[str, list[str]]:
    """The dictionary in the shape the browser uses: ``{key: [zh, en]}``."""
    return {k: [zh, en] for k, (zh, en) in LABELS.items()}
