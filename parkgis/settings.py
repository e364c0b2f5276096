"""All settings in one place (environment prefix ``PARKGIS_``).

``Settings`` reads the environment once, with the flat ``PARKGIS_*`` names operators already
use. The core never reads it: an entry point (``api.main.create_app``, ``parkgis.cli``) builds
one ``Settings`` and hands each part of the core only its concern -- ``settings.earthwork``,
``settings.tiles``, ``settings.database`` ... -- so that two apps with different settings can
live in one process and a core function's signature says what it depends on.

>>> s = Settings(earthwork_yuan_per_m3=30, tile_cache_size=7)
>>> s.earthwork.yuan_per_m3, s.tiles.cache_size
(30.0, 7)
>>> s.earthwork == EarthworkSettings(yuan_per_m3=30.0)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the database is: an explicit URL, else the embedded cluster under ``data_dir/pg``."""

    url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".parkgis"
    pg_bin_dir: Path = Path("/usr/lib/postgresql/15/bin")
    pg_os_user: str = "parkgis"


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Size of the API's connection pool."""

    min_size: int = 1
    max_size: int = 10


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Files the product keeps beside the database (rasters, fonts, the signing key)."""

    data_dir: Path = PROJECT_ROOT / ".parkgis"

    @property
    def rasters_dir(self) -> Path:
        return self.data_dir / "rasters"

    @property
    def fonts_dir(self) -> Path:
        return self.data_dir / "fonts"


@dataclass(frozen=True, slots=True)
class TileSettings:
    cache_size: int = 20_000
    max_features: int = 20_000


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Token signing: ``secret_key``, else a random key persisted in ``data_dir/secret.key``."""

    secret_key: str | None = None
    token_minutes: int = 480
    data_dir: Path = PROJECT_ROOT / ".parkgis"


@dataclass(frozen=True, slots=True)
class EarthworkSettings:
    """Unit cost of cut-and-fill (yuan per cubic metre moved)."""

    yuan_per_m3: float = 25.0


@dataclass(frozen=True, slots=True)
class SitingSettings:
    """Siting measures distances and areas in a Gauss-Krueger zone; this one when none is given."""

    default_gk_srid: int = 4547
    earthwork: EarthworkSettings = EarthworkSettings()


@dataclass(frozen=True, slots=True)
class PublicationSettings:
    """What public pages and the OGC API publish."""

    # Past this many rows ``numberMatched`` is estimated from the planner, not counted.
    count_exact_max: int = 100_000
    tianditu_key: str | None = None


@dataclass(frozen=True, slots=True)
class InquirySettings:
    rate_per_hour: int = 5


class _Concerns:
    """The per-concern views of the flat ``Settings`` fields (one source of truth: the fields).

    A mixin rather than methods in ``Settings`` so that adding a flat field never touches these
    lines; a new field belongs to a concern here too.
    """

    if TYPE_CHECKING:  # supplied by the pydantic fields of ``Settings``
        database_url: str | None
        host: str
        port: int
        tianditu_key: str | None
        data_dir: Path
        pg_bin_dir: Path
        pg_os_user: str
        pool_min_size: int
        pool_max_size: int
        count_exact_max: int
        tile_cache_size: int
        tile_max_features: int
        default_gk_srid: int
        secret_key: str | None
        token_minutes: int
        earthwork_yuan_per_m3: float
        inquiry_rate_per_hour: int

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(
            url=self.database_url,
            data_dir=Path(self.data_dir),
            pg_bin_dir=Path(self.pg_bin_dir),
            pg_os_user=self.pg_os_user,
        )

    @property
    def pool(self) -> PoolSettings:
        return PoolSettings(min_size=self.pool_min_size, max_size=self.pool_max_size)

    @property
    def server(self) -> ServerSettings:
        return ServerSettings(host=self.host, port=self.port)

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings(data_dir=Path(self.data_dir))

    @property
    def tiles(self) -> TileSettings:
        return TileSettings(cache_size=self.tile_cache_size, max_features=self.tile_max_features)

    @property
    def auth(self) -> AuthSettings:
        return AuthSettings(
            secret_key=self.secret_key,
            token_minutes=self.token_minutes,
            data_dir=Path(self.data_dir),
        )

    @property
    def earthwork(self) -> EarthworkSettings:
        return EarthworkSettings(yuan_per_m3=float(self.earthwork_yuan_per_m3))

    @property
    def siting(self) -> SitingSettings:
        return SitingSettings(default_gk_srid=self.default_gk_srid, earthwork=self.earthwork)

    @property
    def publication(self) -> PublicationSettings:
        return PublicationSettings(
            count_exact_max=self.count_exact_max, tianditu_key=self.tianditu_key
        )

    @property
    def inquiries(self) -> InquirySettings:
        return InquirySettings(rate_per_hour=self.inquiry_rate_per_hour)


class Settings(_Concerns, BaseSettings):
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

    # Read replicas (issue 16): comma-separated URLs of streaming replicas for public reads.
    # Empty: every read goes to the primary.
    database_replica_urls: str = ""
    # A replica further behind than either bound is skipped until a later check passes.
    replica_max_lag_s: float = 5.0
    replica_max_lag_bytes: int = 16 * 1_048_576
    # How long a replica's health verdict is trusted before the next cheap check.
    replica_check_s: float = 1.0
    # How long a caller who just wrote waits for a replica to replay their commit before
    # their read goes to the primary instead.
    replica_wait_ms: int = 200
    # Checkout wait on a replica's pool: short, since the primary is always the fallback.
    replica_pool_timeout_s: float = 0.5

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
    # The site's public address (e.g. https://park.example.cn): Open Graph needs absolute
    # image and page URLs, and behind a proxy the request's own Host is not the public one.
    # Unset: the request's base URL.
    public_base_url: str | None = None
    # New-inquiry e-mail to planners (parkgis.promotion.notify), only with host, from and to set.
    # PARKGIS_SMTP_TO takes several addresses, comma-separated; STARTTLS is used when the
    # server offers it and a user is given.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_to: str | None = None
    smtp_timeout_s: float = 10.0
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
    """The process environment's settings: for entry points (CLI, ``create_app``) only."""
    return Settings()
