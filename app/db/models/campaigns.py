"""Re-label campaigns: what publishing a spec version queued, item by item."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, utcnow


class RelabelCampaign(Base):
    """The re-labeling a published spec version caused: at most one per version (publishing
    twice, or a job delivered twice, finds the campaign already there)."""

    __tablename__ = "relabel_campaigns"
    __table_args__ = (CheckConstraint("n_items >= 0", name="n_items_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    spec_version_id: Mapped[int] = mapped_column(
        ForeignKey("spec_versions.id", ondelete="CASCADE"), unique=True
    )
    previous_spec_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("spec_versions.id", ondelete="SET NULL")
    )
    job_id: Mapped[str | None] = mapped_column(String(36))
    n_items: Mapped[int] = mapped_column(default=0)
    overlap: Mapped[int] = mapped_column(default=3)
    """k when the campaign was created: re-label assignments per item."""
    impact: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """The impact summary at publish time: changed tags and labels, counts, the estimate."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RelabelItem(Base):
    """An item a campaign sends back for labeling, and the round its stale labels belong to."""

    __tablename__ = "relabel_items"
    __table_args__ = (Index("ix_relabel_items_item_id", "item_id"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("relabel_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    stale_round: Mapped[int]
    """The round whose labels the campaign replaced (the new round is one more)."""
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """Why the item is affected: ``rule:<tag>`` and ``label:<key>`` entries."""
