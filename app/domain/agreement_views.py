"""Read models behind the agreement pages: one edge-case tag under the microscope.

For a tag it gathers what a lead needs to tell a spec problem from an annotator problem: the
coincidence matrix (which label pairs are confused), the annotator x label table (a systematic
split shows as annotators each sticking to their own label), the "unclear spec" flags and
comments, the rule text for the tag in every version, and the items people disagree on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analytics.agreement import CoincidenceTable, coincidence_table
from app.db.models import Annotation, Item, ItemTag, Project, SpecRule, SpecVersion, Tag, User
from app.domain.errors import NotFound
from app.domain.projects import current_spec
from app.domain.ratings import SpecSelection, selected

MAX_FLAGS = 30
MAX_DISPUTED = 25


@dataclass(frozen=True)
class Flag:
    """An annotation on the tag's items that said the spec was unclear, or left a comment."""

    annotator: str
    external_id: str
    value: Any
    unclear: bool
    comment: str


@dataclass(frozen=True)
class DisputedItem:
    """An item of the tag whose annotators gave different values."""

    external_id: str
    text: str
    votes: list[tuple[str, int]]


@dataclass(frozen=True)
class TagDrilldown:
    """Everything the tag page shows, among the labels ``selection`` picks."""

    tag: str
    description: str
    selection: SpecSelection
    coincidences: CoincidenceTable | None
    annotator_labels: list[tuple[str, dict[str, int], int]]
    label_keys: list[str]
    flags: list[Flag]
    n_flags: int
    n_unclear: int
    rules: list[tuple[int, str | None]]
    disputed: list[DisputedItem]
    n_disputed: int


def _key(value: Any) -> str:
    if isinstance(value, list):
        return "+".join(str(v) for v in value) or "(none)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def tag_drilldown(
    session: Session, project: Project, tag_name: str, selection: SpecSelection
) -> TagDrilldown:
    """The tag's evidence among the labels ``selection`` picks (see :mod:`app.domain.agreement`)."""
    tag = session.scalar(select(Tag).where(Tag.project_id == project.id, Tag.name == tag_name))
    if tag is None:
        raise NotFound(f"project {project.slug!r} has no tag {tag_name!r}")
    query = (
        select(
            Annotation.item_id,
            User.handle,
            Annotation.value,
            Annotation.unclear,
            Annotation.comment,
            Item.external_id,
            Item.text,
            Annotation.label_round,
        )
        .join(ItemTag, (ItemTag.item_id == Annotation.item_id) & (ItemTag.tag_id == tag.id))
        .join(User, User.id == Annotation.user_id)
        .join(Item, Item.id == Annotation.item_id)
        .where(
            Annotation.project_id == project.id,
            Annotation.retracted_at.is_(None),
            selected(selection),
        )
        .order_by(Annotation.item_id, Annotation.id)
    )
    rows: list[Any] = list(session.execute(query).all())
    spec = current_spec(session, project)
    label_keys = [label.key for label in spec.labels]
    values = [_key(value) for _, _, value, *_ in rows]
    seen = list(dict.fromkeys(values))
    order = [k for k in label_keys if k in seen] + [k for k in seen if k not in label_keys]
    flags = [
        Flag(handle, eid, value, unclear, comment)
        for _, handle, value, unclear, comment, eid, _, _ in rows
        if unclear or comment
    ]
    disputed = _disputed(rows, values)
    return TagDrilldown(
        tag=tag.name,
        description=tag.description,
        selection=selection,
        coincidences=_coincidences(rows, values, order, selection),
        annotator_labels=_annotator_labels(rows, values),
        label_keys=order,
        flags=flags[:MAX_FLAGS],
        n_flags=len(flags),
        n_unclear=sum(1 for row in rows if row[3]),
        rules=_rules(session, project, tag),
        disputed=disputed[:MAX_DISPUTED],
        n_disputed=len(disputed),
    )


def _coincidences(
    rows: list[Any], values: list[str], order: list[str], selection: SpecSelection
) -> CoincidenceTable | None:
    if not rows:
        return None
    units = [f"{row[0]}@{row[7]}" if selection == "all" else str(row[0]) for row in rows]
    unit_codes = {u: i for i, u in enumerate(dict.fromkeys(units))}
    people = {h: i for i, h in enumerate(dict.fromkeys(row[1] for row in rows))}
    code = {k: i for i, k in enumerate(order)}
    # One rating per unit and annotator: a later one under "all" versions would be a new unit.
    return coincidence_table(
        np.array([unit_codes[u] for u in units]),
        np.array([people[row[1]] for row in rows]),
        np.array([code[v] for v in values]),
        labels=order,
    )


def _annotator_labels(rows: list[Any], values: list[str]) -> list[tuple[str, dict[str, int], int]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for row, value in zip(rows, values, strict=True):
        table[row[1]][value] += 1
    return [(who, dict(counts), sum(counts.values())) for who, counts in sorted(table.items())]


def _rules(session: Session, project: Project, tag: Tag) -> list[tuple[int, str | None]]:
    """The tag's rule text in every published version, newest first (None: no rule then)."""
    versions = session.execute(
        select(SpecVersion.id, SpecVersion.number)
        .where(SpecVersion.project_id == project.id, SpecVersion.status == "published")
        .order_by(SpecVersion.number.desc())
    ).all()
    texts = dict(
        session.execute(
            select(SpecRule.spec_version_id, SpecRule.text).where(SpecRule.tag_id == tag.id)
        ).all()
    )
    return [(number, texts.get(spec_id)) for spec_id, number in versions]


def _disputed(rows: list[Any], values: list[str]) -> list[DisputedItem]:
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    texts: dict[str, str] = {}
    for row, value in zip(rows, values, strict=True):
        votes[row[5]][value] += 1
        texts[row[5]] = row[6]
    disputed = [
        DisputedItem(eid, texts[eid], counts.most_common())
        for eid, counts in votes.items()
        if len(counts) > 1
    ]
    disputed.sort(key=lambda d: (d.votes[0][1] / sum(n for _, n in d.votes), d.external_id))
    return disputed
