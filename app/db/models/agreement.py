"""Agreement reports kept for every process to share (see :mod:`app.domain.agreement_store`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class StoredAgreementReport(Base):
    """The latest report of a project for one set of parameters, valid while the project's
    watermark (what the report was computed from) has not moved."""

    __tablename__ = "agreement_reports"
    __table_args__ = (UniqueConstraint("project_id", "parameters"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    parameters: Mapped[str] = mapped_column(String(200))
    """Which labels, grouped how, with how many resamples at what confidence."""
    watermark: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the watermark and Accord's version the report was computed under."""
    report: Mapped[str] = mapped_column(Text)
    """The report as JSON."""
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class KeptTaggedLabels(Base):
    """The labels in force on a project's tagged items as last read, with what they were read
    at, so that the next reader brings them up to date instead of reading them all again (see
    :mod:`app.domain.tagged_labels`)."""

    __tablename__ = "kept_tagged_labels"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    inputs: Mapped[str] = mapped_column(String(64))
    """SHA-256 of what, when it changes, makes the labels be read whole again (Accord's
    version, the item tags' count, the latest re-label campaign)."""
    annotations: Mapped[int]
    """The project's annotations (live or retracted) when read."""
    retractions: Mapped[int]
    """Of those, the retracted ones."""
    last_annotation_id: Mapped[int]
    """The highest annotation id of any project when read: later labels have higher ids."""
    ratings: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    """Parquet: id (annotation), item, annotator, value as the project's kind types it."""
    tags: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    """Parquet: item, tag_id, round (the item's labeling round). Both Parquet columns load
    when first used: a reader that must read the labels whole never needs them."""
    kept_at: Mapped[datetime] = mapped_column(default=utcnow)
