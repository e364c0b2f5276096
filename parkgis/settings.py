"""All settings in one place (environment prefix ``PARKGIS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARKGIS_", env_file=None, extra="ignore")

    # When unset, the embedded cluster under ``data_dir/pg`` is used.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    tianditu_key: str | None = None

    data_dir: Path = Field(default=PROJECT_ROOT / ".parkgis")
    pg_bin_dir: Path = Path("/usr/lib/postgresql/15/bin")
    # Unprivileged OS user that owns the embedded cluster when we are started as root.
    pg_os_user: str = "parkgis"
    # Where the embedded cluster's generated password lives (a libpq passfile, mode 0600):
    # outside the app's working tree so nothing served or loaded from there can read it.
    pg_secrets_dir: Path = Field(default_factory=lambda: Path.home() / ".config" / "parkgis")

    pool_min_size: int = 1
    pool_max_size: int = 10
    # Database faults (issue 11): a request waits at most this long for a pooled connection,
    # then answers 503 with Retry-After instead of hanging while the database is away.
    db_pool_timeout_s: float = 2.5
    # For a few seconds after a sync route found no connection, sync routes wait only this
    # long: each waiter holds one of FastAPI's 40 worker threads, and a queue of them would
    # push every later request past the bound.
    db_pool_timeout_degraded_s: float = 0.5
    db_retry_after_s: int = 2
    db_connect_timeout_s: int = 3
    # Short so that a pool notices a returned database within seconds: psycopg_pool's
    # reconnect backoff doubles without a cap until this timeout, then starts afresh.
    db_reconnect_timeout_s: float = 2.0
    db_max_lifetime_s: float = 600.0
    # statement_timeout per route class: public reads must stay cheap, planner work may not.
    db_statement_timeout_public_ms: int = 5_000
    db_statement_timeout_planner_ms: int = 60_000

    # Past this many rows ``numberMatched`` is estimated from the planner, not counted.
    count_exact_max: int = 100_000
    tile_cache_size: int = 20_000
    tile_max_features: int = 20_000
    default_gk_srid: int = 4547

    # The token-signing key: PARKGIS_SECRET_KEY, else a file outside the working tree (see
    # ``parkgis.auth.key_path``); PARKGIS_SECRET_KEY_FILE names that file explicitly.
    secret_key: str | None = None
    secret_key_file: Path | None = None
    token_minutes: int = 480
    earthwork_yuan_per_m3: float = 25.0
    inquiry_rate_per_hour: int = 5
    # The daily job (parkgis.land.clock) in the server process; off where cron runs
    # `parkgis tick` instead. PARKGIS_CLOCK_ENABLED=false.
    clock_enabled: bool = True

    # Sign-in throttling: failures per account name / per client address within the window
    # before that name / address is locked for ``login_lockout_s`` (an admin can lift it).
    login_max_failures: int = 5
    login_max_failures_per_client: int = 20
    login_window_s: int = 900
    login_lockout_s: int = 900
    # Addresses or networks (comma-separated, e.g. "10.0.0.2,192.168.0.0/24") of reverse
    # proxies whose X-Forwarded-For is believed. Default none: the client is the TCP peer.
    trusted_proxies: str = ""
    # Request bodies: every route but the uploads (413 past it), and the uploads.
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 200 * 1_048_576
    # Seconds a match over HTTP may spend on footprint searches before it answers with what
    # it has decided (``incomplete`` names the rest); the CLI has no limit.
    match_time_budget_s: float = 10.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
