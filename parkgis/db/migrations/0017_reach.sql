-- A parcel's final reach per distance category of the availability search, on one row
-- (issue 16 point 1: search p95 at 10^6).
--
-- A "within d" filter of the search probed parcel_nearest once per candidate and category: for
-- "water and gas within 1 km, at least 30 mu" at 10^6 parcels, 12 756 probes behind a scan of
-- 37 327 parcels in code order to fill a page of 100 (85-100 ms). Two facts make one row per
-- parcel enough to decide nearly every candidate without a probe:
-- * the nearest distance as of a date only ever gets nearer (migration 0013), so the distance
--   of the last step (until = 'infinity') is a lower bound for any date: a parcel whose final
--   distance exceeds d fails on every date;
-- * from that step's first day (since) on, it IS the distance: for a date on or after since the
--   row decides alone, and only a step still to come (since after the date asked) needs the
--   store's exact probe.
-- Driven from this row in code order, "water and gas within 1 km" reads the 1.4 % of parcels
-- near both and then each one's parcel row, instead of every parcel and two probes.
--
-- Derived only: statement triggers on parcel_nearest keep it in the writing transaction (the
-- store's own writers hold access_lock()), a change of a parcel's code follows it, and the
-- migration fills it from the store. tests/db/test_access.py holds it equal to its definition
-- after edits and rebuilds; the search's answers are checked against the store's.

CREATE TABLE parcel_reach (
    parcel_id          bigint PRIMARY KEY REFERENCES parcels(id) ON DELETE CASCADE,
    code               text NOT NULL,
    rail_m             double precision,
    rail_since         date,
    road_m             double precision,
    road_since         date,
    substation_m       double precision,
    substation_since   date,
    water_m            double precision,
    water_since        date,
    gas_m              double precision,
    gas_since          date
);
-- The search's default order: a page in code order can be driven from this table.
CREATE UNIQUE INDEX parcel_reach_code_idx ON parcel_reach (code);

-- The rows of parcels ``ids`` as the store defines them (none for a parcel without any step of
-- the five categories).
CREATE OR REPLACE FUNCTION reach_compute(ids bigint[]) RETURNS SETOF parcel_reach
LANGUAGE sql STABLE AS $$
  SELECT p.id, p.code,
         max(a.m) FILTER (WHERE a.cat = 'rail'), max(a.since) FILTER (WHERE a.cat = 'rail'),
         max(a.m) FILTER (WHERE a.cat = 'road'), max(a.since) FILTER (WHERE a.cat = 'road'),
         max(a.m) FILTER (WHERE a.cat = 'substation'),
         max(a.since) FILTER (WHERE a.cat = 'substation'),
         max(a.m) FILTER (WHERE a.cat = 'water'), max(a.since) FILTER (WHERE a.cat = 'water'),
         max(a.m) FILTER (WHERE a.cat = 'gas'), max(a.since) FILTER (WHERE a.cat = 'gas')
    FROM parcels p
    JOIN parcel_nearest a ON a.parcel_id = p.id AND a.until = 'infinity'
                         AND a.cat IN ('rail', 'road', 'substation', 'water', 'gas')
   WHERE p.id = ANY(ids)
   GROUP BY p.id, p.code
$$;

-- Rewrites the rows of parcels ``ids`` (one statement: the parcels that lost their last step
-- lose their row, the others are upserted; a row that did not change is not rewritten).
CREATE OR REPLACE FUNCTION reach_refresh(ids bigint[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
  WITH n AS (SELECT * FROM reach_compute(ids)),
  gone AS (
      DELETE FROM parcel_reach r
       WHERE r.parcel_id = ANY(ids)
         AND NOT EXISTS (SELECT 1 FROM n WHERE n.parcel_id = r.parcel_id)
  )
  INSERT INTO parcel_reach SELECT * FROM n
  ON CONFLICT (parcel_id) DO UPDATE SET
      code = EXCLUDED.code,
      rail_m = EXCLUDED.rail_m, rail_since = EXCLUDED.rail_since,
      road_m = EXCLUDED.road_m, road_since = EXCLUDED.road_since,
      substation_m = EXCLUDED.substation_m, substation_since = EXCLUDED.substation_since,
      water_m = EXCLUDED.water_m, water_since = EXCLUDED.water_since,
      gas_m = EXCLUDED.gas_m, gas_since = EXCLUDED.gas_since
  WHERE (parcel_reach.*) IS DISTINCT FROM (EXCLUDED.*)
$$;

CREATE OR REPLACE FUNCTION reach_store_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM reach_refresh(ARRAY(SELECT DISTINCT parcel_id FROM reach_new));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM reach_refresh(ARRAY(SELECT DISTINCT parcel_id FROM reach_old));
    ELSE
        PERFORM reach_refresh(ARRAY(SELECT parcel_id FROM reach_new
                                    UNION SELECT parcel_id FROM reach_old));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER parcel_nearest_reach_ins AFTER INSERT ON parcel_nearest
    REFERENCING NEW TABLE AS reach_new
    FOR EACH STATEMENT EXECUTE FUNCTION reach_store_trigger();
CREATE TRIGGER parcel_nearest_reach_upd AFTER UPDATE ON parcel_nearest
    REFERENCING OLD TABLE AS reach_old NEW TABLE AS reach_new
    FOR EACH STATEMENT EXECUTE FUNCTION reach_store_trigger();
CREATE TRIGGER parcel_nearest_reach_del AFTER DELETE ON parcel_nearest
    REFERENCING OLD TABLE AS reach_old
    FOR EACH STATEMENT EXECUTE FUNCTION reach_store_trigger();

-- A parcel's code is the page order's key here too.
CREATE OR REPLACE FUNCTION reach_code_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE parcel_reach SET code = NEW.code WHERE parcel_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER parcels_reach_code AFTER UPDATE OF code ON parcels
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code)
    EXECUTE FUNCTION reach_code_trigger();

-- Physically in code order: a page in code order reads neighbouring rows.
INSERT INTO parcel_reach
SELECT * FROM reach_compute(ARRAY(SELECT id FROM parcels)) ORDER BY code;
ANALYZE parcel_reach;
