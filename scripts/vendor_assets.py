"""Copy the front-end assets installed from the npm registry into ``web/static/vendor``.

The app serves them itself: no CDN at run time (pages must work offline and in China).
Whole ``dist``-like folders are copied so that CSS keeps finding its images and fonts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "web" / "node_modules"
VENDOR = ROOT / "web" / "static" / "vendor"

# package -> folder inside it to copy (relative), copied to vendor/<package name>/
FOLDERS: dict[str, str] = {
    "leaflet": "dist",
    "leaflet.markercluster": "dist",
    "leaflet.vectorgrid": "dist",
    "leaflet.fullscreen": ".",
    "leaflet-minimap": "dist",
    "leaflet-measure": "dist",
    "leaflet-draw": "dist",
    "leaflet.awesome-markers": "dist",
    "bootstrap": "dist",
    "jquery": "dist",
    "@fortawesome/fontawesome-free": ".",
    "swagger-ui-dist": ".",
    # PMTiles reader for the static map of `parkgis publish` (range requests, no server).
    "pmtiles": "dist",
}
# package -> single files to copy (when the package's folder is mostly unused weight: echarts'
# dist is ~50 MB of variants; the dashboard needs the one minified bundle)
FILES: dict[str, tuple[str, ...]] = {
    "echarts": ("dist/echarts.min.js", "LICENSE", "NOTICE"),
}
SKIP = {"node_modules", "src", "scss", "less", "svgs", "metadata", "sprites", "js-packages"}


def main() -> None:
    if not NODE.exists():
        raise SystemExit("web/node_modules is missing: run `npm install` in web/ first")
    VENDOR.mkdir(parents=True, exist_ok=True)
    for package, folder in FOLDERS.items():
        src = NODE / package / folder
        if not src.exists():
            raise SystemExit(f"npm package {package} lacks {folder}: reinstall web/ assets")
        dst = VENDOR / package.split("/")[-1]
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(
            src, dst, ignore=shutil.ignore_patterns(*SKIP, "*.map", "package.json", "*.html")
        )
    for package, files in FILES.items():
        dst = VENDOR / package.split("/")[-1]
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        for rel in files:
            src = NODE / package / rel
            if not src.exists():
                raise SystemExit(f"npm package {package} lacks {rel}: reinstall web/ assets")
            shutil.copy2(src, dst / src.name)
    print(f"vendored {len(FOLDERS) + len(FILES)} packages into {VENDOR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
