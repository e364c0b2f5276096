-- Road-network access with pgRouting and the reference places layer (issue #15, points 1-2).
--
-- Straight lines flatter a site across a river or behind a rail line; investors ask how long a
-- truck takes. The road layer (infrastructure kinds in road_speeds) becomes a routable graph,
-- noded where roads cross; the expressway joins the rest only at interchanges (a truck cannot
-- get on at a flyover). Every parcel's drive to the interchange, the rail freight yard, the
-- county seat and the cities is kept in parcel_access, refreshed by refresh_parcel_access()
-- (called by the loader and by split/merge; parkgis.network). What lies beyond the network
-- is estimated by a straight line times a detour factor at an average speed, flagged
-- ``estimate``.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting') THEN
        RAISE EXCEPTION 'pgRouting is not installed on this PostgreSQL server: install the '
            'Debian package postgresql-15-pgrouting (scripts/install-system-deps.sh) and '
            'run the migrations again';
    END IF;
END $$;
CREATE EXTENSION IF NOT EXISTS pgrouting;

-- Truck speeds by road class (km/h), data so a park can tune them: loaded heavy goods
-- vehicles, not the posted car limits.
CREATE TABLE road_speeds (
    kind       text PRIMARY KEY,
    speed_kmh  double precision NOT NULL CHECK (speed_kmh > 0),
    note       text NOT NULL
);
INSERT INTO road_speeds (kind, speed_kmh, note) VALUES
    ('expressway', 100, '高速公路货车 / trucks on an expressway'),
    ('national_road', 60, '国道货车 / trucks on a national road'),
    ('trunk_road', 40, '园区主干路货车 / trucks on a park trunk road'),
    ('local_road', 25, '园区支路货车 / trucks on a local street');

-- The other assumptions of the access model, one row each.
CREATE TABLE network_params (
    key    text PRIMARY KEY,
    value  double precision NOT NULL CHECK (value > 0),
    note   text NOT NULL
);
INSERT INTO network_params (key, value, note) VALUES
    ('off_network_kmh', 10,
     '地块/目的地到最近道路的连接段(场内道路、掉头)/ the leg from a site to the nearest road '
     '(yard roads, gates, turning): slow'),
    ('max_access_m', 1500,
     '超过此距离的目的地视为路网之外,改用估算 / a destination farther than this from the '
     'network is outside it and estimated'),
    ('detour_factor', 1.3,
     '估算:直线距离×绕行系数 / estimate: straight line times this detour factor (typical for '
     'a plain with an expressway grid)'),
    ('estimate_kmh', 70,
     '估算:平均车速 / estimate: average truck speed over mixed expressway and national road'),
    ('isochrone_buffer_m', 80,
     '等时圈:可达路段两侧缓冲 / drive-time areas: buffer either side of the reached roads');

-- Sourced reference places (county seat, township seats, cities, the airport). Every row names
-- the page its coordinate was read from and that page's licence: nothing invented.
CREATE TABLE places (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('county_seat', 'township_seat', 'city',
                                              'provincial_capital', 'airport')),
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    source_url  text NOT NULL CHECK (source_url ~ '^https?://'),
    licence     text NOT NULL,
    note        text,
    geom        geometry(Point, 4490) NOT NULL CHECK (geom_ok(geom))
);
CREATE INDEX places_geom_idx ON places USING gist (geom);
INSERT INTO data_versions (layer) VALUES ('places') ON CONFLICT DO NOTHING;
CREATE TRIGGER places_version AFTER INSERT OR UPDATE OR DELETE ON places
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();

-- Where the places lie seen from the parks: from the centroid of all zones, on the ellipsoid.
CREATE OR REPLACE FUNCTION park_centre() RETURNS geometry
LANGUAGE sql STABLE AS $$ SELECT ST_Centroid(ST_Collect(geom)) FROM zones $$;

CREATE OR REPLACE FUNCTION place_bearing_deg(g geometry) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT round(degrees(ST_Azimuth(geography(ST_Transform(park_centre(), 4326)),
                                  geography(ST_Transform(g, 4326))))::numeric, 1)::float8
$$;

CREATE OR REPLACE FUNCTION place_distance_km(g geometry) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT round((ST_Distance(geography(ST_Transform(park_centre(), 4326)),
                            geography(ST_Transform(g, 4326))) / 1000.0)::numeric, 1)::float8
$$;

-- Eight compass points, each 45 degrees wide centred on its direction.
CREATE OR REPLACE FUNCTION compass_en(deg double precision) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT (ARRAY['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'])[(floor(mod((deg + 22.5)::numeric, 360) / 45))::int + 1]
$$;
CREATE OR REPLACE FUNCTION compass_zh(deg double precision) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT (ARRAY['北', '东北', '东', '东南', '南', '西南', '西', '西北'])[(floor(mod((deg + 22.5)::numeric, 360) / 45))::int + 1]
$$;

-- The routable graph (rebuilt by refresh_road_network). cost/reverse_cost are seconds.
CREATE TABLE road_edges (
    id            bigint PRIMARY KEY,
    source        bigint NOT NULL,
    target        bigint NOT NULL,
    cost          double precision NOT NULL,
    reverse_cost  double precision NOT NULL,
    length_m      double precision NOT NULL,
    kind          text NOT NULL,
    infra_code    text NOT NULL,
    gk_srid       integer NOT NULL,
    geom_gk       geometry(LineString) NOT NULL
);
CREATE INDEX road_edges_geom_idx ON road_edges USING gist (geom_gk);
CREATE TABLE road_vertices (
    id       bigint PRIMARY KEY,
    gk_srid  integer NOT NULL,
    geom_gk  geometry(Point) NOT NULL
);

-- Where the expressway meets a national or trunk road. The sample's are illustrative (as is
-- its road layout); `illustrative` says so on every row the map or the sheet shows.
CREATE TABLE road_interchanges (
    code             text PRIMARY KEY,
    name_zh          text NOT NULL,
    name_en          text NOT NULL,
    illustrative     boolean NOT NULL,
    expressway_code  text NOT NULL,
    road_code        text NOT NULL,
    vertex_id        bigint,
    gk_srid          integer NOT NULL,
    geom_gk          geometry(Point) NOT NULL,
    geom             geometry(Point, 4490) NOT NULL
);

-- One row per parcel and destination category.
CREATE TABLE parcel_access (
    parcel_code  text NOT NULL,
    dest         text NOT NULL CHECK (dest IN ('interchange', 'rail_yard', 'county_seat',
                                               'xinxiang', 'zhengzhou', 'airport')),
    target_code  text NOT NULL,
    name_zh      text NOT NULL,
    name_en      text NOT NULL,
    straight_m   double precision NOT NULL,
    drive_m      double precision,
    drive_s      double precision,
    estimate     boolean NOT NULL,
    PRIMARY KEY (parcel_code, dest)
);

-- The rail freight yard is this infrastructure code; destinations by place kind/code below.
CREATE OR REPLACE FUNCTION access_rail_yard_code() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'INF-STN-LP'::text $$;

CREATE OR REPLACE FUNCTION network_param(k text) RETURNS double precision
LANGUAGE sql STABLE AS $$ SELECT value FROM network_params WHERE key = k $$;

-- Rebuild the graph from the roads in service on date d.
CREATE OR REPLACE FUNCTION refresh_road_network(d date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM road_edges;
    DELETE FROM road_vertices;
    DELETE FROM road_interchanges;
    DROP TABLE IF EXISTS _net_roads, _net_pieces;
    CREATE TEMP TABLE _net_roads ON COMMIT DROP AS
        SELECT f.code, f.kind, f.gk_srid, s.speed_kmh, (ST_Dump(f.geom_gk)).geom AS g
          FROM infra_as_of(d) f
          JOIN road_speeds s ON s.kind = f.kind
         WHERE GeometryType(f.geom_gk) IN ('LINESTRING', 'MULTILINESTRING');

    INSERT INTO road_interchanges (code, name_zh, name_en, illustrative, expressway_code,
                                   road_code, gk_srid, geom_gk, geom)
    SELECT 'IC-' || lpad(row_number() OVER (ORDER BY x.ecode, x.rcode, ST_X(x.p), ST_Y(x.p))::text,
                         2, '0'),
           '互通立交(示意)' || x.rname_zh, 'Interchange (illustrative), ' || x.rname_en,
           true, x.ecode, x.rcode, x.gk_srid, x.p, ST_Transform(ST_SetSRID(x.p, x.gk_srid), 4490)
      FROM (SELECT e.code AS ecode, r.code AS rcode, r.gk_srid,
                   i.name_zh AS rname_zh, i.name_en AS rname_en,
                   (ST_Dump(ST_Intersection(e.g, r.g))).geom AS p
              FROM _net_roads e
              JOIN _net_roads r ON r.gk_srid = e.gk_srid AND ST_Intersects(e.g, r.g)
              JOIN infrastructure i ON i.code = r.code
             WHERE e.kind = 'expressway' AND r.kind IN ('national_road', 'trunk_road')) x
     WHERE GeometryType(x.p) = 'POINT';

    -- Node all roads where they cross, then give each piece the fastest road it lies on.
    CREATE TEMP TABLE _net_pieces ON COMMIT DROP AS
        WITH noded AS (
            SELECT gk_srid, (ST_Dump(ST_Node(ST_Collect(g)))).geom AS g
              FROM _net_roads GROUP BY gk_srid)
        SELECT n.gk_srid, n.g, best.code, best.kind, best.speed_kmh
          FROM noded n
          CROSS JOIN LATERAL (
              SELECT r.code, r.kind, r.speed_kmh FROM _net_roads r
               WHERE r.gk_srid = n.gk_srid
                 AND ST_DWithin(r.g, ST_LineInterpolatePoint(n.g, 0.5), 0.01)
               ORDER BY r.speed_kmh DESC, r.code LIMIT 1) best
         WHERE ST_Length(n.g) > 0.001;

    -- Vertex keys: the end point on a 1 cm grid. An expressway end point away from an
    -- interchange gets its own key, so crossing roads pass under it without joining it.
    WITH ends AS (
        SELECT p.ctid AS pid, p.gk_srid, w.which, w.pt,
               p.kind = 'expressway' AND NOT EXISTS (
                   SELECT 1 FROM road_interchanges ic
                    WHERE ic.gk_srid = p.gk_srid AND ST_DWithin(ic.geom_gk, w.pt, 1.0)) AS sealed
          FROM _net_pieces p
          CROSS JOIN LATERAL (VALUES ('s', ST_StartPoint(p.g)), ('t', ST_EndPoint(p.g))) w(which, pt)
    ), keyed AS (
        SELECT e.*, e.gk_srid::text || ':' || ST_AsText(ST_SnapToGrid(e.pt, 0.01))
                    || CASE WHEN e.sealed THEN ':x' ELSE '' END AS k
          FROM ends e
    ), ids AS (
        SELECT k, dense_rank() OVER (ORDER BY k) AS vid, min(gk_srid) AS gk_srid,
               (array_agg(ST_SnapToGrid(pt, 0.01)))[1] AS pt
          FROM keyed GROUP BY k
    ), v AS (
        INSERT INTO road_vertices (id, gk_srid, geom_gk)
        SELECT vid, gk_srid, pt FROM ids RETURNING id
    )
    INSERT INTO road_edges (id, source, target, cost, reverse_cost, length_m, kind, infra_code,
                            gk_srid, geom_gk)
    SELECT row_number() OVER (ORDER BY s.vid, t.vid, ST_Length(p.g)),
           s.vid, t.vid,
           ST_Length(p.g) / (p.speed_kmh / 3.6), ST_Length(p.g) / (p.speed_kmh / 3.6),
           ST_Length(p.g), p.kind, p.code, p.gk_srid, p.g
      FROM _net_pieces p
      JOIN keyed ks ON ks.pid = p.ctid AND ks.which = 's'
      JOIN ids s ON s.k = ks.k
      JOIN keyed kt ON kt.pid = p.ctid AND kt.which = 't'
      JOIN ids t ON t.k = kt.k;

    UPDATE road_interchanges ic
       SET vertex_id = (SELECT v.id FROM road_vertices v
                         WHERE v.gk_srid = ic.gk_srid
                         ORDER BY v.geom_gk <-> ic.geom_gk LIMIT 1);
    SELECT count(*) INTO n FROM road_edges;
    RETURN n;
END $$;

-- How a geometry joins the network: the nearest edge a truck may enter (not the expressway),
-- where along it (fraction), and the off-network gap in metres.
CREATE OR REPLACE FUNCTION network_access(g geometry, srid integer)
RETURNS TABLE (edge_id bigint, source bigint, target bigint, frac double precision,
               off_m double precision, length_m double precision, cost double precision)
LANGUAGE sql STABLE AS $$
  SELECT e.id, e.source, e.target,
         ST_LineLocatePoint(e.geom_gk, ST_ClosestPoint(e.geom_gk, g)),
         ST_Distance(e.geom_gk, g), e.length_m, e.cost
    FROM road_edges e
   WHERE e.gk_srid = srid AND e.kind <> 'expressway'
   ORDER BY e.geom_gk <-> g, e.id
   LIMIT 1
$$;

-- Recompute parcel_access from the current graph: for the parcels named (a split's children,
-- a merge's result; rows of parcels no longer live go too), or for every live parcel (NULL).
CREATE OR REPLACE FUNCTION refresh_parcel_access(codes text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    off_kmh double precision := network_param('off_network_kmh');
    max_acc double precision := network_param('max_access_m');
    detour double precision := network_param('detour_factor');
    est_kmh double precision := network_param('estimate_kmh');
    starts bigint[];
    ends bigint[];
    n integer;
BEGIN
    IF codes IS NULL THEN
        DELETE FROM parcel_access;
    ELSE
        DELETE FROM parcel_access a
         WHERE a.parcel_code = ANY(codes)
            OR NOT EXISTS (SELECT 1 FROM parcels p
                            WHERE p.code = a.parcel_code AND p.status <> 'historic');
    END IF;
    DROP TABLE IF EXISTS _acc_dest, _acc_parcel, _acc_entry, _acc_paths;
    -- Destinations: each reaches the graph at one or two vertices with a leg (s, m).
    CREATE TEMP TABLE _acc_dest ON COMMIT DROP AS
        SELECT 'interchange'::text AS dest, ic.code AS target_code, ic.name_zh, ic.name_en,
               ic.gk_srid, ic.geom_gk AS g, 0.0::double precision AS off_m, false AS far
          FROM road_interchanges ic WHERE ic.vertex_id IS NOT NULL
        UNION ALL
        SELECT 'rail_yard', i.code, i.name_zh, i.name_en, i.gk_srid, i.geom_gk, NULL, false
          FROM infrastructure i WHERE i.code = access_rail_yard_code()
        UNION ALL
        SELECT CASE pl.kind WHEN 'county_seat' THEN 'county_seat' WHEN 'airport' THEN 'airport'
                            ELSE lower(pl.name_en) END,
               pl.code, pl.name_zh, pl.name_en, z.gk_srid,
               ST_Transform(pl.geom, z.gk_srid), NULL, false
          FROM places pl
          CROSS JOIN (SELECT gk_srid FROM zones GROUP BY gk_srid ORDER BY count(*) DESC LIMIT 1) z
         WHERE pl.kind IN ('county_seat', 'airport')
            OR (pl.kind IN ('city', 'provincial_capital')
                AND lower(pl.name_en) IN ('xinxiang', 'zhengzhou'));
    -- Which are on the network: within max_access_m of an enterable road.
    UPDATE _acc_dest d SET off_m = (SELECT a.off_m FROM network_access(d.g, d.gk_srid) a)
     WHERE d.dest <> 'interchange';
    UPDATE _acc_dest d SET far = d.off_m IS NULL OR d.off_m > max_acc;

    -- Entry vertices with the leg cost (seconds, metres) from the thing to that vertex.
    CREATE TEMP TABLE _acc_entry ON COMMIT DROP AS
        SELECT d.dest, d.target_code, ic.vertex_id AS vid, 0.0::double precision AS s,
               0.0::double precision AS m
          FROM _acc_dest d JOIN road_interchanges ic ON ic.code = d.target_code
         WHERE d.dest = 'interchange'
        UNION ALL
        SELECT d.dest, d.target_code, v.vid,
               a.off_m / (off_kmh / 3.6) + v.f * a.cost, a.off_m + v.f * a.length_m
          FROM _acc_dest d
          CROSS JOIN LATERAL network_access(d.g, d.gk_srid) a
          CROSS JOIN LATERAL (VALUES (a.source, a.frac), (a.target, 1 - a.frac)) v(vid, f)
         WHERE d.dest <> 'interchange' AND NOT d.far;

    CREATE TEMP TABLE _acc_parcel ON COMMIT DROP AS
        SELECT p.code, p.gk_srid, p.geom_gk, a.*
          FROM parcels p
          CROSS JOIN LATERAL network_access(p.geom_gk, p.gk_srid) a
         WHERE p.status <> 'historic' AND (codes IS NULL OR p.code = ANY(codes));

    SELECT array_agg(DISTINCT vid) INTO starts FROM _acc_entry;
    SELECT array_agg(DISTINCT x) INTO ends
      FROM (SELECT source AS x FROM _acc_parcel UNION SELECT target FROM _acc_parcel) u;

    -- Fastest paths from every destination entry to every parcel entry vertex, with length.
    -- (pgr_dijkstra refuses empty arrays: no roads or no destinations, no paths.)
    CREATE TEMP TABLE _acc_paths (start_vid bigint, end_vid bigint, s double precision,
                                  m double precision) ON COMMIT DROP;
    IF starts IS NOT NULL AND ends IS NOT NULL THEN
    INSERT INTO _acc_paths
        SELECT r.start_vid, r.end_vid, max(r.agg_cost) FILTER (WHERE r.edge = -1) AS s,
               coalesce(sum(e.length_m), 0) AS m
          FROM pgr_dijkstra('SELECT id, source, target, cost, reverse_cost FROM road_edges',
                            coalesce(starts, '{}'), coalesce(ends, '{}'), false) r
          LEFT JOIN road_edges e ON e.id = r.edge
         GROUP BY r.start_vid, r.end_vid
        UNION ALL
        SELECT v, v, 0.0, 0.0 FROM unnest(starts) v WHERE v = ANY(ends);
    END IF;

    INSERT INTO parcel_access (parcel_code, dest, target_code, name_zh, name_en, straight_m,
                               drive_m, drive_s, estimate)
    SELECT DISTINCT ON (p.code, d.dest)
           p.code, d.dest, d.target_code, d.name_zh, d.name_en,
           ST_Distance(p.geom_gk, d.g),
           best.m, best.s, false
      FROM _acc_parcel p
      JOIN _acc_dest d ON d.gk_srid = p.gk_srid AND NOT d.far
      CROSS JOIN LATERAL (
          SELECT pe.s + x.s + de.s AS s, pe.m + x.m + de.m AS m
            FROM (VALUES (p.source, p.off_m / (off_kmh / 3.6) + p.frac * p.cost,
                          p.off_m + p.frac * p.length_m),
                         (p.target, p.off_m / (off_kmh / 3.6) + (1 - p.frac) * p.cost,
                          p.off_m + (1 - p.frac) * p.length_m)) pe(vid, s, m)
            JOIN _acc_paths x ON x.end_vid = pe.vid
            JOIN _acc_entry de ON de.dest = d.dest AND de.target_code = d.target_code
                              AND de.vid = x.start_vid
          UNION ALL
          -- Both on the same edge: along it, not out to a vertex and back.
          SELECT p.off_m / (off_kmh / 3.6) + abs(p.frac - a.frac) * p.cost
                 + a.off_m / (off_kmh / 3.6),
                 p.off_m + abs(p.frac - a.frac) * p.length_m + a.off_m
            FROM network_access(d.g, d.gk_srid) a
           WHERE d.dest <> 'interchange' AND a.edge_id = p.edge_id
          ORDER BY 1 LIMIT 1) best
     ORDER BY p.code, d.dest, best.s, d.target_code;

    -- Beyond the network: straight line x detour factor at an average speed, an estimate.
    INSERT INTO parcel_access (parcel_code, dest, target_code, name_zh, name_en, straight_m,
                               drive_m, drive_s, estimate)
    SELECT DISTINCT ON (p.code, d.dest)
           p.code, d.dest, d.target_code, d.name_zh, d.name_en,
           ST_Distance(p.geom_gk, d.g),
           ST_Distance(p.geom_gk, d.g) * detour,
           ST_Distance(p.geom_gk, d.g) * detour / (est_kmh / 3.6), true
      FROM parcels p
      JOIN _acc_dest d ON d.far AND d.gk_srid = p.gk_srid
     WHERE p.status <> 'historic' AND (codes IS NULL OR p.code = ANY(codes))
     ORDER BY p.code, d.dest, d.target_code;
    SELECT count(*) INTO n FROM parcel_access;
    RETURN n;
END $$;
