-- The land ledger (issue 14): land approval batches (批而未供), per-mu performance grading
-- (亩均效益评价) with its scheme as versioned data, industrial chains and their links, and the
-- county's townships as sourced reference data. Read by parkgis/ledger/.

-- 农用地转用 / 土地征收 approval batches. The area the accounts use is measured from the
-- geometry (like parcels) so "approved" and "supplied" are measured the same way; the area the
-- document states is kept beside it for reconciliation.
CREATE TABLE IF NOT EXISTS approvals (
    id              serial PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    approval_no     text NOT NULL UNIQUE CHECK (length(approval_no) BETWEEN 1 AND 200), -- 批准文号
    kind            text NOT NULL DEFAULT 'conversion_expropriation'
                        CHECK (kind IN ('conversion', 'expropriation', 'conversion_expropriation')),
    approved_on     date NOT NULL,
    zone_code       text REFERENCES zones(code) ON UPDATE CASCADE,
    area_declared_mu numeric CHECK (area_declared_mu > 0),
    note            text,
    gk_srid         integer NOT NULL DEFAULT 4547,
    area_m2         double precision NOT NULL DEFAULT 0,
    area_mu         numeric GENERATED ALWAYS AS (m2_to_mu(area_m2)) STORED,
    geom            geometry(MultiPolygon, 4490) NOT NULL CHECK (geom_ok(geom)),
    geom_gk         geometry(MultiPolygon) NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_geom_idx ON approvals USING gist (geom);
CREATE INDEX IF NOT EXISTS approvals_geom_gk_idx ON approvals USING gist (geom_gk);

CREATE OR REPLACE FUNCTION approvals_measure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.zone_code IS NOT NULL THEN
        SELECT z.gk_srid INTO NEW.gk_srid FROM zones z WHERE z.code = NEW.zone_code;
    END IF;
    NEW.gk_srid := coalesce(NEW.gk_srid, 4547);
    NEW.geom_gk := ST_Multi(ST_Transform(NEW.geom, NEW.gk_srid));
    NEW.area_m2 := ST_Area(NEW.geom_gk);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS approvals_measure ON approvals;
CREATE TRIGGER approvals_measure BEFORE INSERT OR UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_measure();

INSERT INTO data_versions(layer) VALUES ('approvals'), ('ledger') ON CONFLICT DO NOTHING;
DROP TRIGGER IF EXISTS approvals_version ON approvals;
CREATE TRIGGER approvals_version AFTER INSERT OR UPDATE OR DELETE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();

-- 亩均 schemes: provinces and cities differ and revise them, so the scheme is a versioned
-- document (indicators, weights, score rule, grade cut-offs, threshold, exempt kinds); exactly
-- one is active. Gradings name the version they used.
CREATE TABLE IF NOT EXISTS perf_schemes (
    version     text PRIMARY KEY CHECK (length(version) BETWEEN 1 AND 32),
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    source      text,
    active      boolean NOT NULL DEFAULT false,
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS perf_schemes_one_active ON perf_schemes ((true)) WHERE active;

INSERT INTO perf_schemes (version, name_zh, name_en, source, active, definition) VALUES (
  'default-2024', '亩均效益评价（常用默认方案）', 'Per-mu performance grading (common default)',
  '常见省市方案的默认权重与规则（见 design.md §3）；各地方案不同，请按本地文件另建版本 / '
  'the common default of provincial and city schemes (design.md §3); load the local scheme as a new version',
  true,
  '{"indicators": [
      {"key": "tax_per_mu", "name_zh": "亩均税收", "name_en": "Tax per mu", "unit": "万元/亩", "weight": 45},
      {"key": "revenue_per_mu", "name_zh": "亩均营业收入", "name_en": "Revenue per mu", "unit": "万元/亩", "weight": 20},
      {"key": "va_per_tce", "name_zh": "单位能耗工业增加值", "name_en": "Value added per tce", "unit": "万元/吨标准煤", "weight": 15},
      {"key": "rd_intensity", "name_zh": "研发经费投入强度", "name_en": "R&D intensity", "unit": "%", "weight": 15},
      {"key": "labour_productivity", "name_zh": "全员劳动生产率", "name_en": "Labour productivity", "unit": "万元/人", "weight": 5}
    ],
    "score_floor": 20, "score_span": 80,
    "grades": [["A", 0.25], ["B", 0.70], ["C", 0.95], ["D", 1.0]],
    "scale_threshold_revenue_wan": 2000,
    "small_firm_indicator": "tax_per_mu",
    "exempt_kinds": ["utility", "construction_period"]}'::jsonb)
ON CONFLICT (version) DO NOTHING;

-- Annual figures per enterprise, as the statistics office sends them. Land area is not stored:
-- it comes from the enterprise's parcels when grading.
CREATE TABLE IF NOT EXISTS perf_figures (
    enterprise_code  text NOT NULL REFERENCES enterprises(code) ON UPDATE CASCADE ON DELETE CASCADE,
    year             integer NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    tax_wan          numeric NOT NULL CHECK (tax_wan >= 0),
    revenue_wan      numeric NOT NULL CHECK (revenue_wan >= 0),
    value_added_wan  numeric NOT NULL CHECK (value_added_wan >= 0),
    energy_tce       numeric NOT NULL CHECK (energy_tce > 0),
    rd_wan           numeric NOT NULL CHECK (rd_wan >= 0),
    employees        integer NOT NULL CHECK (employees > 0),
    exempt_kind      text,   -- utility / construction_period: scored, not graded
    source           text,
    loaded_at        timestamptz NOT NULL DEFAULT now(),
    loaded_by        text NOT NULL DEFAULT 'system',
    PRIMARY KEY (enterprise_code, year)
);

-- Industrial chains as data: links in order; an enterprise or a pipeline project sits on the
-- link whose roles contain its chain_role (within the chain's industry).
CREATE TABLE IF NOT EXISTS chains (
    code      text PRIMARY KEY,
    industry  text NOT NULL,
    name_zh   text NOT NULL,
    name_en   text NOT NULL,
    position  integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chain_links (
    chain_code text NOT NULL REFERENCES chains(code) ON UPDATE CASCADE ON DELETE CASCADE,
    code       text NOT NULL,
    position   integer NOT NULL,
    name_zh    text NOT NULL,
    name_en    text NOT NULL,
    roles      text[] NOT NULL DEFAULT '{}',
    -- fewer resident firms than this makes the link "weak" (none: "missing")
    min_firms  integer NOT NULL DEFAULT 2 CHECK (min_firms >= 1),
    PRIMARY KEY (chain_code, code),
    UNIQUE (chain_code, position)
);

INSERT INTO chains (code, industry, name_zh, name_en, position) VALUES
  ('FBP', 'food_beverage_packaging', '食品饮料及包装', 'Food, beverage and packaging', 1),
  ('GBM', 'green_building_materials', '绿色建材', 'Green building materials', 2)
ON CONFLICT (code) DO NOTHING;
INSERT INTO chain_links (chain_code, code, position, name_zh, name_en, roles) VALUES
  ('FBP', 'raw', 1, '浓缩液与原辅料', 'Concentrate and raw materials', '{concentrate,raw_materials,malt,sweetener}'),
  ('FBP', 'containers', 2, '制罐、制瓶、瓶盖', 'Cans, bottles, closures', '{can_making,bottles,closures,preforms}'),
  ('FBP', 'packaging', 3, '纸包装与软包装', 'Paper and flexible packaging', '{packaging,film,printing,flexible_packaging,paper_packaging}'),
  ('FBP', 'filling', 4, '灌装', 'Filling', '{filling}'),
  ('FBP', 'drinks', 5, '饮料、啤酒、矿泉水', 'Beverages, beer, mineral water', '{beverage,brewery,mineral_water}'),
  ('FBP', 'cold_chain', 6, '冷链物流', 'Cold-chain logistics', '{logistics,cold_chain}'),
  ('GBM', 'cement', 1, '水泥', 'Cement', '{cement}'),
  ('GBM', 'wall', 2, '新型墙材与石膏板', 'New wall materials and gypsum board', '{building_materials,wall_materials,gypsum_board}'),
  ('GBM', 'doors_windows', 3, '门窗与幕墙', 'Doors, windows and curtain walls', '{doors_windows,profiles,curtain_wall}'),
  ('GBM', 'prefab', 4, '装配式构件', 'Prefabricated components', '{prefab}')
ON CONFLICT DO NOTHING;

-- Weihui's 13 townships (7 镇, 6 乡) as reference data. A point or boundary is stored only
-- where a source for it exists (none yet: see data/ledger/README.md); names carry their source.
CREATE TABLE IF NOT EXISTS townships (
    name_zh  text PRIMARY KEY,
    name_en  text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('town', 'township', 'subdistrict')),
    stats_code text,
    source   text NOT NULL,
    geom     geometry(Geometry, 4490) CHECK (geom IS NULL OR geom_ok(geom)),
    geom_source text,
    CHECK (geom IS NULL OR geom_source IS NOT NULL)
);
INSERT INTO townships (name_zh, name_en, kind, stats_code, source) VALUES
  ('汲水镇', 'Jishui', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('太公镇', 'Taigong', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('孙杏村镇', 'Sunxingcun', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('后河镇', 'Houhe', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('李源屯镇', 'Liyuantun', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('唐庄镇', 'Tangzhuang', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('上乐村镇', 'Shanglecun', 'town', NULL, 'names only; see data/ledger/README.md'),
  ('狮豹头乡', 'Shibaotou', 'township', NULL, 'names only; see data/ledger/README.md'),
  ('顿坊店乡', 'Dunfangdian', 'township', NULL, 'names only; see data/ledger/README.md'),
  ('柳庄乡', 'Liuzhuang', 'township', NULL, 'names only; see data/ledger/README.md'),
  ('安都乡', 'Andu', 'township', NULL, 'names only; see data/ledger/README.md'),
  ('城郊乡', 'Chengjiao', 'township', '410781208', 'names only; see data/ledger/README.md'),
  ('庞寨乡', 'Pangzhai', 'township', NULL, 'names only; see data/ledger/README.md')
ON CONFLICT (name_zh) DO NOTHING;
