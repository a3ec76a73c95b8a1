"""Items to label, their edge-case tags, and the import batches that brought them in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

SPLITS = ("train", "eval", "holdout")


class ImportBatch(Base):
    """One all-or-nothing import (items or annotations), kept for provenance."""

    __tablename__ = "import_batches"
    __table_args__ = (CheckConstraint("kind IN ('items', 'annotations')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40), default="api")
    filename: Mapped[str] = mapped_column(String(300), default="")
    n_created: Mapped[int] = mapped_column(default=0)
    n_unchanged: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Item(Base):
    """A thing to label: text plus metadata, unique by ``external_id`` within its project."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id"),
        CheckConstraint("split IN ('train', 'eval', 'holdout')", name="split"),
        # Exports look up the few eval and holdout items of a project.
        Index("ix_items_project_id_split", "project_id", "split"),
        Index("ix_items_project_id_text_hash", "project_id", "text_hash"),
        # The assignment engine walks a project's open items one priority at a time, oldest
        # first (see app.domain.candidates), and items already full under the current spec not
        # at all.
        Index(
            "ix_items_open_project_id_priority_created_at_id",
            "project_id",
            "priority",
            "created_at",
            "id",
            sqlite_where=text("is_full = 0"),
            postgresql_where=text("NOT is_full"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    split: Mapped[str] = mapped_column(String(10), default="train")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    priority: Mapped[int] = mapped_column(default=0)
    label_round: Mapped[int] = mapped_column(default=1, server_default="1")
    """The item's labeling round: 1 from import, one more each time a published spec change
    makes its labels stale (a re-label campaign). The engine gives an item k assignments per
    round; annotations of earlier rounds are stale but kept for history and provenance."""
    is_full: Mapped[bool] = mapped_column(default=False, server_default=false())
    """A hint for the assignment engine: k active assignments in the item's current round. Only
    set where that was just counted under the item's lock; any change that frees a slot clears
    it, and so does a re-label campaign. False is always safe (the engine counts anyway)."""
    import_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ItemTag(Base):
    """An edge-case tag on an item, with where it came from."""

    __tablename__ = "item_tags"
    __table_args__ = (
        CheckConstraint("source IN ('import', 'annotator', 'lead')", name="source"),
        Index("ix_item_tags_tag_id", "tag_id"),
    )

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), default="import")
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
