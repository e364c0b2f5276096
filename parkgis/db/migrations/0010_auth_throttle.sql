-- Login throttling (issue 11): failed sign-ins and the lockouts they cause, per account name
-- and per client address. Kept in the database, not in process memory, so that every API
-- worker sees the same counts and a restart does not reset them; times are the database's.

CREATE TABLE login_failures (
    id      bigserial PRIMARY KEY,
    -- the name that was tried: unknown names are counted too, so a lockout does not reveal
    -- whether an account exists
    account text NOT NULL,
    client  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_account_at ON login_failures (account, at);
CREATE INDEX login_failures_client_at ON login_failures (client, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE login_lockouts (
    kind       text NOT NULL CHECK (kind IN ('account', 'client')),
    key        text NOT NULL,
    locked_at  timestamptz NOT NULL DEFAULT now(),
    until      timestamptz NOT NULL,
    failures   integer NOT NULL,
    PRIMARY KEY (kind, key)
);
