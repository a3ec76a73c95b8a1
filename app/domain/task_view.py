"""What an annotator sees for a task: the item, its edge-case tags and the spec's rules for
exactly those tags; and whether they hold a live task at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, bindparam, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import execute_core
from app.db.models import Assignment, Item, ItemTag, Project, SpecRule, SpecVersion, Tag, User
from app.domain.projects import current_spec


@dataclass(frozen=True)
class TaskItem:
    """The fields of an item an annotator sees."""

    external_id: str
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class TaskView:
    """What an annotator sees for a task: the item, its tags, and the rules for those tags."""

    assignment: Assignment
    item: TaskItem
    spec_number: int
    tags: list[str]
    rules: list[tuple[str, str]]


_SPEC_VERSION = bindparam("spec_version_id", type_=Integer)
_ITEM_WITH_TAGS_AND_RULES = (
    select(Item.external_id, Item.text, Item.metadata_, Tag.name, SpecRule.text)
    .outerjoin(ItemTag, ItemTag.item_id == Item.id)
    .outerjoin(Tag, Tag.id == ItemTag.tag_id)
    .outerjoin(SpecRule, and_(SpecRule.tag_id == Tag.id, SpecRule.spec_version_id == _SPEC_VERSION))
    .where(Item.id == bindparam("item_id", type_=Integer))
)
"""One row per tag of the item (one row if it has none), with the spec's rule for that tag:
the whole task in one statement, built once (the task API serves one per lease)."""


def describe_task(session: Session, assignment: Assignment) -> TaskView:
    """The item, its tag names and the spec's rules for exactly those tags (sorted by tag)."""
    spec = session.get(SpecVersion, assignment.spec_version_id)
    rows = execute_core(
        session,
        _ITEM_WITH_TAGS_AND_RULES,
        {"item_id": assignment.item_id, "spec_version_id": assignment.spec_version_id},
    ).all()
    assert spec is not None and rows  # foreign keys guarantee both
    external_id, text, metadata = rows[0][:3]
    tags = sorted(tag for *_, tag, _ in rows if tag is not None)
    rules = sorted((tag, rule) for *_, tag, rule in rows if rule is not None)
    return TaskView(assignment, TaskItem(external_id, text, metadata), spec.number, tags, rules)


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
