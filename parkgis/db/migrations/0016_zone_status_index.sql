-- A zone's parcels of given statuses in one index range (issue 16): the availability search
-- filters on both, and with an index on each alone the planner at 10^6 parcels ANDed the
-- zone's 3 000 entries with the status index's 350 000 (37 ms) to keep 1 085. The composite
-- also serves everything the zone-only index did (its leading column), which it replaces.
CREATE INDEX IF NOT EXISTS parcels_zone_status_idx ON parcels (zone_code, status);
DROP INDEX IF EXISTS parcels_zone_idx;
