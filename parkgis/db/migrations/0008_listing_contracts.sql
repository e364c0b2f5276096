-- Land supply that follows the law and the calendar (issue 13, the land side).
--
-- land_listings: one 挂牌 per row (国土资源部令第39号): the notice (公告文号, publication date),
--   the listing period, the starting price and increment, and the result the clock records
--   (sold to the highest bidder at the closing price, or failed = 流拍). A notice dated before
--   the day it was recorded is a backfill, which only an admin may record (backfill = true).
-- listing_bids: the bids, in the order received; the core checks each against the current
--   price + increment under the listing's row lock.
-- land_contracts: 出让合同 with the dates and promises 令53 (闲置土地处置办法) measures against,
--   and the progress figures (developed area, investment to date, work stopped since).
-- contract_delays: delays the government caused (规划调整, 征收未完成, ...); their days do not
--   count towards idleness.
-- idle_flags: each idle finding (kind x stage) raised once per contract; the row and a
--   parcel_events row are written together by the clock (actor system).
-- clock_flags: the clock's findings about things that are not parcels (overdue upgrades,
--   projects past their start), raised once each; the row is the audit record.
-- All money in 万元 (10,000 yuan), areas in m², dates in park time (Asia/Shanghai).

CREATE TABLE IF NOT EXISTS land_listings (
    id               bigserial PRIMARY KEY,
    parcel_code      text NOT NULL REFERENCES parcels(code) ON UPDATE CASCADE,
    notice_no        text NOT NULL CHECK (length(btrim(notice_no)) BETWEEN 1 AND 64),
    notice_date      date NOT NULL,
    listing_start    date NOT NULL,
    listing_end      date NOT NULL,
    start_price_wan  numeric NOT NULL CHECK (start_price_wan > 0),
    increment_wan    numeric NOT NULL CHECK (increment_wan > 0),
    status           text NOT NULL DEFAULT 'notice'
                         CHECK (status IN ('notice', 'open', 'sold', 'failed', 'withdrawn')),
    backfill         boolean NOT NULL DEFAULT false,
    winner           text,
    closing_price_wan numeric,
    closed_at        timestamptz,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (listing_start >= notice_date + 20),
    CHECK (listing_end > listing_start),
    CHECK ((status = 'sold') = (winner IS NOT NULL AND closing_price_wan IS NOT NULL))
);
-- One listing in progress per parcel (notice or open); history rows stay.
CREATE UNIQUE INDEX IF NOT EXISTS land_listings_one_live
    ON land_listings (parcel_code) WHERE status IN ('notice', 'open');
CREATE INDEX IF NOT EXISTS land_listings_parcel_idx ON land_listings (parcel_code, id);

CREATE TABLE IF NOT EXISTS listing_bids (
    id          bigserial PRIMARY KEY,
    listing_id  bigint NOT NULL REFERENCES land_listings(id),
    bidder      text NOT NULL CHECK (length(btrim(bidder)) BETWEEN 1 AND 200),
    amount_wan  numeric NOT NULL CHECK (amount_wan > 0),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL
);
CREATE INDEX IF NOT EXISTS listing_bids_listing_idx ON listing_bids (listing_id, amount_wan DESC);

CREATE TABLE IF NOT EXISTS land_contracts (
    id                      bigserial PRIMARY KEY,
    contract_no             text NOT NULL UNIQUE CHECK (length(btrim(contract_no)) BETWEEN 1 AND 64),
    parcel_code             text NOT NULL REFERENCES parcels(code) ON UPDATE CASCADE,
    project_code            text,
    listing_id              bigint REFERENCES land_listings(id),
    landuse_code            text NOT NULL,
    price_wan               numeric NOT NULL CHECK (price_wan > 0),
    lease_years             integer NOT NULL CHECK (lease_years BETWEEN 1 AND 70),
    signed_on               date NOT NULL,
    agreed_start            date NOT NULL,
    agreed_completion       date NOT NULL,
    promised_investment_wan numeric CHECK (promised_investment_wan > 0),
    actual_start            date,
    actual_completion       date,
    developed_area_m2       double precision CHECK (developed_area_m2 >= 0),
    investment_to_date_wan  numeric CHECK (investment_to_date_wan >= 0),
    work_stopped_since      date,
    status                  text NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'completed', 'reclaimed')),
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    -- 《城镇国有土地使用权出让和转让暂行条例》第十二条: industrial land at most 50 years.
    CHECK (landuse_code NOT LIKE '1001%' OR lease_years <= 50),
    CHECK (agreed_completion >= agreed_start),
    CHECK (actual_completion IS NULL OR (actual_start IS NOT NULL
                                         AND actual_completion >= actual_start))
);
CREATE INDEX IF NOT EXISTS land_contracts_parcel_idx ON land_contracts (parcel_code);

CREATE TABLE IF NOT EXISTS contract_delays (
    id           bigserial PRIMARY KEY,
    contract_id  bigint NOT NULL REFERENCES land_contracts(id),
    from_date    date NOT NULL,
    to_date      date,                       -- NULL: still going on
    cause        text NOT NULL CHECK (length(btrim(cause)) BETWEEN 1 AND 2000),
    document_no  text,
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (to_date IS NULL OR to_date >= from_date)
);
CREATE INDEX IF NOT EXISTS contract_delays_contract_idx ON contract_delays (contract_id);

CREATE TABLE IF NOT EXISTS idle_flags (
    id           bigserial PRIMARY KEY,
    contract_id  bigint NOT NULL REFERENCES land_contracts(id),
    parcel_code  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('not_started', 'stalled')),
    stage        text NOT NULL CHECK (stage IN ('idle', 'reclaimable')),
    since        date NOT NULL,
    fee_wan      numeric,
    as_of        date NOT NULL,
    raised_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (contract_id, kind, stage)
);

CREATE TABLE IF NOT EXISTS clock_flags (
    id            bigserial PRIMARY KEY,
    subject_kind  text NOT NULL CHECK (subject_kind IN ('upgrade', 'project')),
    subject_code  text NOT NULL,
    flag          text NOT NULL,
    since         date NOT NULL,
    as_of         date NOT NULL,
    actor         text NOT NULL DEFAULT 'system',
    data          jsonb NOT NULL DEFAULT '{}',
    raised_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject_kind, subject_code, flag, since)
);
