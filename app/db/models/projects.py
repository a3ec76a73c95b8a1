"""Projects, who works on them, and their edge-case tags."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

TASK_KINDS = ("single_choice", "multi_choice", "ordinal", "numeric")


class Project(Base):
    """One labeling effort: a task kind, a spec (with its labels), an overlap k, a lease time."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('single_choice', 'multi_choice', 'ordinal', 'numeric')", name="kind"
        ),
        CheckConstraint("overlap >= 1", name="overlap_positive"),
        CheckConstraint("lease_seconds >= 30", name="lease_seconds_min"),
        CheckConstraint("min_pairable >= 1", name="min_pairable_positive"),
        CheckConstraint(
            "alpha_threshold >= 0 AND alpha_threshold <= 1", name="alpha_threshold_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20))
    overlap: Mapped[int] = mapped_column(default=3)
    lease_seconds: Mapped[int] = mapped_column(default=900)
    auto_submit: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Single choice only: pressing a label's key submits at once (undo is one key away)."""
    min_pairable: Mapped[int] = mapped_column(default=30)
    alpha_threshold: Mapped[float] = mapped_column(Float, default=0.667)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived_at: Mapped[datetime | None]
    export_salt: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))
    """Keys the pseudonymous annotator ids of exports: stable per project, not reversible
    without the database."""


class Membership(Base):
    """A person working on a project; annotators only see projects they are members of."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        CheckConstraint("status IN ('active', 'paused')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Tag(Base):
    """An edge-case tag: a named kind of hard case within a project."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
