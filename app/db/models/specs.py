"""Spec versions: labels, guidelines and one rule per edge-case tag, immutable once published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, utcnow


class SpecVersion(Base):
    """One numbered version of a project's annotation spec."""

    __tablename__ = "spec_versions"
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("NOT is_current OR status = 'published'", name="current_is_published"),
        # Exactly one current version per project: the database refuses a second.
        Index(
            "uq_spec_versions_current_per_project",
            "project_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="draft")
    is_current: Mapped[bool] = mapped_column(default=False)
    guidelines: Mapped[str] = mapped_column(Text, default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    scale_min: Mapped[float | None] = mapped_column(Float)
    scale_max: Mapped[float | None] = mapped_column(Float)
    scale_step: Mapped[float | None] = mapped_column(Float)
    based_on_number: Mapped[int | None]
    edit_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    labels: Mapped[list[SpecLabel]] = relationship(
        order_by="SpecLabel.position", cascade="all, delete-orphan", lazy="selectin"
    )
    # Loaded when first used: validating a value needs the labels, not the rules.
    rules: Mapped[list[SpecRule]] = relationship(cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": edit_version}


class SpecLabel(Base):
    """A label of a spec version; for ordinal projects ``position`` is the scale order."""

    __tablename__ = "spec_labels"
    __table_args__ = (
        UniqueConstraint("spec_version_id", "key"),
        UniqueConstraint("spec_version_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("spec_versions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    hotkey: Mapped[str | None] = mapped_column(String(8))
    position: Mapped[int]


class SpecRule(Base):
    """The rule for one edge-case tag in one spec version."""

    __tablename__ = "spec_rules"
    __table_args__ = (UniqueConstraint("spec_version_id", "tag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("spec_versions.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)


class SpecAcknowledgement(Base):
    """An annotator's acknowledgement that they read what changed in a spec version."""

    __tablename__ = "spec_acknowledgements"
    __table_args__ = (UniqueConstraint("spec_version_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("spec_versions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)
