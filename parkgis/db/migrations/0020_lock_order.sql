-- One order for the stores' turns: the parcels' geometry lock (7413012), then the access
-- store's (7413016).
--
-- A parcel write takes the geometry lock (parcels_no_overlap, migration 0001; the adjacency
-- store, migration 0019) and then, through the access, servicing and reach stores' triggers,
-- access_lock(). A transaction that first edited infrastructure, an upgrade or an enterprise
-- (access_lock() only) and then a parcel's land use (the geometry lock, for adjacency) took
-- them the other way round: beside a parcel write, each waited for the other and PostgreSQL
-- aborted one of them as a deadlock. access_lock() now takes the geometry lock first: the
-- turns are taken in one order by every writer. Advisory locks are re-entrant within a
-- transaction, so a parcel write that already holds the geometry lock takes it again at no
-- cost. The price is that an infrastructure edit waits for a parcel geometry edit in flight
-- (both rare, and each short). tests/db/test_lock_order.py runs the crossing writers.
CREATE OR REPLACE FUNCTION access_lock() RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(7413012);
    SELECT pg_advisory_xact_lock(7413016);
$$;
