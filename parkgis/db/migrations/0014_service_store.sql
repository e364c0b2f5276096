-- 七通一平 from completed upgrades, precomputed (issues #12 and #16): the date from which a
-- completed upgrade serves a parcel, per service, kept by triggers in the writing transaction.
--
-- svc_as_of (migration 0011) stays the definition: a parcel is served on d when its survey says
-- so or a completed upgrade of a kind that serves the service lies within that kind's reach
-- (service_reach) and is done by d (upgrade_done). Whether an upgrade is done by d is a step
-- of d: from its finish date on ('-infinity' when completed without a date). So per parcel
-- and service one date answers every d: the earliest such step over the upgrades reaching it.
-- The tiles, items, search, the sheet and fit read one row per parcel (a primary-key probe)
-- instead of eight spatial sub-selects; tests/db/test_svc_store.py holds the store equal to
-- svc_as_of on every parcel, service and date where an answer can change, after every kind
-- of edit.
--
-- Sparse: a parcel no completed upgrade reaches has no row (most parcels), and its flags are
-- its survey's.
CREATE TABLE parcel_services (
    parcel_id bigint PRIMARY KEY REFERENCES parcels(id) ON DELETE CASCADE,
    road      date,
    water     date,
    drainage  date,
    power     date,
    gas       date,
    heat      date,
    telecom   date,
    levelled  date
);

-- The rows of the parcels given (all parcels when ids is NULL): only those some completed
-- upgrade reaches. upgrade_done(…, 'infinity') is "completed at all"; the date from which it
-- is done is its finish date.
CREATE OR REPLACE FUNCTION svc_store_compute(ids bigint[]) RETURNS SETOF parcel_services
LANGUAGE sql STABLE AS $$
  SELECT p.id,
         min(s.since) FILTER (WHERE r.service = 'road'),
         min(s.since) FILTER (WHERE r.service = 'water'),
         min(s.since) FILTER (WHERE r.service = 'drainage'),
         min(s.since) FILTER (WHERE r.service = 'power'),
         min(s.since) FILTER (WHERE r.service = 'gas'),
         min(s.since) FILTER (WHERE r.service = 'heat'),
         min(s.since) FILTER (WHERE r.service = 'telecom'),
         min(s.since) FILTER (WHERE r.service = 'levelled')
    FROM upgrades u
    JOIN service_reach r ON r.kind = u.kind
    JOIN parcels p
      ON p.gk_srid = u.gk_srid
     AND ST_DWithin(ST_SetSRID(p.geom_gk, 0), ST_SetSRID(u.geom_gk, 0), r.reach_m)
   CROSS JOIN LATERAL (SELECT coalesce(u.finish_date, '-infinity'::date) AS since) s
   WHERE upgrade_done(u.status, u.finish_date, 'infinity'::date)
     AND (ids IS NULL OR p.id = ANY(ids))
   GROUP BY p.id
$$;

-- Replace the rows of these parcels (NULL: every parcel) by what svc_store_compute says.
-- Writers take the access store's turn (access_lock, migration 0013): a new parcel and a new
-- upgrade beside it, written concurrently, cannot each miss the other.
CREATE OR REPLACE FUNCTION svc_store_refresh(ids bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF ids IS NOT NULL AND cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM access_lock();
    IF ids IS NULL THEN
        DELETE FROM parcel_services;
    ELSE
        DELETE FROM parcel_services WHERE parcel_id = ANY(ids);
    END IF;
    INSERT INTO parcel_services SELECT * FROM svc_store_compute(ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The parcels an upgrade (as it was or as it is) can serve: those of its GK zone within the
-- largest reach of its kind.
CREATE OR REPLACE FUNCTION svc_store_reached(srid integer, g geometry, k text)
RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
  SELECT p.id FROM parcels p
   WHERE p.gk_srid = srid
     AND ST_DWithin(ST_SetSRID(p.geom_gk, 0), ST_SetSRID(g, 0),
                    (SELECT max(r.reach_m) FROM service_reach r WHERE r.kind = k))
$$;

-- Statement triggers with transition tables: one refresh per statement, whatever its rows.
CREATE OR REPLACE FUNCTION svc_store_upgrade_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT x) INTO ids
          FROM svc_new n CROSS JOIN LATERAL svc_store_reached(n.gk_srid, n.geom_gk, n.kind) x
         WHERE upgrade_done(n.status, n.finish_date, 'infinity'::date);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT x) INTO ids
          FROM svc_old o CROSS JOIN LATERAL svc_store_reached(o.gk_srid, o.geom_gk, o.kind) x
         WHERE upgrade_done(o.status, o.finish_date, 'infinity'::date);
    ELSE
        SELECT array_agg(DISTINCT x) INTO ids
          FROM svc_old o JOIN svc_new n ON n.id = o.id
          CROSS JOIN LATERAL (
              SELECT svc_store_reached(o.gk_srid, o.geom_gk, o.kind)
              UNION
              SELECT svc_store_reached(n.gk_srid, n.geom_gk, n.kind)) r(x)
         WHERE (upgrade_done(o.status, o.finish_date, 'infinity'::date)
                OR upgrade_done(n.status, n.finish_date, 'infinity'::date))
           AND (o.kind IS DISTINCT FROM n.kind OR o.status IS DISTINCT FROM n.status
                OR o.finish_date IS DISTINCT FROM n.finish_date
                OR o.gk_srid IS DISTINCT FROM n.gk_srid
                OR ST_AsBinary(o.geom_gk) IS DISTINCT FROM ST_AsBinary(n.geom_gk));
    END IF;
    PERFORM svc_store_refresh(coalesce(ids, '{}'));
    RETURN NULL;
END $$;

CREATE TRIGGER upgrades_svc_ins AFTER INSERT ON upgrades
    REFERENCING NEW TABLE AS svc_new
    FOR EACH STATEMENT EXECUTE FUNCTION svc_store_upgrade_trigger();
CREATE TRIGGER upgrades_svc_upd AFTER UPDATE ON upgrades
    REFERENCING OLD TABLE AS svc_old NEW TABLE AS svc_new
    FOR EACH STATEMENT EXECUTE FUNCTION svc_store_upgrade_trigger();
CREATE TRIGGER upgrades_svc_del AFTER DELETE ON upgrades
    REFERENCING OLD TABLE AS svc_old
    FOR EACH STATEMENT EXECUTE FUNCTION svc_store_upgrade_trigger();

-- A parcel inserted or moved (row level; the WHEN clause keeps status and attribute edits
-- free). A deleted parcel's row goes by the foreign key's cascade.
CREATE OR REPLACE FUNCTION svc_store_parcel_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM svc_store_refresh(ARRAY[NEW.id]);
    RETURN NULL;
END $$;

CREATE TRIGGER parcels_svc_ins AFTER INSERT ON parcels
    FOR EACH ROW EXECUTE FUNCTION svc_store_parcel_trigger();
CREATE TRIGGER parcels_svc_upd AFTER UPDATE ON parcels
    FOR EACH ROW
    WHEN (OLD.gk_srid IS DISTINCT FROM NEW.gk_srid
          OR ST_AsBinary(OLD.geom_gk) IS DISTINCT FROM ST_AsBinary(NEW.geom_gk))
    EXECUTE FUNCTION svc_store_parcel_trigger();

-- A park retuning which kinds serve what, and how far: rare, so everything is recomputed.
CREATE OR REPLACE FUNCTION svc_store_reach_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM svc_store_refresh(NULL);
    RETURN NULL;
END $$;

CREATE TRIGGER service_reach_svc AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_reach
    FOR EACH STATEMENT EXECUTE FUNCTION svc_store_reach_trigger();

-- A database migrated with data in it gets its store now.
SELECT svc_store_refresh(NULL);
