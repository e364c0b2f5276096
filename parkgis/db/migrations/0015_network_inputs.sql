-- What the road network and parcel_access were last built from, so that the daily clock (and
-- every app start, which runs the day's tick before serving) rebuilds them only when their
-- inputs changed: at 10^6 parcels a rebuild recomputes every parcel's drive times (minutes),
-- while most days no road enters service.
--
-- The inputs, as one fingerprint: the data versions of the tables the build reads
-- (infrastructure, upgrades and places; their statement triggers bump them on every edit),
-- the upgrades done by the day asked (a road entering service on its finish date changes the
-- graph with no edit at all), the road speeds and the network parameters. Parcels are not in
-- it: every writer of parcel geometry refreshes the parcels it wrote (split, merge, loader).
CREATE TABLE network_builds (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    inputs     text NOT NULL,
    built_for  date NOT NULL,
    built_at   timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION network_inputs(d date) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT md5(concat_ws('|',
      (SELECT string_agg(v.layer || '=' || v.version, ',' ORDER BY v.layer)
         FROM data_versions v WHERE v.layer IN ('infrastructure', 'upgrades', 'places')),
      (SELECT string_agg(u.code, ',' ORDER BY u.code)
         FROM upgrades u WHERE upgrade_done(u.status, u.finish_date, d)),
      (SELECT string_agg(s.kind || '=' || s.speed_kmh, ',' ORDER BY s.kind) FROM road_speeds s),
      (SELECT string_agg(p.key || '=' || p.value, ',' ORDER BY p.key) FROM network_params p)))
$$;
