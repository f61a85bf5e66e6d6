"""Settings from the environment (pydantic-settings).

Names are the contract of docs/architecture.md (at the repository root): secrets DATABASE_URL,
AUTH_SECRET, OPENAI_API_KEY, APP_DATABASE_URL (the migrator's, embedded PostgreSQL only);
tuning ENVIRONMENT, LOG_LEVEL, OPENAI_*, DB_*,
ACCESS_TOKEN_EXPIRE_MINUTES, COOKIE_SECURE, WEB_CONCURRENCY, API_DOCS_ENABLED, TRUSTED_PROXIES,
ALLOWED_ORIGINS, PASSWORD_HASH_CONCURRENCY, PASSWORD_HASH_QUEUE, AUTH_RATE_PER_ADDRESS,
AUTH_RATE_PER_ACCOUNT, AUTH_SLOWDOWN_PER_ACCOUNT, ASSISTANT_TURNS_PER_HOUR,
DB_STATEMENT_TIMEOUT_MS, MAX_TASKS_PER_USER, ASSISTANT_TOKENS_PER_USER_PER_DAY,
ASSISTANT_TOKENS_PER_DAY.

Secrets are SecretStr so that a repr, a log line or a traceback never shows them, and
configuration errors are reported by variable name only (see ``describe_errors``).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# Schemes we accept for DATABASE_URL. Whatever driver a URL names, we talk psycopg 3, which
# reads libpq parameters (sslmode, channel_binding, options, ...) from the query unchanged.
_POSTGRES_SCHEMES = {"postgres", "postgresql"}
DRIVER = "postgresql+psycopg"
MIN_AUTH_SECRET_LENGTH = 32
# Who may tell us the client's address in X-Forwarded-For: nobody unless the deployment names
# its own Ingress hop (the chart does). Trusting whole private ranges let any pod that reaches
# the backend directly pick its own throttle key, and one private hop merge every client.
DEFAULT_TRUSTED_PROXIES = ""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDRs; ValueError names the bad entry."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"has an entry that is not an address or CIDR: {item!r}") from None
    return tuple(networks)


def parse_origins(raw: str) -> frozenset[str]:
    """Comma-separated origins (scheme://host[:port]), normalised to lower case."""
    origins = set()
    for item in (part.strip().rstrip("/").lower() for part in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(f"has an entry that is not an origin like https://host: {item!r}")
        origins.add(item)
    return frozenset(origins)


def normalise_database_url(raw: str) -> URL:
    """Turn a libpq-style URL (as Neon, Heroku or psql take it) into a SQLAlchemy URL.

    Raises ValueError with a message that never contains the URL itself (it holds a password).
    """
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(
            "is not a valid URL (expected postgresql:// with user, password, host and database)"
        ) from None
    backend = url.drivername.split("+", 1)[0]
    if backend not in _POSTGRES_SCHEMES:
        raise ValueError("must start with postgresql:// (or postgres://)")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError("has an invalid port")
    return url.set(drivername=DRIVER)


class DatabaseSettings(BaseSettings):
    """What `todo-api migrate` needs: the database and logging, nothing else."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", hide_input_in_errors=True
    )

    database_url: SecretStr
    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    # libpq counts whole seconds and treats anything below 2 as 2.
    db_connect_timeout_seconds: int = Field(default=5, ge=1, le=120)
    # `todo-api migrate` only: the URL the API connects with, when the deployment owns the
    # database (the chart's embedded PostgreSQL). Its role is created or updated with this
    # password and granted row access and nothing else (app_role.py).
    app_database_url: SecretStr | None = None

    @field_validator("log_level", "environment", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url", "app_database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            normalise_database_url(value.get_secret_value())
        return value

    @field_validator("app_database_url", mode="before")
    @classmethod
    def _empty_url_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def sqlalchemy_url(self) -> URL:
        return normalise_database_url(self.database_url.get_secret_value())

    def secret_values(self) -> list[str]:
        """Strings that must never reach a log line."""
        values = []
        for secret in (self.database_url, self.app_database_url):
            if secret is None:
                continue
            values.append(secret.get_secret_value())
            password = normalise_database_url(secret.get_secret_value()).password
            if password:
                values.append(str(password))
        return values


class Settings(DatabaseSettings):
    """Everything the API processes need."""

    auth_secret: SecretStr
    openai_api_key: SecretStr | None = None
    openai_model: str = Field(default="gpt-4o-mini", min_length=1)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    access_token_expire_minutes: int = Field(default=1440, ge=1, le=60 * 24 * 90)
    cookie_secure: bool = False
    web_concurrency: int = Field(default=1, ge=1, le=64)
    # None: on in dev, off otherwise (the API's own description is no secret, but a public
    # production API has no need to advertise every route).
    api_docs_enabled: bool | None = None
    trusted_proxies: str = DEFAULT_TRUSTED_PROXIES
    # Extra origins (besides the request's own host) allowed to send unsafe requests.
    allowed_origins: str = ""
    # argon2 runs on its own threads, this many per process, never on the request threads.
    password_hash_concurrency: int = Field(default=1, ge=1, le=16)
    # Logins/registrations allowed to wait for those threads; more answer 503 at once (a burst
    # must not queue for many seconds: 16 waiting x ~30 ms a hash stays well under a second).
    password_hash_queue: int = Field(default=16, ge=0, le=10_000)
    # Login + register attempts per minute (0 = no limit); per process. Per address: any
    # attempt. Per account: failures per (account, client address), then 429 for that client
    # only. Slowdown: failures per account from all addresses, then each attempt waits a
    # second before its hash (never refused: strangers cannot lock the owner out).
    auth_rate_per_address: int = Field(default=30, ge=0, le=100_000)
    auth_rate_per_account: int = Field(default=10, ge=0, le=100_000)
    auth_slowdown_per_account: int = Field(default=20, ge=0, le=100_000)
    assistant_turns_per_hour: int = Field(default=60, ge=0, le=100_000)
    # Model tokens per UTC day, counted in the database (0 = no limit): per user, and for
    # the whole deployment (a ceiling on what the OpenAI key can cost in a day).
    assistant_tokens_per_user_per_day: int = Field(default=200_000, ge=0, le=10**10)
    assistant_tokens_per_day: int = Field(default=5_000_000, ge=0, le=10**12)
    # Bounded database work. Every statement of the API's connections is cancelled after this
    # (the request answers 503 with Retry-After); migrations run without it.
    db_statement_timeout_ms: int = Field(default=5_000, ge=100, le=600_000)
    # Tasks one user may hold; creating one more is a 409 naming the cap.
    max_tasks_per_user: int = Field(default=10_000, ge=1, le=1_000_000)

    @field_validator("auth_secret")
    @classmethod
    def _check_auth_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().strip()) < MIN_AUTH_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_AUTH_SECRET_LENGTH} characters long")
        return value

    @field_validator("openai_api_key", mode="before")
    @classmethod
    def _empty_key_means_none(cls, value: object) -> object:
        # A Secret created with an empty OPENAI_API_KEY means "assistant not configured".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_allowed_origins(cls, value: str) -> str:
        parse_origins(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def allowed_origin_set(self) -> frozenset[str]:
        return parse_origins(self.allowed_origins)

    @property
    def docs_enabled(self) -> bool:
        if self.api_docs_enabled is None:
            return self.environment == "dev"
        return self.api_docs_enabled

    @property
    def assistant_enabled(self) -> bool:
        return self.openai_api_key is not None

    def secret_values(self) -> list[str]:
        values = [*super().secret_values(), self.auth_secret.get_secret_value()]
        if self.openai_api_key is not None:
            values.append(self.openai_api_key.get_secret_value())
        return values


class ConfigError(Exception):
    """A configuration problem, described by variable names only."""


def describe_errors(exc: ValidationError) -> str:
    """One line naming every bad variable; never the values (they may be secrets)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        name = "_".join(str(p) for p in error["loc"]).upper() or "settings"
        if error["type"] == "missing":
            parts.append(f"{name} is not set")
        else:
            message = error["msg"].removeprefix("Value error, ")
            parts.append(
                f"{name} {message}" if error["type"] == "value_error" else f"{name}: {message}"
            )
    return "; ".join(parts)


def load(cls: type[DatabaseSettings] | None = None, **overrides) -> DatabaseSettings:
    cls = cls or Settings
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None


@lru_cache
def get_settings() -> Settings:
    return load(Settings)  # type: ignore[return-value]
