-- Terrain rasters (issue 8): which DEM and flood-depth rasters are loaded, where their
-- Cloud-Optimized GeoTIFF copies live, and what they cover. parcel_terrain (0001) holds the
-- per-parcel figures computed from the active ones.

CREATE TABLE rasters (
    name           text PRIMARY KEY,                 -- file stem + short checksum
    kind           text NOT NULL CHECK (kind IN ('dem', 'flood')),
    path           text NOT NULL,                    -- the stored COG
    source_path    text,                             -- what the user gave
    crs            text NOT NULL,                    -- WKT of the raster's own CRS
    epsg           integer,                          -- when the CRS has an EPSG code
    width          integer NOT NULL CHECK (width > 0),
    height         integer NOT NULL CHECK (height > 0),
    res_x          double precision NOT NULL CHECK (res_x > 0),  -- in CRS units
    res_y          double precision NOT NULL CHECK (res_y > 0),
    bounds         double precision[] NOT NULL CHECK (cardinality(bounds) = 4),  -- native xmin,ymin,xmax,ymax
    bounds_lonlat  geometry(Polygon, 4490) NOT NULL,
    dtype          text NOT NULL,
    nodata         double precision,
    checksum       text NOT NULL,                    -- sha256 of the stored file
    options        jsonb NOT NULL DEFAULT '{}',      -- e.g. {"steep_deg": 6}
    active         boolean NOT NULL DEFAULT true,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
-- One active raster of each kind: the one parcel figures and overlays come from.
CREATE UNIQUE INDEX rasters_one_active ON rasters (kind) WHERE active;

-- The balanced flat platform level behind earthwork_cut_m3 / earthwork_fill_m3.
ALTER TABLE parcel_terrain ADD COLUMN IF NOT EXISTS earthwork_level_m double precision;
ALTER TABLE parcel_terrain ADD COLUMN IF NOT EXISTS covered_share double precision;

INSERT INTO data_versions(layer) VALUES ('terrain') ON CONFLICT DO NOTHING;
