# Two commands for a newcomer: `make demo` and `make test`. Every step is stamped so that a
# second run reinstalls nothing; stamps depend on the files that define what gets installed.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := .parkgis/stamps

.PHONY: demo test setup serve db-start load lint bench sample clean-db

demo: setup db-start load
	$(BIN)/parkgis serve

test: setup db-start
	$(BIN)/pytest -q -p no:cacheprovider

setup: $(STAMP)/system $(STAMP)/venv $(STAMP)/web $(STAMP)/fonts

$(STAMP)/system: scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/venv: pyproject.toml $(STAMP)/system
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/web: web/package.json scripts/vendor_assets.py $(STAMP)/venv
	cd web && npm install --no-audit --no-fund --loglevel=error
	$(PY) scripts/vendor_assets.py
	@mkdir -p $(STAMP) && touch $@

# The brief's CJK font subset is built once (about 15 s) rather than on the first brief.
$(STAMP)/fonts: $(STAMP)/venv parkgis/publish/brief/layout.py
	$(PY) -c "from parkgis.publish.brief.layout import setup_fonts; setup_fonts()"
	@mkdir -p $(STAMP) && touch $@

db-start:
	$(BIN)/parkgis db start

load:
	$(BIN)/parkgis load --if-empty data/shapes/weihui.gpkg
	$(BIN)/parkgis ledger load-sample
	@if [ -f data/rasters/weihui_dem.tif ] && $(BIN)/parkgis terrain --help >/dev/null 2>&1; then \
	  $(BIN)/parkgis terrain load data/rasters/weihui_dem.tif --flood data/rasters/weihui_flood.tif; fi

serve:
	$(BIN)/parkgis serve

sample:
	$(PY) scripts/build_sample.py

# Lint, formatting and the type checker (strict for the core; see [tool.mypy] in pyproject).
lint: $(STAMP)/venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench:
	@echo "see bench/README.md: $(PY) bench/tiles.py, bench/search.py, ..."

clean-db:
	-$(BIN)/parkgis db stop
	rm -rf .parkgis/pg .parkgis/pg.location
