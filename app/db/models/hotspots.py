"""Spec-ambiguity hotspots found by the scan job, with their lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, utcnow

HOTSPOT_VERDICTS = ("spec_ambiguity", "annotator_noise", "hard_items")
HOTSPOT_STATUSES = ("open", "acknowledged", "addressed", "dismissed")


class Hotspot(Base):
    """Where agreement is confidently low and why. One row per (project, key) across scans:
    a later scan updates the figures and evidence and keeps the lead's status."""

    __tablename__ = "hotspots"
    __table_args__ = (
        UniqueConstraint("project_id", "key"),
        CheckConstraint(
            "verdict IN ('spec_ambiguity', 'annotator_noise', 'hard_items')", name="verdict"
        ),
        CheckConstraint(
            "status IN ('open', 'acknowledged', 'addressed', 'dismissed')", name="status"
        ),
        CheckConstraint("scope IN ('tag', 'annotator')", name="scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    """``tag:<name>`` or ``annotator:<user id>``: what makes two scans' findings the same."""
    scope: Mapped[str] = mapped_column(String(20))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    verdict: Mapped[str] = mapped_column(String(20))
    alpha: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n_items: Mapped[int] = mapped_column(default=0)
    n_pairable: Mapped[int] = mapped_column(default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    spec_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("spec_versions.id", ondelete="SET NULL")
    )
    """The spec version in force when the hotspot was last seen."""
    present: Mapped[bool] = mapped_column(default=True)
    """Whether the latest scan still found it."""
    status: Mapped[str] = mapped_column(String(20), default="open")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    addressed_by_number: Mapped[int | None]
    status_changed_at: Mapped[datetime | None]
    status_changed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_scan_job_id: Mapped[str | None] = mapped_column(String(36))
