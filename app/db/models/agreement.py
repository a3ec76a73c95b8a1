"""Agreement reports kept for every process to share (see :mod:`app.domain.agreement_store`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
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
