"""What an annotator sees for a task: the item, its edge-case tags and the spec's rules for
exactly those tags."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Assignment, Item, ItemTag, SpecVersion, Tag


@dataclass(frozen=True)
class TaskView:
    """What an annotator sees for a task: the item, its tags, and the rules for those tags."""

    assignment: Assignment
    item: Item
    spec_number: int
    tags: list[str]
    rules: list[tuple[str, str]]


def describe_task(session: Session, assignment: Assignment) -> TaskView:
    """The item, its tag names and the spec's rules for exactly those tags (sorted by tag)."""
    item = session.get(Item, assignment.item_id)
    spec = session.get(SpecVersion, assignment.spec_version_id)
    assert item is not None and spec is not None  # foreign keys guarantee both
    tags = dict(
        session.execute(
            select(Tag.id, Tag.name)
            .join(ItemTag, ItemTag.tag_id == Tag.id)
            .where(ItemTag.item_id == item.id)
        ).all()
    )
    rules = sorted((tags[r.tag_id], r.text) for r in spec.rules if r.tag_id in tags)
    return TaskView(assignment, item, spec.number, sorted(tags.values()), rules)
