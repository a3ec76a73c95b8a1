"""Export snapshots: immutable, content-hashed exports with their manifest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.db.base import Base, JSONType, utcnow


class Snapshot(Base):
    """An export frozen at one moment: its bytes live in the row (written in the same
    transaction as the job that made them, so a snapshot is whole or absent), with their
    SHA-256 and a manifest of how they were made."""

    __tablename__ = "snapshots"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ready', 'failed')", name="status"),
        CheckConstraint("format IN ('jsonl', 'csv', 'parquet')", name="format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    format: Mapped[str] = mapped_column(String(10))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(36))
    sha256: Mapped[str | None] = mapped_column(String(64))
    n_rows: Mapped[int | None]
    n_bytes: Mapped[int | None]
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None]
