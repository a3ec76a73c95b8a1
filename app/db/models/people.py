"""People and credentials: users, browser sessions, API tokens and login attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, JSONType, utcnow

ROLES = ("admin", "lead", "annotator")


class User(Base):
    """A person (or an imported vendor annotator without a login)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'lead', 'annotator')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    handle: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]

    @property
    def can_log_in(self) -> bool:
        """True for an active user who has a password."""
        return self.is_active and self.password_hash is not None

    @property
    def display_name(self) -> str:
        """Name if set, else the handle."""
        return self.name or self.handle


class WebSession(Base):
    """A server-side browser session; the cookie holds a random id, the table its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    user_agent: Mapped[str] = mapped_column(String(300), default="")

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token for /api/v1: random, stored as SHA-256, scoped and revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")
    project_links: Mapped[list[ApiTokenProject]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def project_ids(self) -> set[int] | None:
        """The projects this token is limited to, or None for all the user may reach."""
        return {link.project_id for link in self.project_links} or None


class ApiTokenProject(Base):
    """Limits a token to one project (a token with no rows reaches all its user's projects)."""

    __tablename__ = "api_token_projects"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )


class LoginAttempt(Base):
    """One login attempt, kept for the rate limit (shared by every web process)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_attempted_at", "key", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool] = mapped_column(default=False)
