-- Tile cache invalidation without a round trip per request (parkgis/tiles.py, VersionWatch).
--
-- Every write to a layer already bumps data_versions (statement triggers of 0001). This row
-- trigger announces each new version on the channel parkgis_data_versions as "layer version";
-- PostgreSQL delivers it to the listening API workers when the writing transaction commits.
CREATE OR REPLACE FUNCTION notify_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('parkgis_data_versions', NEW.layer || ' ' || NEW.version::text);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS data_versions_notify ON data_versions;
CREATE TRIGGER data_versions_notify AFTER INSERT OR UPDATE ON data_versions
    FOR EACH ROW EXECUTE FUNCTION notify_data_version();

-- Availability search (parkgis/search.py): one GiST index per distance category, on the same
-- expression as infrastructure_gk0_idx but only over the built features of that category's
-- kinds. The nearest-feature look-up (ORDER BY <-> LIMIT 1) then walks only candidates of the
-- right kind instead of skipping every nearer road, main or line of another kind: about half
-- the time per look-up at province scale. The predicates mirror parkgis.search.DISTANCES
-- (the query's "kind = ANY(<kinds>) AND status = 'existing'" implies them); if a category's
-- kinds change there, add the matching index in a new migration.
CREATE INDEX IF NOT EXISTS infrastructure_rail_gk0_idx ON infrastructure
    USING gist (ST_SetSRID(geom_gk, 0)) WHERE kind IN ('rail_siding') AND status = 'existing';
CREATE INDEX IF NOT EXISTS infrastructure_road_gk0_idx ON infrastructure
    USING gist (ST_SetSRID(geom_gk, 0))
    WHERE kind IN ('trunk_road', 'national_road', 'expressway') AND status = 'existing';
CREATE INDEX IF NOT EXISTS infrastructure_substation_gk0_idx ON infrastructure
    USING gist (ST_SetSRID(geom_gk, 0)) WHERE kind IN ('substation') AND status = 'existing';
CREATE INDEX IF NOT EXISTS infrastructure_water_gk0_idx ON infrastructure
    USING gist (ST_SetSRID(geom_gk, 0)) WHERE kind IN ('water_main') AND status = 'existing';
CREATE INDEX IF NOT EXISTS infrastructure_gas_gk0_idx ON infrastructure
    USING gist (ST_SetSRID(geom_gk, 0)) WHERE kind IN ('gas_main') AND status = 'existing';
