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
    # The daily job (parkgis.land.clock) in the server process; off where cron runs
    # `parkgis tick` instead. PARKGIS_CLOCK_ENABLED=false.
    clock_enabled: bool = True


@lru_cache
def get_settings() -> Settings:
    return Settings()
