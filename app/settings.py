"""Accord's configuration: one frozen dataclass read from ``ACCORD_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

EMBEDDED_BROKER = "embedded"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every knob Accord has. Each field maps to ``ACCORD_<FIELD NAME IN CAPITALS>``."""

    env: str = "development"
    """``development`` or ``production``. Production refuses to start without a secret key
    and marks cookies ``Secure``."""

    database_url: str = "sqlite:///var/accord.db"
    """SQLAlchemy URL. The embedded default is a SQLite file under ``./var/``; production uses
    ``postgresql+psycopg://user:password@host/db``."""

    broker_url: str = EMBEDDED_BROKER
    """``embedded`` (an in-process job worker), ``redis://host:6379/0`` or
    ``amqp://user:password@host:5672/``. With a real broker, run ``accord worker`` processes."""

    secret_key: str = ""
    """Secret used to sign the CSRF cookie. Required when ``env`` is ``production``; in
    development a random one is made per process."""

    host: str = "127.0.0.1"
    """Interface ``accord serve`` binds to."""

    port: int = 8000
    """Port ``accord serve`` listens on."""

    data_dir: str = "var"
    """Directory for the SQLite database, export snapshots and the demo credentials file."""

    session_hours: int = 12
    """Lifetime of a browser session, in hours, counted from the last request."""

    login_max_failures: int = 5
    """Failed logins allowed per account (and per client address) within ``login_window_minutes``
    before further attempts are refused with 429."""

    login_window_minutes: int = 15
    """Window for the login rate limit."""

    max_body_bytes: int = 20_000_000
    """Largest request body accepted (``request_max_body_size``); larger requests get 413."""

    load_demo: bool = True
    """Load the demo project the first time ``accord serve`` meets an empty database."""

    worker_threads: int = 2
    """Threads per job worker (the in-process one and each ``accord worker`` process)."""

    outbox_poll_seconds: float = 2.0
    """How often the outbox relay looks for jobs that were committed but not yet sent to the
    broker (e.g. because the broker was down)."""

    hotspot_scan_minutes: float = 15.0
    """How often the relay queues a hotspot scan for each project with annotations newer than
    its last scan (0 turns scheduled scans off; leads can still scan on demand)."""

    log_level: str = "INFO"
    """Python logging level for Accord's own loggers."""

    @property
    def is_production(self) -> bool:
        """True when running with ``env=production``."""
        return self.env == "production"

    @property
    def uses_embedded_broker(self) -> bool:
        """True when jobs run in the web process."""
        return self.broker_url == EMBEDDED_BROKER

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``ACCORD_*`` variables, validating each one."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            name = f"ACCORD_{field.name.upper()}"
            if name not in environ:
                continue
            raw = environ[name]
            if field.type in ("int", int):
                try:
                    values[field.name] = int(raw)
                except ValueError:
                    raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
            elif field.type in ("float", float):
                try:
                    values[field.name] = float(raw)
                except ValueError:
                    raise SettingsError(f"{name} must be a number, got {raw!r}") from None
            elif field.type in ("bool", bool):
                if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise SettingsError(f"{name} must be true or false, got {raw!r}")
                values[field.name] = raw.lower() in {"1", "true", "yes"}
            else:
                values[field.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.env not in {"development", "production", "test"}:
            raise SettingsError(
                f"ACCORD_ENV must be development, production or test, got {self.env!r}"
            )
        if self.is_production and not self.secret_key:
            raise SettingsError(
                "ACCORD_SECRET_KEY is required when ACCORD_ENV=production "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            raise SettingsError(
                f"ACCORD_DATABASE_URL is not a database URL: {self.database_url!r} "
                "(expected e.g. sqlite:///var/accord.db or postgresql+psycopg://user@host/db)"
            ) from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise SettingsError(
                f"ACCORD_DATABASE_URL must point at SQLite or PostgreSQL, got {url.drivername!r}"
            )
        if not (
            self.uses_embedded_broker
            or self.broker_url.startswith(("redis://", "rediss://", "amqp://", "amqps://"))
        ):
            raise SettingsError(
                "ACCORD_BROKER_URL must be 'embedded', a redis:// URL or an amqp:// URL, "
                f"got {self.broker_url!r}"
            )
        for name in (
            "port",
            "session_hours",
            "login_max_failures",
            "login_window_minutes",
            "max_body_bytes",
            "worker_threads",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(f"ACCORD_{name.upper()} must be at least 1")
        if self.outbox_poll_seconds <= 0:
            raise SettingsError("ACCORD_OUTBOX_POLL_SECONDS must be more than 0")
        if self.hotspot_scan_minutes < 0:
            raise SettingsError("ACCORD_HOTSPOT_SCAN_MINUTES must be 0 (off) or more")

    @property
    def data_path(self) -> Path:
        """The data directory as a path."""
        return Path(self.data_dir)
