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
        CheckConstraint(
            "qualification_pass > 0 AND qualification_pass <= 1", name="qualification_pass_range"
        ),
        CheckConstraint("qualification_size >= 1", name="qualification_size_positive"),
        CheckConstraint("qualification_cooldown_minutes >= 0", name="qualification_cooldown"),
        CheckConstraint("gold_share >= 0 AND gold_share <= 1", name="gold_share_range"),
        CheckConstraint(
            "gold_accuracy_bar >= 0 AND gold_accuracy_bar <= 1", name="gold_accuracy_bar_range"
        ),
        CheckConstraint("gold_min_checks >= 1", name="gold_min_checks_positive"),
        CheckConstraint("daily_quota IS NULL OR daily_quota >= 1", name="daily_quota_positive"),
        CheckConstraint(
            "max_items_per_annotator IS NULL OR max_items_per_annotator >= 1",
            name="max_items_positive",
        ),
        CheckConstraint(
            "max_share IS NULL OR (max_share > 0 AND max_share <= 1)", name="max_share_range"
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

    # Workforce rules (see app.domain.workforce_rules for what each one means).
    requires_qualification: Mapped[bool] = mapped_column(default=False, server_default=false())
    qualification_pass: Mapped[float] = mapped_column(Float, default=0.8, server_default="0.8")
    qualification_size: Mapped[int] = mapped_column(default=10, server_default="10")
    qualification_cooldown_minutes: Mapped[int] = mapped_column(default=60, server_default="60")
    gold_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    gold_accuracy_bar: Mapped[float] = mapped_column(Float, default=0.7, server_default="0.7")
    gold_min_checks: Mapped[int] = mapped_column(default=5, server_default="5")
    daily_quota: Mapped[int | None]
    """Default per-annotator limit of labels per (UTC) day; a membership may override it."""
    max_items_per_annotator: Mapped[int | None]
    max_share: Mapped[float | None] = mapped_column(Float)
    """At most this fraction of the project's items labeled by any one annotator."""


class Membership(Base):
    """A person working on a project; annotators only see projects they are members of."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        CheckConstraint("status IN ('active', 'paused')", name="status"),
        CheckConstraint("daily_quota IS NULL OR daily_quota >= 1", name="daily_quota_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    daily_quota: Mapped[int | None]
    """This person's labels-per-day limit here (overrides the project's default)."""
    paused_at: Mapped[datetime | None]
    paused_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    paused_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    """Who paused them; None with a ``paused_at`` means Accord did (gold accuracy)."""
    reinstated_at: Mapped[datetime | None]
    """Gold accuracy is judged on checks after this moment, so a reinstated person starts
    afresh."""
    qualified_at: Mapped[datetime | None]


class Tag(Base):
    """An edge-case tag: a named kind of hard case within a project."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
