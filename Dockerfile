# The app image for docker-compose (external PostGIS). Front-end assets come from the npm
# registry in a build stage so the running app serves them itself, with no CDN.
FROM node:20-slim AS assets
WORKDIR /src/web
COPY web/package.json ./
RUN npm install --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        fonts-noto-cjk gdal-bin poppler-utils && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY parkgis ./parkgis
COPY api ./api
COPY web ./web
COPY scripts ./scripts
COPY data ./data
COPY --from=assets /src/web/node_modules ./web/node_modules
RUN pip install --no-cache-dir -e . && python scripts/vendor_assets.py
ENV PARKGIS_HOST=0.0.0.0 PARKGIS_PORT=8000
EXPOSE 8000
CMD ["sh", "-c", "parkgis migrate && parkgis load data/shapes/weihui.gpkg && parkgis serve"]
