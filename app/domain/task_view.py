"""What an annotator sees for a task: the item, its edge-case tags and the spec's rules for
exactly those tags; and whether they hold a live task at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Assignment, Item, ItemTag, Project, SpecVersion, Tag, User
from app.domain.projects import current_spec


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


def is_live(assignment: Assignment, now: datetime | None = None) -> bool:
    """True while the assignment is leased and its lease has not run out."""
    return assignment.state == "leased" and assignment.lease_expires_at > (now or utcnow())


def held_task(session: Session, project: Project, user: User) -> int | None:
    """The id of the user's live lease on the project under its current spec, if any (a read:
    unlike leasing, it changes nothing)."""
    return session.scalar(
        select(Assignment.id).where(
            Assignment.project_id == project.id,
            Assignment.user_id == user.id,
            Assignment.spec_version_id == current_spec(session, project).id,
            Assignment.state == "leased",
            Assignment.lease_expires_at > utcnow(),
        )
    )
