"""The ``parkgis`` command line (Typer).

Errors a user can act on are printed as one line and exit with status 1; progress bars
accompany long work. Sub-commands of later features register themselves here, each in a small
function that calls the domain core.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from parkgis.errors import ParkGISError

app = typer.Typer(help="ParkGIS: industrial-park land, infrastructure and project fit.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The embedded PostGIS database.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts and roles.", no_args_is_help=True)
terrain_app = typer.Typer(help="Elevation, slope and flood rasters.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(terrain_app, name="terrain")

err = Console(stderr=True)
out = Console()


def fail(message: str) -> None:
    """One line on stderr, exit status 1: what the brief asks of every CLI error."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _db_url() -> str:
    from parkgis.db import database_url, migrate

    url = database_url()
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

    out.print("stopped" if cluster.stop() else "not running")


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


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending schema migrations."""
    from parkgis.db import database_url, migrate

    applied = migrate(database_url())
    out.print(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON, Shapefile (.shp/.zip), KML, DXF")],
    layer: Annotated[str | None, typer.Option(help="source layer; also the target unless --into")] = None,
    into: Annotated[str | None, typer.Option(help="target table (zones, parcels, ...)")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS for a file that declares none")] = None,
    from_gcj02: Annotated[bool, typer.Option("--from-gcj02", help="coordinates are GCJ-02")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="repair invalid geometries (make_valid)")] = False,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. GBK")] = None,
) -> None:
    """Load a vector file into the store, in one transaction."""
    from parkgis.io.loader import load_file, load_sample_package

    url = _db_url()
    if layer is None and into is None and file.suffix.lower() == ".gpkg":
        reports = load_sample_package(url, file, progress=True)
    else:
        reports = [load_file(url, file, layer=layer, into=into, crs=crs, from_gcj02=from_gcj02,
                             fix=fix, encoding=encoding, progress=True)]
    for r in reports:
        out.print(r.summary())


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
    uvicorn.run("api.main:create_app", factory=True, host=host or s.host, port=port or s.port,
                workers=workers, log_level="info")


def main() -> None:
    try:
        app()
    except ParkGISError as e:
        err.print(f"error: {e}", highlight=False, soft_wrap=True)
        sys.exit(1)


# Keep json importable for sub-commands that print machine-readable output.
_ = json
