-- Core schema: zones, parcels, infrastructure, upgrades, enterprises, projects, audit, users,
-- inquiries. Geometry is CGCS2000 lon/lat (EPSG:4490); every measurement uses the zone's
-- CGCS2000 3-degree Gauss-Krueger projection (geom_gk), filled by triggers so no client can
-- store an area that disagrees with its geometry.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The CGCS2000 3-degree GK zones with zone number prefix in the easting are EPSG:4513-4533;
-- those "CM xxxE" without the prefix (false easting 500 km) are EPSG:4534-4554.
CREATE FUNCTION gk_srid_for_lon(lon double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 4534 + (round(lon / 3.0)::int - 25)
$$;

CREATE FUNCTION geom_ok(g geometry) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT g IS NOT NULL AND NOT ST_IsEmpty(g) AND ST_IsValid(g)
$$;

-- 1 mu = 10000/15 m2 exactly; numeric keeps it exact until display.
CREATE FUNCTION m2_to_mu(m2 double precision) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (m2::numeric * 15) / 10000 $$;

CREATE TABLE zones (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('cluster_zone', 'specialised_park', 'logistics_park')),
    status      text NOT NULL CHECK (status IN ('approved', 'proposed')),
    gk_srid     integer NOT NULL CHECK (gk_srid BETWEEN 4534 AND 4554),
    leading_industries text[] NOT NULL DEFAULT '{}',
    description_zh text,
    description_en text,
    area_m2     double precision NOT NULL DEFAULT 0,
    geom        geometry(MultiPolygon, 4490) NOT NULL CHECK (geom_ok(geom)),
    geom_gk     geometry(MultiPolygon) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION zones_measure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.geom_gk := ST_Multi(ST_Transform(NEW.geom, NEW.gk_srid));
    NEW.area_m2 := ST_Area(NEW.geom_gk);
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER zones_measure BEFORE INSERT OR UPDATE ON zones
    FOR EACH ROW EXECUTE FUNCTION zones_measure();
CREATE INDEX zones_geom_idx ON zones USING gist (geom);

-- The county (and other reference boundaries) for maps; not a park.
CREATE TABLE boundaries (
    id       serial PRIMARY KEY,
    code     text NOT NULL UNIQUE,
    name_zh  text NOT NULL,
    name_en  text NOT NULL,
    level    text NOT NULL CHECK (level IN ('province', 'prefecture', 'county', 'township')),
    source   text,
    geom     geometry(MultiPolygon, 4490) NOT NULL CHECK (geom_ok(geom))
);
CREATE INDEX boundaries_geom_idx ON boundaries USING gist (geom);

CREATE TABLE parcels (
    id            bigserial PRIMARY KEY,
    code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    zone_code     text NOT NULL REFERENCES zones(code) ON UPDATE CASCADE,
    status        text NOT NULL CHECK (status IN ('available', 'reserved', 'listed', 'allocated',
                      'under_construction', 'operational', 'not_for_supply', 'historic')),
    landuse_code  text NOT NULL CHECK (landuse_code ~ '^[0-9]{2}([0-9]{2}){0,2}$'),
    landuse_alias text,                               -- GB 50137-2011: M1/M2/M3, W1/W2/W3, ...
    gk_srid       integer NOT NULL,
    area_m2       double precision NOT NULL,
    area_mu       numeric GENERATED ALWAYS AS (m2_to_mu(area_m2)) STORED,
    area_ha       numeric GENERATED ALWAYS AS (area_m2::numeric / 10000) STORED,
    -- 七通一平: seven connections and a levelled site
    svc_road      boolean NOT NULL DEFAULT false,
    svc_water     boolean NOT NULL DEFAULT false,
    svc_drainage  boolean NOT NULL DEFAULT false,
    svc_power     boolean NOT NULL DEFAULT false,
    svc_gas       boolean NOT NULL DEFAULT false,
    svc_heat      boolean NOT NULL DEFAULT false,
    svc_telecom   boolean NOT NULL DEFAULT false,
    svc_levelled  boolean NOT NULL DEFAULT false,
    land_price_wan_per_mu numeric CHECK (land_price_wan_per_mu >= 0),  -- benchmark price
    enterprise_code text,                             -- occupant, once operational
    project_code  text,                               -- project holding or using it
    reserved_until date,
    parent_codes  text[] NOT NULL DEFAULT '{}',       -- lineage after split/merge
    note_internal text,                               -- confidential: never on public routes
    version       integer NOT NULL DEFAULT 1,         -- row version behind ETag / If-Match
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    geom          geometry(MultiPolygon, 4490) NOT NULL CHECK (geom_ok(geom)),
    geom_gk       geometry(MultiPolygon) NOT NULL
);
CREATE INDEX parcels_geom_idx ON parcels USING gist (geom);
CREATE INDEX parcels_geom_gk_idx ON parcels USING gist (geom_gk);
CREATE INDEX parcels_status_idx ON parcels (status);
CREATE INDEX parcels_zone_idx ON parcels (zone_code);
CREATE INDEX parcels_landuse_idx ON parcels (landuse_code text_pattern_ops);

CREATE FUNCTION parcels_measure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.geom IS DISTINCT FROM OLD.geom OR NEW.zone_code IS DISTINCT FROM OLD.zone_code THEN
        SELECT z.gk_srid INTO NEW.gk_srid FROM zones z WHERE z.code = NEW.zone_code;
        IF NEW.gk_srid IS NULL THEN
            RAISE EXCEPTION 'parcel %: unknown zone %', NEW.code, NEW.zone_code
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        NEW.geom_gk := ST_Multi(ST_Transform(NEW.geom, NEW.gk_srid));
        NEW.area_m2 := ST_Area(NEW.geom_gk);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER parcels_a_measure BEFORE INSERT OR UPDATE ON parcels
    FOR EACH ROW EXECUTE FUNCTION parcels_measure();

-- No two live parcels may share area. Touching edges are fine, so this is an interior/interior
-- test (ST_Relate '2********') with a 0.01 m2 tolerance for coordinate noise, never a bare &&.
-- The advisory lock serialises geometry writes so two concurrent inserts cannot both pass.
CREATE FUNCTION parcels_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
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
       -- An upsert's BEFORE INSERT trigger sees the stored row with the same (unique) code:
       -- that is the parcel being updated, not a neighbour.
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
CREATE TRIGGER parcels_b_no_overlap BEFORE INSERT OR UPDATE ON parcels
    FOR EACH ROW EXECUTE FUNCTION parcels_no_overlap();

-- Append-only audit: every status change writes one row in the same transaction.
CREATE TABLE parcel_events (
    id           bigserial PRIMARY KEY,
    parcel_code  text NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text NOT NULL DEFAULT 'system',
    action       text NOT NULL,
    from_status  text,
    to_status    text,
    project_code text,
    note         text,
    data         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX parcel_events_parcel_idx ON parcel_events (parcel_code, at);

CREATE FUNCTION parcel_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'parcel_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER parcel_events_append_only BEFORE UPDATE OR DELETE ON parcel_events
    FOR EACH ROW EXECUTE FUNCTION parcel_events_append_only();

-- Who and why come from transaction-local settings the store sets (parkgis.actor,
-- parkgis.action, parkgis.note); the trigger guarantees the row exists whatever the caller.
CREATE FUNCTION parcels_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO parcel_events (parcel_code, actor, action, from_status, to_status, project_code, note)
        VALUES (NEW.code, coalesce(nullif(current_setting('parkgis.actor', true), ''), 'system'),
                coalesce(nullif(current_setting('parkgis.action', true), ''), 'create'),
                NULL, NEW.status, NEW.project_code,
                nullif(current_setting('parkgis.note', true), ''));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO parcel_events (parcel_code, actor, action, from_status, to_status, project_code, note)
        VALUES (NEW.code, coalesce(nullif(current_setting('parkgis.actor', true), ''), 'system'),
                coalesce(nullif(current_setting('parkgis.action', true), ''), 'status_change'),
                OLD.status, NEW.status, coalesce(NEW.project_code, OLD.project_code),
                nullif(current_setting('parkgis.note', true), ''));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER parcels_c_audit AFTER INSERT OR UPDATE ON parcels
    FOR EACH ROW EXECUTE FUNCTION parcels_audit();

-- Reservations, listings and allocations over time: never two active ones on one parcel.
CREATE TABLE parcel_holds (
    id           bigserial PRIMARY KEY,
    parcel_code  text NOT NULL REFERENCES parcels(code) ON UPDATE CASCADE,
    project_code text,
    kind         text NOT NULL CHECK (kind IN ('reserved', 'listed', 'allocated')),
    during       tstzrange NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    actor        text NOT NULL DEFAULT 'system',
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT parcel_holds_one_active EXCLUDE USING gist (parcel_code WITH =, during WITH &&)
        WHERE (active)
);

-- Terrain figures per parcel (filled by `parkgis terrain load`); kept apart from parcels so a
-- refresh does not bump parcel versions (ETags) that planners hold.
CREATE TABLE parcel_terrain (
    parcel_code        text PRIMARY KEY REFERENCES parcels(code) ON UPDATE CASCADE ON DELETE CASCADE,
    elev_min_m         double precision,
    elev_max_m         double precision,
    elev_mean_m        double precision,
    slope_mean_deg     double precision,
    slope_max_deg      double precision,
    steep_share        double precision,
    flood_share        double precision,
    flood_max_depth_m  double precision,
    earthwork_cut_m3   double precision,
    earthwork_fill_m3  double precision,
    computed_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE infrastructure (
    id            serial PRIMARY KEY,
    code          text NOT NULL UNIQUE,
    kind          text NOT NULL CHECK (kind IN ('expressway', 'national_road', 'trunk_road',
                      'local_road', 'railway', 'rail_siding', 'rail_station', 'water_main',
                      'water_plant', 'sewer', 'wastewater_plant', 'power_line', 'substation',
                      'gas_main', 'gas_station', 'heat_main', 'telecom', 'river')),
    name_zh       text NOT NULL,
    name_en       text NOT NULL,
    status        text NOT NULL DEFAULT 'existing' CHECK (status IN ('existing', 'planned', 'under_construction')),
    capacity      double precision CHECK (capacity >= 0),   -- MVA, t/day, m3/day ... see capacity_unit
    capacity_unit text,
    voltage_kv    double precision,
    diameter_mm   double precision,
    gk_srid       integer NOT NULL DEFAULT 4547,
    geom          geometry(Geometry, 4490) NOT NULL CHECK (geom_ok(geom) AND GeometryType(geom) IN
                      ('POINT', 'LINESTRING', 'MULTILINESTRING', 'POLYGON', 'MULTIPOLYGON')),
    geom_gk       geometry NOT NULL
);
CREATE INDEX infrastructure_geom_idx ON infrastructure USING gist (geom);
CREATE INDEX infrastructure_geom_gk_idx ON infrastructure USING gist (geom_gk);
CREATE INDEX infrastructure_kind_idx ON infrastructure (kind);

CREATE TABLE upgrades (
    id              serial PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    infra_code      text REFERENCES infrastructure(code) ON UPDATE CASCADE,
    kind            text NOT NULL,        -- same vocabulary as infrastructure.kind
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    capacity_added  double precision,
    capacity_unit   text,
    cost_wan        numeric CHECK (cost_wan >= 0),     -- 万元
    start_date      date,
    finish_date     date,
    status          text NOT NULL CHECK (status IN ('planned', 'under_way', 'completed')),
    operator        text,
    gk_srid         integer NOT NULL DEFAULT 4547,
    geom            geometry(Geometry, 4490) NOT NULL CHECK (geom_ok(geom)),
    geom_gk         geometry NOT NULL,
    CHECK (finish_date IS NULL OR start_date IS NULL OR finish_date >= start_date)
);
CREATE INDEX upgrades_geom_idx ON upgrades USING gist (geom);
CREATE INDEX upgrades_geom_gk_idx ON upgrades USING gist (geom_gk);

CREATE TABLE enterprises (
    id           serial PRIMARY KEY,
    code         text NOT NULL UNIQUE,
    name_zh      text NOT NULL,
    name_en      text NOT NULL,
    industry     text NOT NULL,           -- food_beverage_packaging, green_building_materials, ...
    chain_role   text NOT NULL,           -- brewery, can_making, film, ...
    is_anchor    boolean NOT NULL DEFAULT false,
    parcel_code  text,
    zone_code    text REFERENCES zones(code) ON UPDATE CASCADE,
    employees    integer,
    contact      text,                    -- confidential
    gk_srid      integer NOT NULL DEFAULT 4547,
    geom         geometry(Point, 4490) NOT NULL CHECK (geom_ok(geom)),
    geom_gk      geometry NOT NULL
);
CREATE INDEX enterprises_geom_idx ON enterprises USING gist (geom);
CREATE INDEX enterprises_geom_gk_idx ON enterprises USING gist (geom_gk);
CREATE INDEX enterprises_role_idx ON enterprises (chain_role);

CREATE FUNCTION features_measure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.geom_gk := ST_Transform(NEW.geom, NEW.gk_srid);
    RETURN NEW;
END $$;
CREATE TRIGGER infrastructure_measure BEFORE INSERT OR UPDATE ON infrastructure
    FOR EACH ROW EXECUTE FUNCTION features_measure();
CREATE TRIGGER upgrades_measure BEFORE INSERT OR UPDATE ON upgrades
    FOR EACH ROW EXECUTE FUNCTION features_measure();
CREATE TRIGGER enterprises_measure BEFORE INSERT OR UPDATE ON enterprises
    FOR EACH ROW EXECUTE FUNCTION features_measure();

CREATE TABLE projects (
    id                  serial PRIMARY KEY,
    code                text NOT NULL UNIQUE,
    name_zh             text NOT NULL,
    name_en             text NOT NULL,
    industry            text NOT NULL,
    chain_role          text,
    stage               text NOT NULL DEFAULT 'lead' CHECK (stage IN ('lead', 'negotiating',
                            'signed', 'land_supplied', 'under_construction', 'operational', 'lost')),
    min_area_mu         numeric CHECK (min_area_mu > 0),
    max_area_mu         numeric CHECK (max_area_mu > 0),
    footprint_length_m  double precision CHECK (footprint_length_m > 0),
    footprint_width_m   double precision CHECK (footprint_width_m > 0),
    landuse_codes       text[] NOT NULL DEFAULT '{}',  -- prefixes: '1001' admits '100102'
    power_kva           double precision CHECK (power_kva >= 0),
    water_tpd           double precision CHECK (water_tpd >= 0),
    wastewater_tpd      double precision CHECK (wastewater_tpd >= 0),
    gas_m3pd            double precision CHECK (gas_m3pd >= 0),
    rail_required       boolean NOT NULL DEFAULT false,
    max_rail_m          double precision,
    max_trunk_road_m    double precision,
    hazard_class        text,
    min_sensitive_m     double precision,
    preferred_neighbours text[] NOT NULL DEFAULT '{}',  -- chain roles up/downstream
    start_date          date,
    land_budget_wan     numeric,
    investment_wan      numeric,
    expected_tax_wan    numeric,                        -- per year
    floor_area_ratio    double precision,
    building_coverage   double precision,
    green_ratio         double precision,
    office_share        double precision,
    max_slope_deg       double precision,
    max_flood_share     double precision,
    weights             jsonb NOT NULL DEFAULT '{}',
    source_township     text,
    township_tax_share  numeric CHECK (township_tax_share BETWEEN 0 AND 1),
    fostered            boolean NOT NULL DEFAULT false,  -- 项目寄养
    target_quarter      text,
    contact             text,                            -- confidential
    negotiation_notes   text,                            -- confidential
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (max_area_mu IS NULL OR min_area_mu IS NULL OR max_area_mu >= min_area_mu)
);

CREATE TABLE users (
    id            serial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('investor', 'planner', 'admin')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inquiries (
    id           bigserial PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    company      text CHECK (length(company) <= 200),
    contact      text NOT NULL CHECK (length(contact) BETWEEN 3 AND 200),
    message      text NOT NULL CHECK (length(message) BETWEEN 1 AND 4000),
    parcel_codes text[] NOT NULL DEFAULT '{}',
    lang         text NOT NULL DEFAULT 'zh',
    client       text,
    status       text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'answered', 'closed'))
);

-- Bumped by every write to a layer; tiles and caches key on it so edits invalidate them.
CREATE TABLE data_versions (
    layer   text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 1,
    changed timestamptz NOT NULL DEFAULT now()
);
INSERT INTO data_versions(layer) VALUES
    ('zones'), ('parcels'), ('infrastructure'), ('upgrades'), ('enterprises'), ('projects'),
    ('boundaries');

CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE data_versions SET version = version + 1, changed = now() WHERE layer = TG_TABLE_NAME;
    RETURN NULL;
END $$;
CREATE TRIGGER zones_version AFTER INSERT OR UPDATE OR DELETE ON zones
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER parcels_version AFTER INSERT OR UPDATE OR DELETE ON parcels
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER infrastructure_version AFTER INSERT OR UPDATE OR DELETE ON infrastructure
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER upgrades_version AFTER INSERT OR UPDATE OR DELETE ON upgrades
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER enterprises_version AFTER INSERT OR UPDATE OR DELETE ON enterprises
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER projects_version AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER boundaries_version AFTER INSERT OR UPDATE OR DELETE ON boundaries
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
