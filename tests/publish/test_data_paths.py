"""The restructure moved modules one folder deeper; paths they computed from their own depth
pointed into ``parkgis/`` (``/`` and ``/planner`` answered 500 "leaflet.js is missing", the
brief lost its county outline). Each expected path here is built from this test file's own
location, independently of the product."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_vendored_assets_are_found_where_setup_puts_them() -> None:
    from parkgis.publish.maps import assets

    assert assets.STATIC_DIR == REPO / "web" / "static"
    assert (
        assets.vendor_url("https://unpkg.com/leaflet@1.9.4/dist/leaflet.js")
        == "/static/vendor/leaflet/leaflet.js"
    )


def test_the_brief_reads_the_county_outline_from_the_data_folder() -> None:
    from parkgis.publish.brief import facts

    expected = REPO / "data" / "shapes" / "sources" / "xinxiang_counties.geojson"
    assert expected.is_file()
    assert facts.COUNTIES_GEOJSON == expected


def test_indicator_seed_tables_are_found() -> None:
    from parkgis.promotion import indicators

    assert indicators.SEED_DIR == REPO / "data" / "indicators"
    assert (
        sorted(p.name for p in indicators.SEED_DIR.glob("*.csv"))
        == sorted(p.name for p in (REPO / "data" / "indicators").glob("*.csv"))
        != []
    )
