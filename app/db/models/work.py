"""Labeling work: assignments (leases), annotations and adjudications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, utcnow

ASSIGNMENT_KINDS = ("label", "relabel", "gold", "qualification")
ASSIGNMENT_STATES = ("leased", "submitted", "skipped", "expired", "cancelled")
_ACTIVE = "state IN ('leased', 'submitted')"


class Assignment(Base):
    """An annotator's lease on an item under a spec version.

    ``slot`` (1..k) numbers the active-or-submitted assignments of an item in a labeling round
    (``Item.label_round``); the partial unique indexes make "more than k" and "the same person
    twice" impossible even if the claiming code were wrong. ``spec_version_id`` is the version
    the work is done under: the current one when leased.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint("kind IN ('label', 'relabel', 'gold', 'qualification')", name="kind"),
        CheckConstraint(
            "state IN ('leased', 'submitted', 'skipped', 'expired', 'cancelled')", name="state"
        ),
        CheckConstraint("slot >= 1", name="slot_positive"),
        Index(
            "uq_assignments_active_slot",
            "item_id",
            "label_round",
            "slot",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index(
            "uq_assignments_active_annotator",
            "item_id",
            "label_round",
            "user_id",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_assignments_user_id_state", "user_id", "state"),
        # Whether an annotator already holds, submitted or skipped an item (the candidate walk).
        Index("ix_assignments_item_id_user_id", "item_id", "user_id"),
        Index("ix_assignments_project_id_state_lease", "project_id", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("spec_versions.id"))
    label_round: Mapped[int] = mapped_column(default=1, server_default="1")
    kind: Mapped[str] = mapped_column(String(20), default="label")
    state: Mapped[str] = mapped_column(String(20), default="leased")
    slot: Mapped[int] = mapped_column(default=1)
    priority: Mapped[int] = mapped_column(default=0)
    leased_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    skip_reason: Mapped[str] = mapped_column(Text, default="")


class Annotation(Base):
    """A submitted value, stamped with the spec version it was made under. Never overwritten:
    an undo or correction retracts the old row and adds a new one. It counts for its item while
    ``label_round`` is the item's round; a re-label campaign makes it *stale* (kept, not used)."""

    __tablename__ = "annotations"
    __table_args__ = (
        CheckConstraint("source IN ('browser', 'api', 'import', 'demo')", name="source"),
        CheckConstraint("duration_ms IS NULL OR duration_ms >= 0", name="duration_nonnegative"),
        Index("ix_annotations_project_id_spec_version_id", "project_id", "spec_version_id"),
        Index("ix_annotations_item_id", "item_id"),
        Index("ix_annotations_user_id", "user_id"),
        # Few rows: the agreement watermark reads the latest retraction from it.
        Index(
            "ix_annotations_retracted_project_id",
            "project_id",
            "retracted_at",
            sqlite_where=text("retracted_at IS NOT NULL"),
            postgresql_where=text("retracted_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("spec_versions.id"))
    label_round: Mapped[int] = mapped_column(default=1, server_default="1")
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL"), unique=True
    )
    value: Mapped[Any] = mapped_column(JSONType)
    duration_ms: Mapped[int | None]
    unclear: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="browser")
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retracted_at: Mapped[datetime | None]


class AnnotationTag(Base):
    """An edge-case tag the annotator marked while labeling."""

    __tablename__ = "annotation_tags"

    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class Adjudication(Base):
    """A lead's ruling on an item's label under a spec version; revisions add rows."""

    __tablename__ = "adjudications"
    __table_args__ = (
        UniqueConstraint("item_id", "spec_version_id", "revision"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("spec_versions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revision: Mapped[int] = mapped_column(default=1)
    value: Mapped[Any] = mapped_column(JSONType)
    rationale: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
