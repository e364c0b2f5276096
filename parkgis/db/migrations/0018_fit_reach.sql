-- Where a project fits, at a province's 10^6 parcels (issue 16 point 2): the near-miss read of
-- parkgis.siting.fit reads only the parcels that can lie within a rail or road bound
-- (fit._near_sql) instead of every parcel of the right size band (120 898 rows at 10^6 for
-- the bench's project, 1.2-1.5 s of SQL per read, down to 0.13 s).
--
-- * The parcel's own GK zone: its final reach (parcel_reach, migration 0017) within the bound,
--   driven from an index on each distance fit bounds.
-- * Another zone's features, which the store does not measure: the parcels of *another* zone
--   within a feature's widened box. A GiST index on geometry alone returns the feature's own
--   zone's parcels around it (1 300 per rail siding at 10^6, filtered out one by one: 0.35 s);
--   led by gk_srid (btree_gist, migration 0001) the index skips them.
CREATE INDEX IF NOT EXISTS parcel_reach_rail_idx ON parcel_reach (rail_m);
CREATE INDEX IF NOT EXISTS parcel_reach_road_idx ON parcel_reach (road_m);
CREATE INDEX IF NOT EXISTS parcels_srid_geom_idx ON parcels USING gist (gk_srid, geom);
