-- Indexes for the availability search (parkgis/search.py).
--
-- geom_gk holds each row in its zone's Gauss-Krueger projection, so a province-wide table mixes
-- SRIDs (EPSG:4546/4547/4548 across Henan). PostGIS refuses distance operators across SRIDs,
-- even inside an index scan that would later discard the row, and coordinates of different GK
-- zones overlap numerically (all have false easting 500 km). The search therefore compares
-- ST_SetSRID(geom_gk, 0) -- the same metres, SRID stripped -- and always pairs it with
-- "gk_srid equal" so only rows of one projection are ever measured against each other.
-- These expression indexes serve ST_DWithin and the KNN operator (<->) on that expression.
CREATE INDEX IF NOT EXISTS infrastructure_gk0_idx ON infrastructure USING gist (ST_SetSRID(geom_gk, 0));
CREATE INDEX IF NOT EXISTS enterprises_gk0_idx ON enterprises USING gist (ST_SetSRID(geom_gk, 0));
CREATE INDEX IF NOT EXISTS parcels_gk0_idx ON parcels USING gist (ST_SetSRID(geom_gk, 0));
-- Live parcels sorted/filtered by size (the default sort of a search, and area ranges).
CREATE INDEX IF NOT EXISTS parcels_live_area_idx ON parcels (area_m2) WHERE status <> 'historic';
