-- Which parcels are adjacent, stored (issue 16 point 2: assembly at a province's 10^6 parcels).
--
-- parkgis.siting.assembly measured adjacency for every call: one GiST probe and an overlay per
-- pool parcel, 8.6 s of SQL for the 177 000 members of an assembly in every zone at 10^6. The
-- relation depends on geometry, zone, land use and code only, never on the project asked, so
-- it is kept here and a call joins it to its pool.
--
-- The definition (adjacency_measure; siting/assembly.py's docstring explains it): two parcels
-- of one zone and one 4-digit land-use class, within SNAP = 0.5 m of each other, whose shared
-- boundary -- the part of the lesser code's boundary lying within SNAP of the other parcel,
-- less 2 x SNAP for the ends of the common edge -- is longer than MIN_SHARED = 20 m (a corner
-- touch is not a site). shared_m is that measured length (ends included), a the lesser code.
-- Every parcel is stored whatever its status: a call keeps the pairs of its pool.
--
-- Derived only: an insert (one statement, any number of rows) and a change of a parcel's code,
-- geometry, zone or land use rewrite the pairs of the parcels concerned in the writing
-- transaction; a deleted parcel's pairs go with it. Writers take the parcels' geometry lock
-- (parcels_no_overlap, migration 0001), so two transactions adding neighbours one after the
-- other both see the pair. tests/siting/test_adjacency.py holds the store equal to its
-- definition after edits, on the sample and on a synthetic set.

CREATE TABLE parcel_adjacency (
    a_id     bigint NOT NULL REFERENCES parcels(id) ON DELETE CASCADE,
    b_id     bigint NOT NULL REFERENCES parcels(id) ON DELETE CASCADE,
    shared_m double precision NOT NULL,
    PRIMARY KEY (a_id, b_id)
);
CREATE INDEX parcel_adjacency_b_idx ON parcel_adjacency (b_id);

-- The adjacent pairs having a parcel in ``x_ids`` (each once, a the lesser code). With
-- ``lesser_only``, only those whose lesser code is in ``x_ids``: over disjoint id sets covering
-- every parcel, each pair exactly once (the set-based rebuild).
CREATE OR REPLACE FUNCTION adjacency_measure(x_ids bigint[], lesser_only boolean)
RETURNS TABLE (a_id bigint, b_id bigint, shared_m double precision)
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT m.a_id, m.b_id, m.shared_m
    FROM (SELECT DISTINCT u.id FROM unnest(x_ids) AS u(id)) u
    JOIN parcels x ON x.id = u.id
    -- One probe of parcels_gk0_idx per parcel. geom_gk mixes GK projections in a province,
    -- so distances are taken on the SRID-stripped expression the index is built on, always
    -- with gk_srid equal. OFFSET 0 keeps the planner from turning the probe into a join on
    -- zone and land use (which would measure every pair of a zone).
    CROSS JOIN LATERAL (
        SELECT y.id, y.code, y.zone_code, y.landuse_code, y.geom_gk
          FROM parcels y
         WHERE ST_DWithin(ST_SetSRID(y.geom_gk, 0), ST_SetSRID(x.geom_gk, 0), 0.5)
           AND y.gk_srid = x.gk_srid
           AND y.id <> x.id
        OFFSET 0
    ) y
    CROSS JOIN LATERAL (
        SELECT CASE WHEN x.code < y.code THEN x.id ELSE y.id END AS a_id,
               CASE WHEN x.code < y.code THEN y.id ELSE x.id END AS b_id,
               CASE WHEN x.code < y.code THEN x.geom_gk ELSE y.geom_gk END AS ag,
               CASE WHEN x.code < y.code THEN y.geom_gk ELSE x.geom_gk END AS bg
    ) o
    CROSS JOIN LATERAL (
        SELECT o.a_id, o.b_id,
               ST_Length(ST_Intersection(ST_Boundary(o.ag),
                                         ST_Buffer(o.bg, 0.5, 'quad_segs=1'))) AS shared_m
    ) m
   WHERE y.zone_code = x.zone_code
     AND left(y.landuse_code, 4) = left(x.landuse_code, 4)
     AND (NOT lesser_only OR y.code > x.code)
     -- The shared boundary lies inside b's box grown by SNAP: a rectangle clip bounds its
     -- length from above, so corner touches are dropped before the buffer and overlay.
     AND ST_Length(ST_ClipByBox2D(ST_Boundary(o.ag), ST_Expand(box2d(o.bg), 0.5)))
         > 20.0 + 2 * 0.5
     AND m.shared_m - 2 * 0.5 > 20.0
$$;

-- Rewrites the pairs of parcels ``ids`` under the parcels' geometry lock.
CREATE OR REPLACE FUNCTION adjacency_refresh(ids bigint[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7413012);
    DELETE FROM parcel_adjacency WHERE a_id = ANY(ids) OR b_id = ANY(ids);
    INSERT INTO parcel_adjacency SELECT * FROM adjacency_measure(ids, false);
END $$;

-- Every pair again, set-based (after a bulk load with the triggers off).
CREATE OR REPLACE FUNCTION adjacency_rebuild() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7413012);
    DELETE FROM parcel_adjacency;
    INSERT INTO parcel_adjacency
    SELECT * FROM adjacency_measure(ARRAY(SELECT id FROM parcels), true);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION adjacency_insert_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM adjacency_refresh(ARRAY(SELECT id FROM adjacency_new));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION adjacency_update_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM adjacency_refresh(ARRAY[NEW.id]);
    RETURN NULL;
END $$;

CREATE TRIGGER parcels_adjacency_ins AFTER INSERT ON parcels
    REFERENCING NEW TABLE AS adjacency_new
    FOR EACH STATEMENT EXECUTE FUNCTION adjacency_insert_trigger();
-- Per row and per column: a status change (most parcel writes) does not fire it. geom_gk and
-- gk_srid follow geom and zone_code (parcels_measure), and are listed for a direct write.
CREATE TRIGGER parcels_adjacency_upd
    AFTER UPDATE OF code, geom, geom_gk, gk_srid, zone_code, landuse_code ON parcels
    FOR EACH ROW
    WHEN (OLD.code IS DISTINCT FROM NEW.code
          OR OLD.geom_gk IS DISTINCT FROM NEW.geom_gk
          OR OLD.gk_srid IS DISTINCT FROM NEW.gk_srid
          OR OLD.zone_code IS DISTINCT FROM NEW.zone_code
          OR OLD.landuse_code IS DISTINCT FROM NEW.landuse_code)
    EXECUTE FUNCTION adjacency_update_trigger();

SELECT adjacency_rebuild();
ANALYZE parcel_adjacency;
