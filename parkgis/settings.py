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

    pool_min_size: int = 1
    pool_max_size: int = 10

    # Past this many rows ``numberMatched`` is estimated from the planner, not counted.
    count_exact_max: int = 100_000
    tile_cache_size: int = 20_000
    tile_max_features: int = 20_000
    default_gk_srid: int = 4547

    secret_key: str | None = None
    token_minutes: int = 480
    earthwork_yuan_per_m3: float = 25.0
    inquiry_rate_per_hour: int = 5

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
