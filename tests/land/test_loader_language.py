"""Loader refusals read Chinese first (house rule), found by attacking the upload route: a
KML holding only a NetworkLink answered "cannot read k2.kml: no layers", a file without the
required columns "…: refused, nothing stored — 1 problem: missing required column(s) …",
English only. Loaded through the real loader into a real (empty) database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parkgis.errors import ParkGISError
from parkgis.land.loader import load_file

HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")

NETWORK_LINK = """<?xml version="1.0"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><NetworkLink><Link>
<href>http://127.0.0.1:9/nl.kml</href></Link></NetworkLink></Document></kml>"""
NO_COLUMNS = (
    '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
    '"geometry":{"type":"Polygon","coordinates":[[[114.05,35.36],[114.06,35.36],'
    "[114.06,35.37],[114.05,35.36]]]}}]}"
)


@pytest.mark.parametrize(("name", "text"), [("k.kml", NETWORK_LINK), ("n.geojson", NO_COLUMNS)])
def test_refusals_are_chinese_first(empty_db: str, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParkGISError) as err:
        load_file(empty_db, path, into="parcels")
    message = err.value.message
    han, latin = HAN.search(message), LATIN.search(message)
    assert han is not None and latin is not None and han.start() < latin.start(), message
