#!/usr/bin/env bash
# Installs the Debian packages ParkGIS needs, only those missing (a second run does nothing).
set -euo pipefail
PKGS=(postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting gdal-bin chromium chromium-driver poppler-utils
      fonts-noto-cjk nodejs npm python3-venv python3-dev
      python3-qgis)  # QGIS (headless) as a real client of our OGC API in the tests
missing=()
for p in "${PKGS[@]}"; do
  # node/npm may come from elsewhere (nvm, a distro image): a working binary is enough.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    python3-venv|python3-dev) python3 -c 'import venv, ensurepip, sysconfig' >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
