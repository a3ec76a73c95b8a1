"""Background jobs (the transactional outbox) and what the first job computes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, utcnow

JOB_STATUSES = ("queued", "running", "done", "failed")
# At most one pending job per dedupe key: enqueueing again while one waits is a no-op.
_PENDING = "status IN ('queued', 'running')"


class Job(Base):
    """An outbox row: written in the same transaction as the change that needs it, relayed to
    the broker afterwards, executed (at least once) by an idempotent actor keyed by its id."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        Index("ix_jobs_status_sent_at", "status", "sent_at"),
        Index(
            "uq_jobs_dedupe_key_pending",
            "dedupe_key",
            unique=True,
            sqlite_where=text(_PENDING),
            postgresql_where=text(_PENDING),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    progress: Mapped[float] = mapped_column(default=0.0)
    error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ProjectStats(Base):
    """Counts per project, refreshed by the ``recount_project`` job."""

    __tablename__ = "project_stats"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    n_items: Mapped[int] = mapped_column(default=0)
    n_items_complete: Mapped[int] = mapped_column(default=0)
    n_annotations: Mapped[int] = mapped_column(default=0)
    n_annotators: Mapped[int] = mapped_column(default=0)
    n_active_leases: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    job_id: Mapped[str | None] = mapped_column(String(36))
