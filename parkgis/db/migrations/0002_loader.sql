-- Upsert by code (INSERT ... ON CONFLICT (code) DO UPDATE) must work for parcels.
--
-- PostgreSQL fires BEFORE INSERT row triggers on the proposed row before it discovers the
-- conflict. 0001's overlap trigger excluded only `p.id <> NEW.id`; the proposed row carries a
-- fresh serial id, so re-loading an unchanged parcel found the stored row with the same code as
-- an "overlapping live parcel" and refused every update. The row with the same code is the very
-- parcel being updated (the code is UNIQUE), so it is excluded too. Nothing else changes.

CREATE OR REPLACE FUNCTION parcels_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    other text;
BEGIN
    IF NEW.status = 'historic' THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom AND OLD.status <> 'historic' THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(7413012);
    SELECT p.code INTO other
      FROM parcels p
     WHERE p.id <> NEW.id
       AND p.code <> NEW.code
       AND p.status <> 'historic'
       AND p.geom && NEW.geom
       AND ST_Relate(p.geom, NEW.geom, '2********')
       AND ST_Area(ST_Intersection(p.geom_gk, ST_Transform(NEW.geom, p.gk_srid))) > 0.01
     LIMIT 1;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'parcel % overlaps live parcel %', NEW.code, other
            USING ERRCODE = 'exclusion_violation', HINT = 'parcels may touch but not share area';
    END IF;
    RETURN NEW;
END $$;
