"""The ``parkgis`` command line (Typer).

Errors a user can act on are printed as one line and exit with status 1; progress bars
accompany long work. Sub-commands of later features register themselves here, each in a small
function that calls the domain core.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from parkgis.errors import ParkGISError
from parkgis.settings import get_settings

app = typer.Typer(
    help="ParkGIS: industrial-park land, infrastructure and project fit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The embedded PostGIS database.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts and roles.", no_args_is_help=True)
terrain_app = typer.Typer(help="Elevation, slope and flood rasters.", no_args_is_help=True)
app.add_typer(db_app, name="db")
replica_app = typer.Typer(
    help="A local streaming replica of the embedded cluster.", no_args_is_help=True
)
db_app.add_typer(replica_app, name="replica")
access_app = typer.Typer(
    help="The precomputed access store (nearest facilities per parcel).", no_args_is_help=True
)
db_app.add_typer(access_app, name="access")
app.add_typer(user_app, name="user")
app.add_typer(terrain_app, name="terrain")

# No emoji codes: ":x:" in a parcel name or file name is text, not a symbol.
err = Console(stderr=True, emoji=False)
out = Console(emoji=False)


def fail(message: str) -> None:
    """One line on stderr, exit status 1: what the brief asks of every CLI error."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _db_url() -> str:
    from parkgis.db import database_url, migrate

    url = database_url(get_settings())
    migrate(url)
    return url


@db_app.command("start")
def db_start() -> None:
    """Initialise (first time) and start the embedded cluster, then migrate."""
    from parkgis.db import cluster, migrate
    from parkgis.settings import get_settings

    s = get_settings()
    if s.database_url:
        out.print("PARKGIS_DATABASE_URL is set: the embedded cluster is not used.")
        applied = migrate(s.database_url)
    else:
        c = cluster.start(s)
        applied = migrate(c.url())
        out.print(f"embedded PostGIS running in {c.root}")
    if applied:
        out.print(f"applied migrations: {', '.join(applied)}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster cleanly."""
    from parkgis.db import cluster

    out.print("stopped" if cluster.stop(get_settings()) else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say where the database is; the URL is printed on a line of its own."""
    from parkgis.db import cluster
    from parkgis.settings import get_settings

    s = get_settings()
    if s.database_url:
        out.print("external database (PARKGIS_DATABASE_URL)")
        print(s.database_url)
        return
    c = cluster.locate(s)
    if not cluster.is_running(c, s):
        out.print(f"embedded cluster at {c.root}: not running")
        raise typer.Exit(3)
    out.print(f"embedded cluster at {c.root}: running, port {c.port()}")
    print(c.url())


@db_app.command("backup")
def db_backup(
    path: Annotated[Path, typer.Argument(help="file to write (pg_dump custom format)")],
) -> None:
    """Back up everything: the database (pg_dump -Fc) and the terrain raster files."""
    from parkgis.db import database_url
    from parkgis.db.backup import backup

    s = get_settings()
    r = backup(database_url(s), path, s)
    extra = f" + {r.raster_files} raster file(s) in {r.rasters.name}" if r.rasters else ""
    out.print(
        f"备份完成 / backed up to {r.dump.name}{extra} ({r.bytes} bytes)",
        highlight=False,
        markup=False,
    )


@db_app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="a file written by `parkgis db backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="replace the contents of a database that is not empty")
    ] = False,
) -> None:
    """Restore a backup into the database (all or nothing); refuses a non-empty one."""
    from parkgis.db import database_url, migrate
    from parkgis.db.backup import restore

    url = database_url(get_settings())
    n = restore(url, path, get_settings(), force=force)
    applied = migrate(url)  # a backup from an older version gets the newer migrations
    out.print(
        f"恢复完成 / restored {path.name} ({n} raster file(s))"
        + (f"; applied migrations: {', '.join(applied)}" if applied else ""),
        highlight=False,
        markup=False,
    )


@access_app.command("rebuild")
def access_rebuild(
    chunk: Annotated[int, typer.Option(min=1, help="parcels per step")] = 2000,
) -> None:
    """Recompute every parcel's nearest facilities (after a bulk load, or as a repair)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from parkgis.db import access, connect

    url = _db_url()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("重算可达距离 / recomputing access", total=1)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with connect(url) as conn:
            r = access.rebuild(conn, chunk=chunk, progress=step)
    out.print(
        f"完成 / done: {r.parcels} 个地块 parcels, {r.rows} 行 rows, {r.seconds:.1f} s",
        highlight=False,
        markup=False,
    )


@replica_app.command("start")
def replica_start() -> None:
    """Make (pg_basebackup, first time) and start a streaming replica of the embedded cluster."""
    from parkgis.db import replica

    rep = replica.start(get_settings())
    out.print(
        f"副本已运行 / replica running in {rep.root}, port {rep.port()}",
        highlight=False,
        markup=False,
    )
    print(rep.url())


@replica_app.command("stop")
def replica_stop(
    remove: Annotated[
        bool,
        typer.Option(
            "--remove", help="also delete the replica's copy and drop its replication slot"
        ),
    ] = False,
) -> None:
    """Stop the local replica (its slot keeps WAL on the primary unless --remove)."""
    from parkgis.db import replica

    was = replica.stop(get_settings(), remove=remove)
    out.print(
        ("已停止 / stopped" if was else "未运行 / not running") + ("; removed" if remove else ""),
        highlight=False,
        markup=False,
    )


@replica_app.command("status")
def replica_status() -> None:
    """Replay position and lag of the local replica; the URL on a line of its own."""
    from parkgis.db import replica

    st = replica.status(get_settings())
    if not st.running:
        out.print("副本未运行 / replica not running", highlight=False, markup=False)
        raise typer.Exit(3)
    out.print(
        f"副本运行中 / replica running, port {st.port}, in recovery: {st.in_recovery}",
        highlight=False,
        markup=False,
    )
    out.print(
        f"replay LSN {st.replay_lsn}, primary LSN {st.primary_lsn}, "
        f"lag {st.lag_bytes} bytes, {st.lag_s:.1f} s",
        highlight=False,
        markup=False,
    )
    print(st.url)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending schema migrations."""
    from parkgis.db import database_url, migrate

    applied = migrate(database_url(get_settings()))
    out.print(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@app.command("load")
def load(
    file: Annotated[
        Path, typer.Argument(help="GeoPackage, GeoJSON, Shapefile (.shp/.zip), KML, DXF")
    ],
    layer: Annotated[
        str | None, typer.Option(help="source layer; also the target unless --into")
    ] = None,
    into: Annotated[str | None, typer.Option(help="target table (zones, parcels, ...)")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS for a file that declares none")] = None,
    from_gcj02: Annotated[
        bool, typer.Option("--from-gcj02", help="coordinates are GCJ-02")
    ] = False,
    fix: Annotated[
        bool, typer.Option("--fix", help="repair invalid geometries (make_valid)")
    ] = False,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. GBK")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="COLUMN=VALUE for columns the file lacks (e.g. DXF: --set zone_code=WH-CZ)",
        ),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="load only into a store that holds no parcel yet")
    ] = False,
) -> None:
    """Load a vector file into the store, in one transaction."""
    from parkgis.land.loader import load_file, load_sample_package, parcel_count, parse_set_options

    defaults = parse_set_options(set_)
    url = _db_url()
    if if_empty and (n := parcel_count(url)):
        # ``make demo`` a second time: the park is as the clock and the planners left it; a
        # reload would try to put statuses back, which only lifecycle actions may do.
        out.print(f"已有 {n} 宗地块，未重新导入 / the store already holds {n} parcels: not loaded")
        return
    if layer is None and into is None and not defaults and file.suffix.lower() == ".gpkg":
        reports = load_sample_package(url, file, progress=True)
    else:
        reports = [
            load_file(
                url,
                file,
                layer=layer,
                into=into,
                crs=crs,
                from_gcj02=from_gcj02,
                fix=fix,
                encoding=encoding,
                progress=True,
                defaults=defaults or None,
            )
        ]
    for r in reports:
        # Names and values from the file are printed as they are, never as rich markup.
        out.print(r.summary(), markup=False, highlight=False, soft_wrap=True)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option()] = 1,
) -> None:
    """Serve the API and the maps (uvicorn)."""
    import uvicorn

    from parkgis.settings import get_settings

    s = get_settings()
    _db_url()
    # proxy_headers=False: uvicorn's default believes X-Forwarded-For from any loopback peer,
    # which let a client pick its own rate-limit key; the app reads that header itself, and
    # only from PARKGIS_TRUSTED_PROXIES (api.security.client_address).
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host or s.host,
        port=port or s.port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )


def main() -> None:
    import psycopg

    try:
        app()
    except ParkGISError as e:
        # The message quotes the user's file names and values: literal text, not markup.
        err.print(f"error: {e}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(1)
    except psycopg.OperationalError as e:
        # An unreachable or missing database is the user's to fix: one line, not a traceback.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        err.print(
            f"error: 数据库不可用 / database unavailable: {first}", highlight=False, soft_wrap=True
        )
        sys.exit(1)


# Keep json importable for sub-commands that print machine-readable output.
_ = json


# -- terrain (issue 8) --------------------------------------------------------------------------


@terrain_app.command("load")
def terrain_load(
    dem: Annotated[Path, typer.Argument(help="DEM raster (any GDAL format and CRS)")],
    flood: Annotated[Path | None, typer.Option(help="flood-depth raster (m)")] = None,
    steep_deg: Annotated[float, typer.Option(help="slope counted as steep (°)")] = 6.0,
) -> None:
    """Load a DEM (and flood depths), store them as COGs, compute every parcel's terrain."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from parkgis.db import connect
    from parkgis.geo.terrain import load_terrain
    from parkgis.settings import get_settings

    url = _db_url()
    rasters_dir = get_settings().storage.rasters_dir
    labels = {
        "check": "检查栅格 / checking rasters",
        "cog": "写入 COG / writing COG",
        "grid": "重投影与坡度 / warping, slope",
        "zonal": "地块统计 / parcel statistics",
        "done": "完成 / done",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(labels["check"], total=1.0)

        def step(stage: str, frac: float) -> None:
            bar.update(task, description=labels.get(stage, stage), completed=frac)

        with connect(url) as conn:
            report = load_terrain(
                conn, dem, flood, steep_deg=steep_deg, out_dir=rasters_dir, progress=step
            )
    out.print(report.summary())


@terrain_app.command("earthwork")
def terrain_earthwork(
    parcel_code: Annotated[str, typer.Argument(help="parcel code, e.g. WH-A-012")],
    level: Annotated[str, typer.Option(help="flat | plane | elevation in m")] = "flat",
    yuan_per_m3: Annotated[float | None, typer.Option(help="cost per m³ (¥)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cut and fill (m³) and cost to level one parcel."""
    from parkgis.db import connect
    from parkgis.geo.terrain import parcel_earthwork
    from parkgis.settings import get_settings

    rate = get_settings().earthwork.yuan_per_m3 if yuan_per_m3 is None else yuan_per_m3
    with connect(_db_url()) as conn:
        ew = parcel_earthwork(conn, parcel_code, level, rate)
    if as_json:
        print(json.dumps({"parcel": parcel_code, **ew.to_dict()}, ensure_ascii=False))
        return
    lvl = f"{ew.level_m:.2f} m" if ew.level_m is not None else "-"
    out.print(
        f"{parcel_code} 场地平整 / levelling ({ew.level}, {lvl}): "
        f"挖方 / cut {ew.cut_m3:,.0f} m³, 填方 / fill {ew.fill_m3:,.0f} m³, "
        f"净 / net {ew.net_m3:+,.0f} m³, 费用 / cost ¥{ew.cost_yuan:,.0f} "
        f"(¥{ew.yuan_per_m3:g}/m³)",
        highlight=False,
    )


# -- accounts and the parcel lifecycle (issue 6) ------------------------------------------------


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="account name (letters, digits, _.@-)")],
    role: Annotated[str, typer.Option(help="investor | planner | admin")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="read the password from standard input (first line)"),
    ] = False,
) -> None:
    """Create an account; the password is read from stdin, never from the command line."""
    from parkgis import auth
    from parkgis.db import connect

    if not password_stdin:
        fail(
            "需要 --password-stdin（密码从标准输入读取） / pass --password-stdin and pipe the "
            "password in, e.g. `printf '%s' \"$PW\" | parkgis user add NAME --password-stdin`"
        )
    password = sys.stdin.readline().rstrip("\r\n")
    with connect(_db_url()) as conn:
        row = auth.add_user(conn, name, role, password)
    out.print(f"用户 / user {row['name']} ({row['role']}) 已创建 / created")


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List accounts (name, role, active)."""
    from parkgis import auth
    from parkgis.db import connect

    with connect(_db_url()) as conn:
        rows = auth.list_users(conn)
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
        return
    for r in rows:
        state = "active" if r["active"] else "inactive / 已停用"
        out.print(f"{r['name']}\t{r['role']}\t{state}", highlight=False)


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str | None, typer.Argument(help="account name to unlock")] = None,
    client: Annotated[
        str | None, typer.Option("--client", help="client address to unlock instead (or as well)")
    ] = None,
) -> None:
    """Lift a sign-in lock (after too many failed passwords) and forget the failures."""
    from parkgis import auth
    from parkgis.db import connect

    if name is None and client is None:
        fail("请给出账户名或 --client 地址 / give an account name or --client ADDRESS")
    with connect(_db_url()) as conn:
        n = auth.unlock(conn, account=name, client=client)
    who = " ".join(x for x in (name, client) if x)
    if n:
        out.print(f"已解除锁定 / unlocked: {who}", highlight=False, markup=False)
    else:
        out.print(
            f"未锁定 / not locked: {who} (失败记录已清除 / failures forgotten)",
            highlight=False,
            markup=False,
        )


parcels_app = typer.Typer(help="Parcel lifecycle housekeeping.", no_args_is_help=True)
app.add_typer(parcels_app, name="parcels")


@parcels_app.command("expire")
def parcels_expire() -> None:
    """Return lapsed reservations to available (audited as actor 'system'); run it from cron."""
    from parkgis.db import connect
    from parkgis.land.lifecycle import expire_reservations

    with connect(_db_url()) as conn:
        codes = expire_reservations(conn)
    out.print(
        f"到期释放 / expired: {', '.join(codes)}"
        if codes
        else "没有到期的预留 / no reservation has lapsed"
    )


@app.command("tick")
def tick_cmd(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="park date YYYY-MM-DD to run for (default today, Asia/Shanghai)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The daily job: expire reservations, open/close listings, flag idle land and overdue
    upgrades and projects (every change audited as actor 'system'). Safe to run twice."""
    import json as _json
    from datetime import date as _date

    from parkgis.db import connect
    from parkgis.errors import ParkGISError
    from parkgis.land import clock

    try:
        day = _date.fromisoformat(as_of) if as_of else None
    except ValueError:
        fail(f"--as-of 须为 YYYY-MM-DD / --as-of must be YYYY-MM-DD, got {as_of!r}")
    try:
        with connect(_db_url()) as conn:
            result = clock.tick(conn, day)
    except ParkGISError as e:
        fail(e.message)
    if as_json:
        out.print_json(_json.dumps(result, default=str, ensure_ascii=False))
        return
    if result["skipped"]:
        out.print("另一个进程正在运行每日任务，本次跳过 / another run holds the clock; skipped")
        return
    out.print(
        f"{result['as_of']}: 到期预留 / expired {len(result['expired'])}, 挂牌开始 / "
        f"opened {len(result['opened'])}, 挂牌结束 / closed {len(result['closed'])}, "
        f"闲置认定 / idle flags {len(result['idle'])}, 逾期 / overdue flags "
        f"{len(result['overdue'])}, 路网重建 / road network rebuilt: "
        f"{'是 / yes' if result.get('network_rebuilt') else '否 / no (unchanged)'}"
    )


@app.command("match")
def match_cmd(
    project_code: Annotated[str, typer.Argument(help="project code, e.g. PRJ-WLJ")],
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON body only")] = False,
    top: Annotated[int, typer.Option("--top", min=0, help="matches to list")] = 10,
    near: Annotated[int, typer.Option("--near", min=0, help="near misses to list")] = 10,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="judge on what is in service on this date (YYYY-MM-DD)"),
    ] = None,
    assembly_zone: Annotated[
        list[str] | None,
        typer.Option(
            "--assembly-zone",
            help="assemble adjacent parcels only in this zone (repeatable; default: every zone)",
        ),
    ] = None,
) -> None:
    """Where a project fits: ranked sites with reasons, and near misses (项目选址匹配)."""
    from psycopg.errors import QueryCanceled

    from parkgis.db import connect
    from parkgis.db.pool import set_statement_timeout
    from parkgis.publish.matching import project_match
    from parkgis.settings import get_settings
    from parkgis.siting.search import parse_as_of

    # The API's bound for a planner's read holds here too: a runaway statement is cut, not
    # left running in the server after the terminal has gone.
    limit_ms = get_settings().db_statement_timeout_planner_ms
    try:
        day = parse_as_of(as_of, "--as-of") if as_of is not None else None
        with connect(_db_url()) as conn:
            set_statement_timeout(conn, limit_ms)
            body = project_match(
                conn,
                project_code,
                top=top,
                near_miss_limit=near,
                confidential=True,
                as_of=day,
                siting=get_settings().siting,
                # no option given: every zone (typer may pass an empty list)
                assembly_zones=assembly_zone or None,
            )
    except ParkGISError as e:
        fail(e.message)
    except QueryCanceled:
        fail(
            f"匹配超过 {limit_ms / 1000:g} 秒上限，已停止；可用 --assembly-zone 缩小范围 / "
            f"the match ran past its {limit_ms / 1000:g} s limit and was stopped; narrow it with "
            "--assembly-zone (limit: PARKGIS_DB_STATEMENT_TIMEOUT_PLANNER_MS)"
        )
    if as_json:
        print(json.dumps(body, ensure_ascii=False, default=str))
        return
    _print_match(body)


def _print_match(body: dict[str, Any]) -> None:
    """The bilingual tables of a match: ranked sites, then near misses."""
    from rich.table import Table

    p = body["project"]
    out.print(f"[bold]{p['name_zh']}[/] / {p['name_en']} ({p['code']})")
    for f in body["fills"]:
        out.print(f"{f['text_zh']} / {f['text_en']}")
    table = Table("#", "地块 parcels", "得分 score", "面积 mu", "要点 / highlights")
    for i, m in enumerate(body["matches"], 1):
        best = sorted(
            (c for c in m["criteria"] if c["score"] is not None),
            key=lambda c: -c["weight"] * c["score"],
        )[:2]
        table.add_row(
            str(i),
            " + ".join(m["parcels"]),
            f"{m['score']:.1f}",
            f"{m['area_mu']:.1f}",
            "\n".join(c["reason_zh"] for c in best),
        )
    out.print(
        table
        if body["matches"]
        else "没有符合全部硬性条件的地块 / no site meets every hard requirement"
    )
    if body["near_misses"]:
        nt = Table("地块 parcels", "未满足 failed", "原因 / reason")
        for n in body["near_misses"]:
            nt.add_row(" + ".join(n["parcels"]), n["failed"], f"{n['reason_zh']}\n{n['reason_en']}")
        out.print("[bold]接近满足（仅差一项）/ near misses (one requirement short)[/]")
        out.print(nt)


# -- pre-review and indicator tables (issue 6, point 5) -----------------------------------------

indicators_app = typer.Typer(
    help="Land-use control indicator tables (versioned data).", no_args_is_help=True
)
app.add_typer(indicators_app, name="indicators")


@app.command("review")
def review_cmd(
    project_code: Annotated[str, typer.Argument(help="project code, e.g. PRJ-WLJ")],
    parcel_code: Annotated[str, typer.Argument(help="parcel code, or several joined by commas")],
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON report")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="print the CSV report (UTF-8, BOM)")
    ] = False,
    version: Annotated[str | None, typer.Option(help="indicator set (default: active)")] = None,
) -> None:
    """Pre-review a project on a parcel against the indicator table (重大招商项目预审)."""
    from parkgis.db import connect
    from parkgis.promotion import review

    if as_json and as_csv:
        fail("--json 与 --csv 只能选一个 / choose one of --json and --csv")
    try:
        with connect(_db_url()) as conn:
            r = review.review(conn, project_code, parcel_code.split(","), version=version)
    except ParkGISError as e:
        fail(e.message)
    if as_json:
        print(json.dumps(r.body(), ensure_ascii=False, default=str))
        return
    if as_csv:
        sys.stdout.buffer.write(review.to_csv(r))
        sys.stdout.flush()
        return
    b = r.body()
    out.print(
        f"{b['project']['name_zh']} / {b['project']['name_en']} ({b['project']['code']}) "
        f"@ {', '.join(b['parcels'])}: {b['area_mu']:.2f} 亩 mu, "
        f"{b['indicator_set']['name_zh']} {b['indicator_set']['version']}",
        highlight=False,
    )
    for it in b["items"]:
        mark = "※" if it["is_assumption"] else " "
        out.print(
            f"[{it['verdict']:>14}]{mark} {it['sentence_zh']}\n"
            f"                 {it['sentence_en']}",
            highlight=False,
            markup=False,
        )
    out.print(f"{b['summary_zh']}\n{b['summary_en']}", highlight=False)


@indicators_app.command("load")
def indicators_load(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: indicator sets, indicator rows or the "
            "chain-role → industry map (told by its columns)"
        ),
    ],
) -> None:
    """Import an indicator CSV (rows are upserted; money per mu is stored per hectare × 15)."""
    from parkgis.db import connect
    from parkgis.promotion import indicators

    if not file.is_file():
        fail(f"找不到文件 {file} / no such file {file}")
    try:
        with connect(_db_url()) as conn:
            indicators.ensure_seeded(conn)
            res = indicators.load_file(conn, file, actor="cli")
    except ParkGISError as e:
        fail(e.message)
    except UnicodeDecodeError:
        fail(f"{file} 不是 UTF-8 文本 / {file} is not UTF-8 text")
    out.print(
        f"已导入 / loaded: sets {', '.join(res.sets) or '—'}, rows {res.rows}, "
        f"industry map {res.industries}",
        highlight=False,
    )


# -- site briefs (issue 7) ----------------------------------------------------------------------


@app.command("brief")
def brief_cmd(
    parcel_code: Annotated[
        str | None,
        typer.Argument(help="parcel code, e.g. WH-A-012 (omit it for a deck: --zone/--status)"),
    ] = None,
    out_path: Annotated[
        Path,
        typer.Option("--out", "-o", help="output file: .pdf, .png or .html (a deck is always PDF)"),
    ] = Path("brief.pdf"),
    lang: Annotated[str, typer.Option("--lang", help="zh | en | both")] = "both",
    project: Annotated[
        str | None,
        typer.Option("--project", help="project code: adds its fit score, reasons and footprint"),
    ] = None,
    zone: Annotated[
        list[str] | None,
        typer.Option("--zone", help="deck: zone code(s), e.g. WH-CZ (repeat or comma-separate)"),
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="deck: parcel status(es), e.g. available")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=8, help="deck: worker processes")
    ] = 2,
) -> None:
    """Site brief (地块推介书): one parcel as PDF/PNG/HTML, or a deck of parcels as one PDF.

    Long because each of its Typer options takes several formatted lines; the body is one call per
    output kind.
    """
    import time

    from parkgis.publish.brief.facts import LANGS

    if lang not in LANGS:
        fail(f"--lang {lang!r}：应为 zh、en 或 both / must be zh, en or both")
    zones = [z.strip() for v in (zone or []) for z in v.split(",") if z.strip()]
    statuses = [s.strip() for v in (status or []) for s in v.split(",") if s.strip()]
    suffix = out_path.suffix.lower().lstrip(".")
    started = time.perf_counter()
    if parcel_code is None:
        if not zones and not statuses:
            fail(
                "需要地块编号，或用 --zone/--status 生成推介册 / give a PARCEL_CODE, or "
                "--zone/--status for a deck"
            )
        if suffix != "pdf":
            fail(f"推介册只能输出 PDF / a deck is a PDF, not .{suffix}: {out_path}")
        if project:
            fail("--project 只用于单个地块 / --project goes with one PARCEL_CODE")
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from parkgis.publish.brief.deck import build_deck

        url = _db_url()
        with Progress(
            TextColumn("[bold]推介册 / deck[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task("", total=None)

            def tick(code: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=code)

            try:
                pdf, codes = build_deck(
                    url,
                    zones or None,
                    statuses or None,
                    lang,
                    workers=workers,
                    progress=tick,
                    earthwork=get_settings().earthwork,
                )
            except ParkGISError as e:
                fail(e.message)
        _write(out_path, pdf)
        out.print(
            f"{out_path}: {len(codes) + 1} 页 / pages ({len(codes)} 地块 / parcels + "
            f"cover), {time.perf_counter() - started:.1f} s",
            highlight=False,
        )
        return
    if zones or statuses:
        fail("地块编号与 --zone/--status 不能同时使用 / PARCEL_CODE or --zone/--status, not both")
    if suffix not in ("pdf", "png", "html"):
        fail(f"不支持的输出格式 / unsupported output format .{suffix}: use .pdf, .png or .html")
    from parkgis.db import connect
    from parkgis.publish.brief import brief

    try:
        with connect(_db_url()) as conn:
            data = brief(
                conn, parcel_code, suffix, lang, project, earthwork=get_settings().earthwork
            )
    except ParkGISError as e:
        fail(e.message)
    _write(out_path, data)
    out.print(
        f"{out_path}: {parcel_code} ({suffix}, {lang}), {time.perf_counter() - started:.1f} s",
        highlight=False,
    )


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a failed or interrupted run never leaves half a file."""
    import os
    import tempfile

    path = path.expanduser()
    if path.parent and not path.parent.exists():
        fail(f"目录不存在 / no such directory: {path.parent}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        fail(f"无法写入 / cannot write {path}: {e.strerror}")


@app.command("export")
def export(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="gpkg | geojson | shp | kml | csv")],
    path: Annotated[Path, typer.Argument(help="output file (shp: a .zip)")],
    layer: Annotated[
        list[str] | None,
        typer.Option(help="public layer(s): zones, parcels, infrastructure, upgrades, enterprises"),
    ] = None,
    zone: Annotated[str | None, typer.Option(help="only this zone's parcels")] = None,
    status: Annotated[list[str] | None, typer.Option(help="only parcels in these statuses")] = None,
    crs: Annotated[str | None, typer.Option(help="output CRS (default EPSG:4490)")] = None,
) -> None:
    """Export public layers (no confidential fields) to a file."""
    from rich.progress import Progress

    from parkgis.db import connect
    from parkgis.publish.export import export_layers

    url = _db_url()
    with connect(url) as conn, Progress(console=err, transient=True) as progress:
        task = progress.add_task("导出 / exporting", total=len(layer) if layer else None)

        def step(name: str, n: int) -> None:
            progress.update(task, advance=1, description=f"{name}: {n}")

        report = export_layers(
            conn, fmt, path, layers=layer, zone=zone, status=status, crs=crs, on_layer=step
        )
    out.print(report.summary())


# -- the land ledger (issue 14) -----------------------------------------------------------------

ledger_app = typer.Typer(
    help="The land ledger: accounts, 亩均 grading, monthly report.", no_args_is_help=True
)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("report")
def ledger_report(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    out_path: Annotated[Path, typer.Option("--out", help="output PDF")],
) -> None:
    """The monthly ledger report as PDF (stock at the month's end, grading, chains, townships)."""
    from parkgis.db import connect
    from parkgis.publish.ledger_report import render_month_pdf

    try:
        with connect(_db_url()) as conn:
            pdf = render_month_pdf(conn, month)
    except ParkGISError as e:
        fail(e.message)
    try:
        out_path.write_bytes(pdf)
    except OSError as e:
        fail(f"无法写入 {out_path} / cannot write {out_path}: {e.strerror}")
    out.print(f"已写入 / written: {out_path} ({len(pdf) // 1024} KB)", highlight=False)


@ledger_app.command("load-performance")
def ledger_load_performance(
    file: Annotated[Path, typer.Argument(help="XLSX or CSV: one row per enterprise and year")],
) -> None:
    """Load annual per-enterprise figures (亩均); a bad row refuses the file, nothing stored."""
    from parkgis.db import connect
    from parkgis.ledger import performance

    if not file.is_file():
        fail(f"找不到文件 {file} / no such file {file}")
    try:
        with connect(_db_url(), actor="cli") as conn:
            res = performance.load(conn, file.read_bytes(), file.name, actor="cli")
    except ParkGISError as e:
        errors = e.extra.get("errors") or []
        for x in errors[1:20]:
            err.print(f"  line {x['line']}: {x['reason']}", highlight=False, markup=False)
        fail(e.message)
    out.print(
        f"已导入 / loaded: {res.rows} rows, years {', '.join(map(str, res.years))}, "
        f"{res.enterprises} enterprises",
        highlight=False,
    )


@ledger_app.command("load-approvals")
def ledger_load_approvals(
    file: Annotated[Path, typer.Argument(help="vector file of approval batches (polygons)")],
    layer: Annotated[str | None, typer.Option(help="layer inside the file")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of a file that declares none")] = None,
) -> None:
    """Load land approval batches (农用地转用/征收批次); one bad feature refuses the file."""
    from parkgis.db import connect
    from parkgis.ledger import approvals

    if not file.exists():
        fail(f"找不到文件 {file} / no such file {file}")
    try:
        with connect(_db_url(), actor="cli") as conn:
            n = approvals.load_file(conn, file, layer=layer, crs=crs)
    except ParkGISError as e:
        fail(e.message)
    out.print(f"已导入批次 / batches loaded: {n}", highlight=False)


@ledger_app.command("load-sample")
def ledger_load_sample(
    directory: Annotated[Path | None, typer.Argument(help="default data/ledger")] = None,
) -> None:
    """Load the ILLUSTRATIVE ledger sample (after `parkgis load data/shapes/weihui.gpkg`)."""
    from parkgis.db import connect
    from parkgis.ledger import sample

    try:
        with connect(_db_url(), actor="sample") as conn:
            res = sample.load_sample(conn, directory or sample.SAMPLE_DIR)
    except ParkGISError as e:
        fail(e.message)
    out.print(
        "已导入示例 / sample loaded: " + ", ".join(f"{k} {v}" for k, v in res.items()),
        highlight=False,
    )


@app.command("publish")
def publish_cmd(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="output directory")],
    sample: Annotated[
        bool | None,
        typer.Option(
            "--sample/--no-sample",
            help="show the 示例数据 / sample data notice (default: when the bundled sample is "
            "published)",
        ),
    ] = None,
    keep: Annotated[int, typer.Option(min=1, help="archives of the last N publishes kept")] = 3,
    grace_hours: Annotated[
        float, typer.Option(min=0, help="older archives are removed only after this many hours")
    ] = 24.0,
) -> None:
    """Write the public map as static files: DIR/index.html and a PMTiles archive.

    Serve DIR from any static host or CDN that honours HTTP Range requests: no app server,
    no database.
    """
    import psycopg

    from parkgis.publish.pmtiles import publish

    url = _db_url()
    with psycopg.connect(url) as conn:

        def step(z: int, visited: int, written: int) -> None:
            err.print(f"z{z}: {written}/{visited} 瓦片 / tiles", highlight=False)

        try:
            report = publish(
                conn, directory, sample=sample, keep=keep, grace_s=grace_hours * 3600, on_zoom=step
            )
        except ParkGISError as exc:
            fail(str(exc))
        except OSError as exc:  # disk full, permissions: say what, not where
            fail(f"写入失败 / cannot write the published files: {exc.strerror or exc}")
    out.print(report.summary(), highlight=False)


if __name__ == "__main__":
    main()
