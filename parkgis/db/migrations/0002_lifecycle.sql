-- Parcel lifecycle (issue 6): the audit trigger also records a jsonb payload, and expiring
-- reservations is an index scan.
--
-- parcel_events.data was always written as '{}' by 0001's trigger. The lifecycle and split/merge
-- code put the facts of a transition there (reservation expiry, listing notice, contract and
-- lease term, lineage of split/merge) through one more transaction-local setting,
-- parkgis.data (a JSON object), next to parkgis.actor / parkgis.action / parkgis.note. A bad
-- value fails the transaction, which is what an audit trail wants.

CREATE OR REPLACE FUNCTION parcels_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb := coalesce(nullif(current_setting('parkgis.data', true), '')::jsonb, '{}');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO parcel_events (parcel_code, actor, action, from_status, to_status, project_code, note, data)
        VALUES (NEW.code, coalesce(nullif(current_setting('parkgis.actor', true), ''), 'system'),
                coalesce(nullif(current_setting('parkgis.action', true), ''), 'create'),
                NULL, NEW.status, NEW.project_code,
                nullif(current_setting('parkgis.note', true), ''), payload);
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO parcel_events (parcel_code, actor, action, from_status, to_status, project_code, note, data)
        VALUES (NEW.code, coalesce(nullif(current_setting('parkgis.actor', true), ''), 'system'),
                coalesce(nullif(current_setting('parkgis.action', true), ''), 'status_change'),
                OLD.status, NEW.status, coalesce(NEW.project_code, OLD.project_code),
                nullif(current_setting('parkgis.note', true), ''), payload);
    END IF;
    RETURN NULL;
END $$;

CREATE INDEX IF NOT EXISTS parcels_reserved_until_idx ON parcels (reserved_until)
    WHERE status = 'reserved';
CREATE INDEX IF NOT EXISTS parcel_holds_active_idx ON parcel_holds (parcel_code) WHERE active;

-- Facts of a hold (contract number, lease term, listing notice) for later checks, e.g. that a
-- listing notice has run its 20 days before the parcel is allocated.
ALTER TABLE parcel_holds ADD COLUMN IF NOT EXISTS data jsonb NOT NULL DEFAULT '{}';
