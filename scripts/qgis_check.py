"""Open our OGC API in QGIS (headless) and print what QGIS sees, as JSON.

Run with the Python that has QGIS (Debian: ``/usr/bin/python3`` with ``python3-qgis``)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_check.py http://127.0.0.1:8000

tests/test_qgis_client.py runs it against a live server and compares with the database.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import Qgis, QgsApplication, QgsVectorLayer  # noqa: E402


def main(base: str, collection: str = "parcels", subset: str = "\"status\" = 'available'") -> None:
    """Print what QGIS sees of ``collection``; printed before QGIS shuts down, because
    tearing QGIS down with layers alive may crash the process."""
    app = QgsApplication([], False)
    app.initQgis()
    layer = QgsVectorLayer(f"url='{base}/ogc' typename='{collection}'", collection, "OAPIF")
    ext = layer.extent()
    out = {
        "qgis": Qgis.QGIS_VERSION,
        "valid": layer.isValid(),
        "count": layer.featureCount(),
        "extent": [ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()],
        "fields": [f.name() for f in layer.fields()],
        "codes": sorted(f["code"] for f in layer.getFeatures()),
    }
    out["subset_accepted"] = layer.setSubsetString(subset)
    out["subset_codes"] = sorted(f["code"] for f in layer.getFeatures())
    print(json.dumps(out, ensure_ascii=False), flush=True)
    del layer
    app.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:])
