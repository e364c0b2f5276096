-- Pre-review (预审) and the project pipeline (issue 6, points 5–6).
--
-- Indicator tables are DATA, versioned: one row per (set, indicator, region tier, industry).
-- Money per area is stored in ONE unit, 万元/公顷 (the national tables' unit); local 标准地
-- figures in 万元/亩 are converted on the way in and out with the exact factor 15 (numeric).
-- Ratios are stored as fractions (0.30, not 30).

CREATE TABLE IF NOT EXISTS indicator_sets (
    version       text PRIMARY KEY CHECK (version ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
    name_zh       text NOT NULL,
    name_en       text NOT NULL,
    issued        date,
    source        text NOT NULL,
    is_active     boolean NOT NULL DEFAULT false,
    -- The region tier (地区分类) the park falls in under this set's tiering, and why.
    park_region_tier text,
    park_region_note text,
    note          text,
    updated_by    text NOT NULL DEFAULT 'system',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- At most one set is in force at a time.
CREATE UNIQUE INDEX IF NOT EXISTS indicator_sets_one_active ON indicator_sets ((true))
    WHERE is_active;

CREATE TABLE IF NOT EXISTS indicators (
    id            bigserial PRIMARY KEY,
    set_version   text NOT NULL REFERENCES indicator_sets(version)
                      ON UPDATE CASCADE ON DELETE CASCADE,
    indicator     text NOT NULL CHECK (indicator IN ('investment_intensity', 'floor_area_ratio',
                      'building_coverage', 'office_share', 'green_ratio', 'tax_per_mu')),
    region_tier   text,                 -- NULL: every tier
    industry_code text CHECK (industry_code ~ '^[0-9]{2,4}$'),  -- GB/T 4754; NULL: every industry
    industry_name text,
    min_value     numeric,
    max_value     numeric,
    unit          text NOT NULL CHECK (unit IN ('万元/公顷', 'ratio')),
    note          text,
    is_assumption boolean NOT NULL DEFAULT false,
    CHECK (min_value IS NOT NULL OR max_value IS NOT NULL),
    CHECK (min_value IS NULL OR max_value IS NULL OR max_value >= min_value),
    CHECK (unit <> 'ratio' OR ((min_value IS NULL OR min_value BETWEEN 0 AND 100)
                               AND (max_value IS NULL OR max_value BETWEEN 0 AND 100))),
    CHECK (min_value IS NULL OR min_value >= 0)
);
CREATE UNIQUE INDEX IF NOT EXISTS indicators_key ON indicators
    (set_version, indicator, coalesce(region_tier, ''), coalesce(industry_code, ''));

-- How a project's chain role maps to a GB/T 4754 industry code (data, editable like the table).
CREATE TABLE IF NOT EXISTS industry_map (
    chain_role    text PRIMARY KEY,
    industry_code text CHECK (industry_code ~ '^[0-9]{2,4}$'),   -- NULL: not an industrial project
    name_zh       text NOT NULL,
    name_en       text NOT NULL,
    note          text
);
ALTER TABLE projects ADD COLUMN IF NOT EXISTS industry_code text
    CHECK (industry_code ~ '^[0-9]{2,4}$');

-- ---------------------------------------------------------------- the pipeline

-- Append-only project history: stage changes and other pipeline edits.
CREATE TABLE IF NOT EXISTS project_events (
    id           bigserial PRIMARY KEY,
    project_code text NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text NOT NULL DEFAULT 'system',
    action       text NOT NULL,
    from_stage   text,
    to_stage     text,
    note         text,
    data         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS project_events_project_idx ON project_events (project_code, at);

CREATE OR REPLACE FUNCTION project_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'project_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS project_events_append_only ON project_events;
CREATE TRIGGER project_events_append_only BEFORE UPDATE OR DELETE ON project_events
    FOR EACH ROW EXECUTE FUNCTION project_events_append_only();

-- Every stage change writes its event in the same transaction, whoever makes it; who and why
-- come from the transaction-local settings the core sets (as for parcels).
CREATE OR REPLACE FUNCTION projects_stage_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stage IS DISTINCT FROM OLD.stage THEN
        INSERT INTO project_events (project_code, actor, action, from_stage, to_stage, note, data)
        VALUES (NEW.code, coalesce(nullif(current_setting('parkgis.actor', true), ''), 'system'),
                coalesce(nullif(current_setting('parkgis.action', true), ''), 'stage'),
                OLD.stage, NEW.stage, nullif(current_setting('parkgis.note', true), ''),
                coalesce(nullif(current_setting('parkgis.data', true), '')::jsonb, '{}'));
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS projects_stage_audit ON projects;
CREATE TRIGGER projects_stage_audit AFTER UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_stage_audit();

CREATE TABLE IF NOT EXISTS bottlenecks (
    id           bigserial PRIMARY KEY,
    project_code text NOT NULL REFERENCES projects(code) ON UPDATE CASCADE ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('land', 'eia', 'approvals', 'other')),
    description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    owner        text NOT NULL CHECK (length(owner) BETWEEN 1 AND 100),
    due_date     date,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'resolved')),
    resolution   text,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);
CREATE INDEX IF NOT EXISTS bottlenecks_project_idx ON bottlenecks (project_code);

CREATE TABLE IF NOT EXISTS complaints (
    id             bigserial PRIMARY KEY,
    received       date NOT NULL,
    complainant    text NOT NULL CHECK (length(complainant) BETWEEN 1 AND 200),
    project_code   text REFERENCES projects(code) ON UPDATE CASCADE ON DELETE SET NULL,
    enterprise_code text,
    category       text NOT NULL CHECK (category IN ('land', 'approvals', 'infrastructure',
                       'environment', 'tax', 'contract', 'service', 'other')),
    summary        text NOT NULL CHECK (length(summary) BETWEEN 1 AND 4000),
    status         text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'in_progress',
                       'resolved', 'closed')),
    handler        text,
    resolution     text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The inquiries inbox: who answered or closed a lead, when, and how.
ALTER TABLE inquiries ADD COLUMN IF NOT EXISTS handled_by text;
ALTER TABLE inquiries ADD COLUMN IF NOT EXISTS handled_at timestamptz;
ALTER TABLE inquiries ADD COLUMN IF NOT EXISTS reply_note text;
