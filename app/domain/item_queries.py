"""Read models for the items list and the item page: filters, search, statuses, history.

Item status is measured under the project's *current* spec version, over submitted annotations
that have not been retracted (``n`` of them, ``d`` distinct values; overlap ``k``):

- ``needs_labels``: ``n < k``;
- ``complete``: ``n >= k`` and ``d == 1`` (everyone agrees);
- ``disputed``: ``n >= 2`` and ``d > 1``.

So an item can both need labels and be disputed already (two of three annotators disagree); a
complete item is never disputed. Counts per status therefore need not add up to the total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from app.db.models import (
    Annotation,
    AnnotationTag,
    AuditEvent,
    GoldItem,
    ImportBatch,
    Item,
    ItemTag,
    Project,
    SpecVersion,
    Tag,
    User,
)
from app.db.models.items import SPLITS
from app.domain.errors import InvalidInput
from app.domain.gold import live_gold
from app.domain.items import get_item

STATUSES = ("needs_labels", "complete", "disputed")
STATUS_NAMES = {"needs_labels": "needs labels", "complete": "complete", "disputed": "disputed"}
PER_PAGE = 50
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class ItemFilters:
    """What the items list is narrowed to; empty means "any"."""

    tag: str = ""
    split: str = ""
    status: str = ""
    q: str = ""

    def check(self) -> None:
        """Raise InvalidInput naming an unknown split or status."""
        errors = {}
        if self.split and self.split not in SPLITS:
            errors["split"] = f"must be one of {', '.join(SPLITS)}"
        if self.status and self.status not in STATUSES:
            errors["status"] = f"must be one of {', '.join(STATUSES)}"
        if errors:
            raise InvalidInput("unknown filter value", field_errors=errors)


@dataclass(frozen=True)
class ItemSummary:
    """One row of the items list."""

    item: Item
    tags: list[str]
    n_annotations: int
    statuses: list[str]


@dataclass(frozen=True)
class ItemPage:
    """One page of the items list with the counts per status under the same filters."""

    items: list[ItemSummary]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]
    spec_number: int | None

    @property
    def pages(self) -> int:
        """How many pages the filtered list has (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def _current_spec_number(session: Session, project: Project) -> int | None:
    return session.scalar(
        select(SpecVersion.number).where(
            SpecVersion.project_id == project.id, SpecVersion.is_current.is_(True)
        )
    )


def _annotation_stats(project: Project) -> Any:
    """Per item: how many live labels of its current round, and how many distinct values."""
    return (
        select(
            Annotation.item_id.label("item_id"),
            func.count().label("n"),
            func.count(func.distinct(Annotation.value)).label("d"),
        )
        .join(Item, (Item.id == Annotation.item_id) & (Item.label_round == Annotation.label_round))
        .where(
            Annotation.project_id == project.id,
            Annotation.retracted_at.is_(None),
        )
        .group_by(Annotation.item_id)
        .subquery("stats")
    )


def _status_conditions(n: Any, d: Any, overlap: int) -> dict[str, ColumnElement[bool]]:
    n0, d0 = func.coalesce(n, 0), func.coalesce(d, 0)
    return {
        "needs_labels": n0 < overlap,
        "complete": and_(n0 >= overlap, d0 == 1),
        "disputed": and_(n0 >= 2, d0 > 1),
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(project: Project, filters: ItemFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Item.project_id == project.id]
    if filters.split:
        conditions.append(Item.split == filters.split)
    if filters.tag:
        conditions.append(
            exists(
                select(ItemTag.item_id)
                .join(Tag, Tag.id == ItemTag.tag_id)
                .where(ItemTag.item_id == Item.id, Tag.name == filters.tag)
            )
        )
    if filters.q.strip():
        pattern = f"%{_escape_like(filters.q.strip().lower())}%"
        conditions.append(
            or_(
                func.lower(Item.text).like(pattern, escape="\\"),
                func.lower(Item.external_id).like(pattern, escape="\\"),
            )
        )
    return conditions


def list_items(
    session: Session,
    project: Project,
    filters: ItemFilters,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> ItemPage:
    """One page of the project's items (import order) under ``filters``, with status counts."""
    filters.check()
    page = max(1, page)
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    spec_number = _current_spec_number(session, project)
    stats = _annotation_stats(project)
    status_of = _status_conditions(stats.c.n, stats.c.d, project.overlap)
    conditions = _filtered(project, filters)
    base = select(Item).outerjoin(stats, stats.c.item_id == Item.id).where(*conditions)
    count_row = session.execute(
        select(
            func.count().label("all"),
            *(
                func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(name)
                for name, cond in status_of.items()
            ),
        )
        .select_from(Item)
        .outerjoin(stats, stats.c.item_id == Item.id)
        .where(*conditions)
    ).one()
    counts = {"all": int(count_row[0])}
    counts.update({name: int(count_row[i + 1]) for i, name in enumerate(status_of)})
    if filters.status:
        base = base.where(status_of[filters.status])
    total = counts[filters.status] if filters.status else counts["all"]
    rows = session.execute(
        base.add_columns(stats.c.n, stats.c.d)
        .order_by(Item.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    tags = _tags_of(session, [row[0].id for row in rows])
    summaries = []
    for item, n, d in rows:
        n, d = int(n or 0), int(d or 0)
        statuses = [
            name
            for name, test in (
                ("needs_labels", n < project.overlap),
                ("complete", n >= project.overlap and d == 1),
                ("disputed", n >= 2 and d > 1),
            )
            if test
        ]
        summaries.append(ItemSummary(item, tags.get(item.id, []), n, statuses))
    return ItemPage(summaries, total, page, per_page, counts, spec_number)


def _tags_of(session: Session, item_ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = defaultdict(list)
    if item_ids:
        rows = session.execute(
            select(ItemTag.item_id, Tag.name)
            .join(Tag, Tag.id == ItemTag.tag_id)
            .where(ItemTag.item_id.in_(item_ids))
            .order_by(Tag.name)
        )
        for item_id, name in rows:
            tags[item_id].append(name)
    return tags


@dataclass(frozen=True)
class AnnotationView:
    """An annotation as the item page shows it."""

    annotator: str
    value: Any
    spec_number: int
    is_current_spec: bool
    is_stale: bool
    """Made in an earlier labeling round: a spec change sent the item back for re-labeling."""
    duration_ms: int | None
    unclear: bool
    comment: str
    source: str
    created_at: datetime
    retracted_at: datetime | None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuditView:
    """An audit event about the item, with who did it."""

    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


@dataclass(frozen=True)
class ItemDetail:
    """Everything the item page shows."""

    item: Item
    tags: list[tuple[str, str]]
    batch: ImportBatch | None
    annotations: list[AnnotationView]
    audit: list[AuditView]
    gold: GoldItem | None = None
    """The item's live gold answer, if it is a gold item (leads only see this page)."""


def item_detail(session: Session, project: Project, external_id: str) -> ItemDetail:
    """The item with its tags (and their source), annotations and audit log, oldest first."""
    item = get_item(session, project, external_id)
    tags = [
        (name, source)
        for name, source in session.execute(
            select(Tag.name, ItemTag.source)
            .join(ItemTag, ItemTag.tag_id == Tag.id)
            .where(ItemTag.item_id == item.id)
            .order_by(Tag.name)
        )
    ]
    rows = session.execute(
        select(Annotation, User, SpecVersion.number, SpecVersion.is_current)
        .join(User, User.id == Annotation.user_id)
        .join(SpecVersion, SpecVersion.id == Annotation.spec_version_id)
        .where(Annotation.item_id == item.id)
        .order_by(Annotation.created_at, Annotation.id)
    ).all()
    marked: dict[int, list[str]] = defaultdict(list)
    if rows:
        for annotation_id, name in session.execute(
            select(AnnotationTag.annotation_id, Tag.name)
            .join(Tag, Tag.id == AnnotationTag.tag_id)
            .where(AnnotationTag.annotation_id.in_([a.id for a, *_ in rows]))
            .order_by(Tag.name)
        ):
            marked[annotation_id].append(name)
    annotations = [
        AnnotationView(
            annotator=user.display_name,
            value=a.value,
            spec_number=number,
            is_current_spec=bool(is_current),
            is_stale=a.label_round < item.label_round,
            duration_ms=a.duration_ms,
            unclear=a.unclear,
            comment=a.comment,
            source=a.source,
            created_at=a.created_at,
            retracted_at=a.retracted_at,
            tags=marked.get(a.id, []),
        )
        for a, user, number, is_current in rows
    ]
    audit = [
        AuditView(event.at, name or "system", event.action, event.details or {})
        for event, name in session.execute(
            select(AuditEvent, func.coalesce(func.nullif(User.name, ""), User.handle))
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .where(AuditEvent.item_id == item.id)
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    ]
    batch = session.get(ImportBatch, item.import_batch_id) if item.import_batch_id else None
    return ItemDetail(item, tags, batch, annotations, audit, live_gold(session, item))
