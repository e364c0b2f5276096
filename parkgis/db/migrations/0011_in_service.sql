-- What is in service on a date (issue #13, points 5 and 6).
--
-- The infrastructure table is a register: a row's status says what was on the ground when it was
-- recorded. The upgrade programme changes that over time, so every reader (search, fit, the
-- parcel sheet, the brief, the map) asks "in service on date D" through the functions below
-- instead of reading infrastructure.status or a hand-kept flag: a completed upgrade's works
-- count from its finish date; a planned or under-way one never does, whatever its dates say.
-- All functions are plain SQL (no plpgsql) so the planner inlines them into the callers'
-- queries and still uses the GiST indexes of the underlying tables.

-- A completed upgrade without a finish date counts from any date (its date is unknown, its
-- completion is not).
CREATE OR REPLACE FUNCTION upgrade_done(status text, finish_date date, d date) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT status = 'completed' AND (finish_date IS NULL OR finish_date <= d)
$$;

-- Past its finish date and not complete: the planner board, the sheet and the map flag it.
CREATE OR REPLACE FUNCTION upgrade_overdue(status text, finish_date date, d date)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT status <> 'completed' AND finish_date IS NOT NULL AND finish_date < d
$$;

-- A project still short of construction whose agreed start date has passed.
CREATE OR REPLACE FUNCTION project_past_start(stage text, start_date date, d date)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT stage IN ('lead', 'negotiating', 'signed', 'land_supplied')
         AND start_date IS NOT NULL AND start_date < d
$$;

-- An upgrade without infra_code this close (m) to a register row of its kind builds that row
-- (the same rule as parkgis.fit.BUILDS_WITHIN_M).
CREATE OR REPLACE FUNCTION upgrade_builds_within_m() RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 300.0::double precision $$;

-- Every feature in service on d: register rows that exist or that a completed upgrade built
-- by then, plus the completed upgrades' own works (an extension, a new line) as features of
-- their kind. Upgrade rows carry no capacity: capacity is counted on the facility they
-- upgrade (parkgis.fit), never twice.
CREATE OR REPLACE FUNCTION infra_as_of(d date)
RETURNS TABLE (code text, kind text, name_zh text, name_en text, status text,
               capacity double precision, capacity_unit text, voltage_kv double precision,
               diameter_mm double precision, gk_srid integer, geom geometry,
               geom_gk geometry, upgrade_code text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  -- three branches, not one OR: the first keeps the partial per-category GiST indexes
  -- (status = 'existing', migration 0007 and below) usable for nearest/within look-ups
  SELECT i.code, i.kind, i.name_zh, i.name_en, i.status, i.capacity, i.capacity_unit,
         i.voltage_kv, i.diameter_mm, i.gk_srid, i.geom, i.geom_gk, NULL::text
    FROM infrastructure i
   WHERE i.status = 'existing'
  UNION ALL
  SELECT i.code, i.kind, i.name_zh, i.name_en, i.status, i.capacity, i.capacity_unit,
         i.voltage_kv, i.diameter_mm, i.gk_srid, i.geom, i.geom_gk, NULL::text
    FROM infrastructure i
   WHERE i.status <> 'existing'
     AND EXISTS (SELECT 1 FROM upgrades u
                  WHERE upgrade_done(u.status, u.finish_date, d)
                    AND (u.infra_code = i.code
                         OR (u.infra_code IS NULL AND u.kind = i.kind
                             AND u.gk_srid = i.gk_srid
                             AND ST_DWithin(u.geom_gk, i.geom_gk, upgrade_builds_within_m()))))
  UNION ALL
  SELECT u.code, u.kind, u.name_zh, u.name_en, 'existing', NULL::double precision, NULL::text,
         NULL::double precision, NULL::double precision, u.gk_srid, u.geom, u.geom_gk, u.code
    FROM upgrades u
   WHERE upgrade_done(u.status, u.finish_date, d)
$$;

-- The one definition of rail access (issue #13 point 6): a siding (专用线) or a freight
-- station in service on d. A main line ('railway') never is: trains do not stop for a parcel.
CREATE OR REPLACE FUNCTION rail_access_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT ARRAY['rail_siding', 'rail_station'] $$;

CREATE OR REPLACE FUNCTION rail_access_as_of(d date)
RETURNS TABLE (code text, kind text, name_zh text, name_en text, gk_srid integer,
               geom geometry, geom_gk geometry)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT f.code, f.kind, f.name_zh, f.name_en, f.gk_srid, f.geom, f.geom_gk
    FROM infra_as_of(d) f
   WHERE f.kind = ANY(rail_access_kinds())
$$;

-- 七通一平 as of a date. The parcel's svc_* columns are the site survey: what was connected
-- before the upgrade programme (the sample's survey predates every upgrade in it). What the
-- programme adds is derived, never typed in again: a completed upgrade of a network serving a
-- connection reaches every parcel within the reach below. Kept as data so a park can tune it
-- (a 5G/fibre programme covers whole parks; a water main serves what a spur can reach).
CREATE TABLE IF NOT EXISTS service_reach (
    service  text NOT NULL CHECK (service IN ('road', 'water', 'drainage', 'power', 'gas',
                                               'heat', 'telecom', 'levelled')),
    kind     text NOT NULL,
    reach_m  double precision NOT NULL CHECK (reach_m >= 0),
    PRIMARY KEY (service, kind)
);
INSERT INTO service_reach (service, kind, reach_m) VALUES
    ('road', 'trunk_road', 300), ('road', 'local_road', 300), ('road', 'national_road', 300),
    ('water', 'water_main', 500), ('water', 'water_plant', 1000),
    ('drainage', 'sewer', 500), ('drainage', 'wastewater_plant', 1000),
    ('power', 'power_line', 500), ('power', 'substation', 3000),
    ('gas', 'gas_main', 500), ('gas', 'gas_station', 1000),
    ('heat', 'heat_main', 500),
    -- 5G macro cells and the fibre backbone cover the parks, not a corridor
    ('telecom', 'telecom', 10000)
ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION svc_as_of(surveyed boolean, service text, g geometry, srid integer,
                                     d date) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT surveyed OR EXISTS (
      SELECT 1 FROM upgrades u
        JOIN service_reach r ON r.kind = u.kind AND r.service = svc_as_of.service
       WHERE upgrade_done(u.status, u.finish_date, d)
         AND u.gk_srid = srid
         AND ST_DWithin(ST_SetSRID(u.geom_gk, 0), ST_SetSRID(g, 0), r.reach_m))
$$;

-- The reach a facility serves, where the data gives one (a substation's service area or
-- radius); without it parkgis.fit falls back to a default per kind.
ALTER TABLE infrastructure ADD COLUMN IF NOT EXISTS service_radius_m double precision
    CHECK (service_radius_m > 0);
ALTER TABLE infrastructure ADD COLUMN IF NOT EXISTS service_area geometry(MultiPolygon, 4490)
    CHECK (service_area IS NULL OR geom_ok(service_area));

-- The rail category now reads sidings and stations (the one rail-access definition): its
-- partial index follows (0007's rail index covers sidings only).
CREATE INDEX IF NOT EXISTS infrastructure_rail_access_gk0_idx ON infrastructure
    USING gist (ST_SetSRID(geom_gk, 0))
    WHERE kind IN ('rail_siding', 'rail_station') AND status = 'existing';

-- Upgrades are measured like infrastructure (ST_SetSRID(geom_gk, 0), see 0003_search.sql).
CREATE INDEX IF NOT EXISTS upgrades_gk0_idx ON upgrades USING gist (ST_SetSRID(geom_gk, 0));
