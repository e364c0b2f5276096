-- Precomputed access (issue #16 point 1): each parcel's nearest in-service feature per distance
-- category of the availability search (parkgis.vocabulary.DISTANCES) and per enterprise chain
-- role, kept exact by triggers in the writing transaction.
--
-- As of a date (issue #13): a feature serves from a date (register rows that exist: always; a
-- row a completed upgrade builds and that upgrade's own works: from its finish date, NULL =
-- always; planned / under way: never; see infra_as_of, migration 0011). The nearest feature as
-- of d is therefore a step function of d that only ever gets nearer. parcel_nearest stores its
-- steps: row (parcel, category, since, until) holds the distance valid for since <= d < until,
-- so exactly one row answers any date (none when no feature of the category was ever in
-- service in the parcel's GK zone) — usually one or two rows per parcel and category.
--
-- Distances are the search's own: ST_Distance between the GK geometries with the SRID dropped,
-- only against features of the parcel's GK projection (gk_srid equal), computed by the same
-- nearest-neighbour query over infra_as_of(d) the search used per query before this store.
-- A narrow table (not arrays on a wide row) so that a distance filter can be driven from the
-- (category, distance) index, and a per-candidate probe is one primary-key look-up.

-- The search's distance categories and their kinds, as data the triggers can read
-- (tests/db/test_access.py checks it equals parkgis.vocabulary.DISTANCES).
CREATE TABLE access_categories (
    cat    text PRIMARY KEY,
    kinds  text[] NOT NULL
);
INSERT INTO access_categories (cat, kinds) VALUES
    ('rail', ARRAY['rail_siding', 'rail_station']),
    ('road', ARRAY['trunk_road', 'national_road', 'expressway']),
    ('substation', ARRAY['substation']),
    ('water', ARRAY['water_main']),
    ('gas', ARRAY['gas_main']);

CREATE TABLE parcel_nearest (
    parcel_id  bigint NOT NULL REFERENCES parcels(id) ON DELETE CASCADE,
    cat        text NOT NULL,             -- a key of access_categories, or 'role:' || chain_role
    since      date NOT NULL,             -- '-infinity': always
    until      date NOT NULL,             -- 'infinity': still the nearest
    m          double precision NOT NULL,
    code       text NOT NULL,             -- infrastructure, upgrade or enterprise code
    PRIMARY KEY (parcel_id, cat, since),
    CHECK (since < until)
);
-- Filters and sorts driven from the distances ("near" sets of parkgis.siting.search).
CREATE INDEX parcel_nearest_cat_m_idx ON parcel_nearest (cat, m) INCLUDE (since, until, parcel_id);
-- The parcels whose steps name a feature that changes.
CREATE INDEX parcel_nearest_code_idx ON parcel_nearest (code);

-- Every category: the search's, and one per chain role present.
CREATE OR REPLACE FUNCTION access_cats() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
  SELECT cat FROM access_categories
  UNION ALL
  SELECT DISTINCT 'role:' || chain_role FROM enterprises
$$;

-- The dates on which the nearest feature of a category can change: always, and each finish
-- date of a completed upgrade that adds (its own works) or builds (its infra_code, or a row of
-- its kind nearby) a feature of the category.
CREATE OR REPLACE FUNCTION access_dates(c text) RETURNS SETOF date
LANGUAGE sql STABLE AS $$
  SELECT '-infinity'::date
  UNION
  SELECT coalesce(u.finish_date, '-infinity'::date)
    FROM upgrades u
    JOIN access_categories ac ON ac.cat = c
    LEFT JOIN infrastructure i ON i.code = u.infra_code
   WHERE u.status = 'completed' AND (u.kind = ANY(ac.kinds) OR i.kind = ANY(ac.kinds))
$$;

-- Writers of the store take turns (until their transaction ends): each trigger computes from
-- what is committed once it holds the lock (plpgsql under READ COMMITTED takes a new snapshot
-- per statement), so two concurrent edits — a new parcel and a new substation beside it —
-- cannot each miss the other.
CREATE OR REPLACE FUNCTION access_lock() RETURNS void
LANGUAGE sql VOLATILE AS $$ SELECT pg_advisory_xact_lock(7413016) $$;

-- The steps of the (parcel, category) pairs given (parallel arrays): the nearest feature as of
-- each date of access_dates, kept where it is strictly nearer than at every earlier date.
CREATE OR REPLACE FUNCTION access_compute(ids bigint[], cats text[])
RETURNS TABLE (parcel_id bigint, cat text, since date, until date, m double precision,
               code text)
LANGUAGE sql STABLE AS $$
  WITH pairs AS (
      SELECT x.id, x.cat, q.gk_srid, ST_SetSRID(q.geom_gk, 0) AS g
        FROM unnest(ids, cats) AS x(id, cat)
        JOIN parcels q ON q.id = x.id
  ), steps AS (
      SELECT p.id, p.cat, d.d AS since, n.m, n.code
        FROM pairs p
        JOIN access_categories ac ON ac.cat = p.cat
        CROSS JOIN LATERAL access_dates(p.cat) AS d(d)
        CROSS JOIN LATERAL (
            SELECT ST_Distance(ST_SetSRID(i.geom_gk, 0), p.g) AS m, i.code
              FROM infra_as_of(d.d) i
             WHERE i.kind = ANY(ac.kinds) AND i.gk_srid = p.gk_srid
             ORDER BY ST_SetSRID(i.geom_gk, 0) <-> p.g, i.code
             LIMIT 1) n
      UNION ALL
      SELECT p.id, p.cat, '-infinity'::date, n.m, n.code
        FROM pairs p
        CROSS JOIN LATERAL (
            SELECT ST_Distance(ST_SetSRID(e.geom_gk, 0), p.g) AS m, e.code
              FROM enterprises e
             WHERE p.cat LIKE 'role:%' AND e.chain_role = substr(p.cat, 6)
               AND e.gk_srid = p.gk_srid
             ORDER BY ST_SetSRID(e.geom_gk, 0) <-> p.g, e.code
             LIMIT 1) n
  ), frontier AS (
      SELECT s.*, min(s.m) OVER (PARTITION BY s.id, s.cat ORDER BY s.since
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
        FROM steps s
  )
  SELECT f.id, f.cat, f.since,
         coalesce(lead(f.since) OVER (PARTITION BY f.id, f.cat ORDER BY f.since),
                  'infinity'::date),
         f.m, f.code
    FROM frontier f
   WHERE f.before IS NULL OR f.m < f.before
$$;

-- Bring the stored steps of these (parcel, category) pairs to what access_compute says,
-- writing only the rows that differ (an unaffected candidate keeps its row versions).
CREATE OR REPLACE FUNCTION access_refresh(ids bigint[], cats text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    fresh parcel_nearest[];
    n_del integer;
    n_ins integer;
BEGIN
    IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    SELECT coalesce(array_agg(ROW(c.parcel_id, c.cat, c.since, c.until, c.m, c.code)
                              ::parcel_nearest), '{}')
      INTO fresh FROM access_compute(ids, cats) c;
    DELETE FROM parcel_nearest s
     USING (SELECT DISTINCT x.id, x.cat FROM unnest(ids, cats) AS x(id, cat)) x
     WHERE s.parcel_id = x.id AND s.cat = x.cat
       AND NOT EXISTS (SELECT 1 FROM unnest(fresh) f
                        WHERE f.parcel_id = s.parcel_id AND f.cat = s.cat
                          AND f.since = s.since AND f.until = s.until
                          AND f.m = s.m AND f.code = s.code);
    GET DIAGNOSTICS n_del = ROW_COUNT;
    -- what is left under a key is identical to the fresh row (the others were deleted)
    INSERT INTO parcel_nearest
    SELECT f.* FROM unnest(fresh) f
     WHERE NOT EXISTS (SELECT 1 FROM parcel_nearest s
                        WHERE s.parcel_id = f.parcel_id AND s.cat = f.cat
                          AND s.since = f.since);
    GET DIAGNOSTICS n_ins = ROW_COUNT;
    RETURN n_del + n_ins;
END $$;

-- Distance as of d of one parcel and category (NULL row set when none): a plain SQL set
-- function, so the planner inlines it into a LATERAL join as a primary-key probe.
CREATE OR REPLACE FUNCTION access_m(pid bigint, c text, d date)
RETURNS TABLE (m double precision, code text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT a.m, a.code FROM parcel_nearest a
   WHERE a.parcel_id = pid AND a.cat = c AND a.since <= d AND a.until > d
$$;

-- Features ever in service, with the date they serve from: the state the triggers compare
-- parcels' steps against (the same three sources as infra_as_of).
CREATE OR REPLACE FUNCTION access_features(codes text[])
RETURNS TABLE (code text, kind text, gk_srid integer, g geometry, since date)
LANGUAGE sql STABLE AS $$
  SELECT i.code, i.kind, i.gk_srid, ST_SetSRID(i.geom_gk, 0), '-infinity'::date
    FROM infrastructure i
   WHERE i.code = ANY(codes) AND i.status = 'existing'
  UNION ALL
  SELECT i.code, i.kind, i.gk_srid, ST_SetSRID(i.geom_gk, 0), b.since
    FROM infrastructure i
    CROSS JOIN LATERAL (
        SELECT min(coalesce(u.finish_date, '-infinity'::date)) AS since
          FROM upgrades u
         WHERE u.status = 'completed'
           AND (u.infra_code = i.code
                OR (u.infra_code IS NULL AND u.kind = i.kind AND u.gk_srid = i.gk_srid
                    AND ST_DWithin(u.geom_gk, i.geom_gk, upgrade_builds_within_m())))) b
   WHERE i.code = ANY(codes) AND i.status <> 'existing' AND b.since IS NOT NULL
  UNION ALL
  SELECT u.code, u.kind, u.gk_srid, ST_SetSRID(u.geom_gk, 0),
         coalesce(u.finish_date, '-infinity'::date)
    FROM upgrades u
   WHERE u.code = ANY(codes) AND u.status = 'completed'
  UNION ALL
  SELECT e.code, 'role:' || e.chain_role, e.gk_srid, ST_SetSRID(e.geom_gk, 0),
         '-infinity'::date
    FROM enterprises e
   WHERE e.code = ANY(codes)
$$;

-- Recompute every category of the parcels with id in [lo, hi] (set-based; the repair and
-- bulk-load path, `parkgis db access rebuild` runs it in chunks). The same steps as
-- access_compute (tests/db/test_access.py checks both against brute force), faster for many
-- parcels: every feature ever in service is copied once, with its first day, into an indexed
-- temporary table, and each step is one nearest-neighbour probe of it (ties: lowest code,
-- as in access_compute).
CREATE OR REPLACE FUNCTION access_rebuild_range(lo bigint, hi bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF to_regclass('pg_temp.access_feat') IS NOT NULL THEN
        DROP TABLE pg_temp.access_feat, pg_temp.access_feat_dates;
    END IF;
    CREATE TEMP TABLE access_feat ON COMMIT DROP AS
    SELECT c.cat, f.gk_srid, f.since, f.code, f.g
      FROM access_features(ARRAY(SELECT code FROM infrastructure
                                 UNION ALL SELECT code FROM upgrades
                                 UNION ALL SELECT code FROM enterprises)) f
      JOIN (SELECT ac.cat, ac.kinds FROM access_categories ac
            UNION ALL
            SELECT 'role:' || r, ARRAY['role:' || r]
              FROM (SELECT DISTINCT chain_role FROM enterprises) e(r)) c
        ON f.kind = ANY(c.kinds);
    -- the category and zone lead (btree_gist) so a nearest-feature probe walks only its own
    -- category's features of its zone in distance order, never the whole province's
    CREATE INDEX ON access_feat USING gist (cat, gk_srid, g);
    ANALYZE access_feat;
    -- the days on which a category's nearest feature can change: its features' first days
    CREATE TEMP TABLE access_feat_dates ON COMMIT DROP AS
    SELECT DISTINCT cat, gk_srid, since FROM access_feat;
    ANALYZE access_feat_dates;
    DELETE FROM parcel_nearest WHERE parcel_id BETWEEN lo AND hi;
    INSERT INTO parcel_nearest
    WITH steps AS (
        SELECT q.id, d.cat, d.since, n.m, n.code
          FROM parcels q
          JOIN access_feat_dates d ON d.gk_srid = q.gk_srid
          -- index order by distance alone, every feature tied at the nearest distance kept
          -- (WITH TIES), then the lowest code among those: the same answer as ordering by
          -- (distance, code), without sorting every feature of the zone (23x at 10^6)
          CROSS JOIN LATERAL (
              SELECT k.m, k.code FROM (
                  SELECT ST_Distance(f.g, ST_SetSRID(q.geom_gk, 0)) AS m, f.code
                    FROM access_feat f
                   WHERE f.cat = d.cat AND f.gk_srid = q.gk_srid AND f.since <= d.since
                   ORDER BY f.g <-> ST_SetSRID(q.geom_gk, 0)
                   FETCH FIRST 1 ROW WITH TIES) k
               ORDER BY k.m, k.code
               LIMIT 1) n
         WHERE q.id BETWEEN lo AND hi
    ), frontier AS (
        SELECT s.*, min(s.m) OVER (PARTITION BY s.id, s.cat ORDER BY s.since
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
          FROM steps s
    )
    SELECT f.id, f.cat, f.since,
           coalesce(lead(f.since) OVER (PARTITION BY f.id, f.cat ORDER BY f.since),
                    'infinity'::date),
           f.m, f.code
      FROM frontier f
     WHERE f.before IS NULL OR f.m < f.before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- After features with these codes changed (inserted, edited, deleted): refresh the parcels
-- whose steps name one of them, and the parcels one of them (as it is now) could enter the
-- steps of — those of its GK zone nearer to it than their distance as of its start of
-- service. The search for the latter is bounded by the largest distance stored in the
-- category (GiST on the parcels), unless the zone had no feature of the category at all.
CREATE OR REPLACE FUNCTION access_features_changed(codes text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    reach double precision;
    ids bigint[] := '{}';
    cats text[] := '{}';
BEGIN
    IF coalesce(cardinality(codes), 0) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM access_lock();
    SELECT coalesce(array_agg(s.parcel_id), '{}'), coalesce(array_agg(s.cat), '{}')
      INTO ids, cats
      FROM (SELECT DISTINCT a.parcel_id, a.cat FROM parcel_nearest a
             WHERE a.code = ANY(codes)) s;
    FOR f IN
        SELECT af.*, c.cat
          FROM access_features(codes) af
          JOIN (SELECT ac.cat, ac.kinds FROM access_categories ac
                UNION ALL
                SELECT 'role:' || r, ARRAY['role:' || r]
                  FROM (SELECT DISTINCT chain_role FROM enterprises) e(r)) c
            ON af.kind = ANY(c.kinds)
    LOOP
        -- a zone with no feature of the category before: every parcel in it is a candidate
        -- (all parcels of a zone share its features: one parcel tells)
        IF NOT EXISTS (SELECT 1 FROM parcel_nearest a
                        WHERE a.cat = f.cat
                          AND a.parcel_id = (SELECT q.id FROM parcels q
                                              WHERE q.gk_srid = f.gk_srid LIMIT 1)) THEN
            reach := 'infinity';
        ELSE
            SELECT coalesce(max(a.m), 'infinity') INTO reach
              FROM parcel_nearest a WHERE a.cat = f.cat;
        END IF;
        SELECT ids || coalesce(array_agg(q.id), '{}'),
               cats || coalesce(array_agg(f.cat), '{}')
          INTO ids, cats
          FROM parcels q
         WHERE q.gk_srid = f.gk_srid
           AND (reach = 'infinity'
                OR ST_DWithin(ST_SetSRID(q.geom_gk, 0), f.g, reach))
           AND NOT EXISTS (
               SELECT 1 FROM parcel_nearest a
                WHERE a.parcel_id = q.id AND a.cat = f.cat
                  AND a.since <= f.since AND a.until > f.since
                  AND a.m <= ST_Distance(ST_SetSRID(q.geom_gk, 0), f.g));
    END LOOP;
    RETURN access_refresh(ids, cats);
END $$;

-- Features an upgrade touches: its own works, the row it names, and the rows of its kind
-- it builds by proximity (see infra_as_of).
CREATE OR REPLACE FUNCTION access_upgrade_codes(u upgrades) RETURNS text[]
LANGUAGE sql STABLE AS $$
  SELECT ARRAY[u.code] || coalesce(ARRAY[u.infra_code], '{}')
         || ARRAY(SELECT i.code FROM infrastructure i
                   WHERE u.infra_code IS NULL AND i.kind = u.kind AND i.gk_srid = u.gk_srid
                     AND ST_DWithin(ST_SetSRID(i.geom_gk, 0), ST_SetSRID(u.geom_gk, 0),
                                    upgrade_builds_within_m()))
$$;

-- Statement triggers with transition tables: one refresh per statement, whatever its rows.
CREATE OR REPLACE FUNCTION access_infra_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    codes text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.code) INTO codes FROM access_new n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.code) INTO codes FROM access_old o;
    ELSE
        SELECT array_agg(DISTINCT c) INTO codes
          FROM access_old o JOIN access_new n ON n.id = o.id
          CROSS JOIN LATERAL unnest(ARRAY[o.code, n.code]) c
         WHERE o.code IS DISTINCT FROM n.code OR o.kind IS DISTINCT FROM n.kind
            OR o.status IS DISTINCT FROM n.status OR o.gk_srid IS DISTINCT FROM n.gk_srid
            OR ST_AsBinary(o.geom_gk) IS DISTINCT FROM ST_AsBinary(n.geom_gk);
    END IF;
    PERFORM access_features_changed(codes);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION access_upgrade_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    codes text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT c) INTO codes
          FROM access_new n CROSS JOIN LATERAL unnest(access_upgrade_codes(n::upgrades)) c;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT c) INTO codes
          FROM access_old o CROSS JOIN LATERAL unnest(access_upgrade_codes(o::upgrades)) c;
    ELSE
        SELECT array_agg(DISTINCT c) INTO codes
          FROM access_old o JOIN access_new n ON n.id = o.id
          CROSS JOIN LATERAL unnest(access_upgrade_codes(o::upgrades)
                                    || access_upgrade_codes(n::upgrades)) c
         WHERE o.code IS DISTINCT FROM n.code OR o.kind IS DISTINCT FROM n.kind
            OR o.status IS DISTINCT FROM n.status OR o.gk_srid IS DISTINCT FROM n.gk_srid
            OR o.finish_date IS DISTINCT FROM n.finish_date
            OR o.infra_code IS DISTINCT FROM n.infra_code
            OR ST_AsBinary(o.geom_gk) IS DISTINCT FROM ST_AsBinary(n.geom_gk);
    END IF;
    PERFORM access_features_changed(codes);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION access_enterprise_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    codes text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.code) INTO codes FROM access_new n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.code) INTO codes FROM access_old o;
    ELSE
        SELECT array_agg(DISTINCT c) INTO codes
          FROM access_old o JOIN access_new n ON n.id = o.id
          CROSS JOIN LATERAL unnest(ARRAY[o.code, n.code]) c
         WHERE o.code IS DISTINCT FROM n.code OR o.chain_role IS DISTINCT FROM n.chain_role
            OR o.gk_srid IS DISTINCT FROM n.gk_srid
            OR ST_AsBinary(o.geom_gk) IS DISTINCT FROM ST_AsBinary(n.geom_gk);
    END IF;
    PERFORM access_features_changed(codes);
    RETURN NULL;
END $$;

-- A parcel inserted or moved: all its categories (row level; the WHEN clause keeps status and
-- attribute edits free). A deleted parcel's steps go by the foreign key's cascade.
CREATE OR REPLACE FUNCTION access_parcel_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM access_lock();
    PERFORM access_refresh(array_agg(NEW.id), array_agg(a.cat)) FROM access_cats() a(cat);
    RETURN NULL;
END $$;

CREATE TRIGGER parcels_access_ins AFTER INSERT ON parcels
    FOR EACH ROW EXECUTE FUNCTION access_parcel_trigger();
CREATE TRIGGER parcels_access_upd AFTER UPDATE ON parcels
    FOR EACH ROW
    WHEN (OLD.gk_srid IS DISTINCT FROM NEW.gk_srid
          OR ST_AsBinary(OLD.geom_gk) IS DISTINCT FROM ST_AsBinary(NEW.geom_gk))
    EXECUTE FUNCTION access_parcel_trigger();

CREATE TRIGGER infrastructure_access_ins AFTER INSERT ON infrastructure
    REFERENCING NEW TABLE AS access_new
    FOR EACH STATEMENT EXECUTE FUNCTION access_infra_trigger();
CREATE TRIGGER infrastructure_access_upd AFTER UPDATE ON infrastructure
    REFERENCING OLD TABLE AS access_old NEW TABLE AS access_new
    FOR EACH STATEMENT EXECUTE FUNCTION access_infra_trigger();
CREATE TRIGGER infrastructure_access_del AFTER DELETE ON infrastructure
    REFERENCING OLD TABLE AS access_old
    FOR EACH STATEMENT EXECUTE FUNCTION access_infra_trigger();

CREATE TRIGGER upgrades_access_ins AFTER INSERT ON upgrades
    REFERENCING NEW TABLE AS access_new
    FOR EACH STATEMENT EXECUTE FUNCTION access_upgrade_trigger();
CREATE TRIGGER upgrades_access_upd AFTER UPDATE ON upgrades
    REFERENCING OLD TABLE AS access_old NEW TABLE AS access_new
    FOR EACH STATEMENT EXECUTE FUNCTION access_upgrade_trigger();
CREATE TRIGGER upgrades_access_del AFTER DELETE ON upgrades
    REFERENCING OLD TABLE AS access_old
    FOR EACH STATEMENT EXECUTE FUNCTION access_upgrade_trigger();

CREATE TRIGGER enterprises_access_ins AFTER INSERT ON enterprises
    REFERENCING NEW TABLE AS access_new
    FOR EACH STATEMENT EXECUTE FUNCTION access_enterprise_trigger();
CREATE TRIGGER enterprises_access_upd AFTER UPDATE ON enterprises
    REFERENCING OLD TABLE AS access_old NEW TABLE AS access_new
    FOR EACH STATEMENT EXECUTE FUNCTION access_enterprise_trigger();
CREATE TRIGGER enterprises_access_del AFTER DELETE ON enterprises
    REFERENCING OLD TABLE AS access_old
    FOR EACH STATEMENT EXECUTE FUNCTION access_enterprise_trigger();

-- A database migrated with data in it gets its store now.
SELECT access_rebuild_range(min(id), max(id)) FROM parcels HAVING count(*) > 0;
