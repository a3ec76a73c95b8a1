"""Which items an annotator gets first: the candidate query of the assignment engine.

Order: items are served by *effective priority* ``Item.priority + waiting_time /
AGING_SECONDS_PER_POINT`` (waiting time counted from the item's ``created_at``), highest first,
then oldest (import order, i.e. lowest id). All candidates are compared at the same ``now``, so
this is the order of the static key ``created_at - priority * AGING_SECONDS_PER_POINT``: each
priority point moves an item six minutes earlier in the first-come queue. A re-label item
(``KIND_PRIORITY["relabel"]`` = 200 points) is served before label items created up to 20 hours
before it, but an item that has waited longer than that comes first: nothing starves.

Finding candidates without touching every item: within one priority that order is creation
time, then id, which is the order of the partial index of open items on (project_id, priority,
created_at, id). So the project's open items are walked one priority at a time, each walk
stopping at its first few eligible items, and the heads of the walks are merged by the key. The
priorities themselves (few: plain labeling at 0, re-label work at 200) are found first, one
index seek each. No walk reads other projects' items, steps over full ones, or sorts a whole
priority (a re-label campaign may send back most of a project). Past ``MAX_WALKS`` priorities
the rest are ranked together, which stays correct but sorts them.

Items with a live gold row are never candidates: gold is outside the k-overlap pool and is
served by :mod:`app.domain.gold_checks` instead.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    bindparam,
    exists,
    false,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from app.db.engine import epoch_seconds, execute_core, unindexed_on_sqlite
from app.db.models import Annotation, Assignment, GoldItem, Item, Project, User

AGING_SECONDS_PER_POINT = 360
"""Waiting this long is worth one priority point."""
KIND_PRIORITY = {"relabel": 200, "gold": 100, "label": 0, "qualification": 0}
"""Item.priority that puts work of each kind ahead of plain labeling (relabel > gold > label)."""
CANDIDATE_BATCH = 8
CLOSING_STATES = ("leased", "submitted", "skipped")
"""An annotator's assignment in one of these states closes the item to them for its round."""
MAX_WALKS = 8
"""Priorities walked one by one; the open items above the eighth lowest are ranked together."""


def kind_for_priority(priority: int) -> str:
    """The kind of assignment an item of this priority gives: items a re-label campaign sent
    back carry the re-label priority (a lead's manual priority below it is plain labeling)."""
    return "relabel" if priority >= KIND_PRIORITY["relabel"] else "label"


def _serving_key(created_at: datetime, priority: int, item_id: int) -> tuple[float, int]:
    """The static serving key in seconds (smaller is served first); see the module docstring."""
    return created_at.timestamp() - priority * AGING_SECONDS_PER_POINT, item_id


def items_closed_to(
    user_id: int | BindParameter[int], project_id: int | BindParameter[int]
) -> tuple[Select[int], Select[int]]:
    """Ids of the project's items an annotator may not be given in their current labeling round:
    items they hold, submitted or skipped, and items they labeled (imported labels included), in
    that round (a re-label round opens an item to them again). Uncorrelated lists, for questions
    about the whole project (how much is left for them); the candidate walk asks item by item
    (:func:`_closed_to`)."""
    mine = (
        select(Assignment.item_id)
        .join(Item, (Item.id == Assignment.item_id) & (Item.label_round == Assignment.label_round))
        .where(
            Assignment.user_id == user_id,
            Assignment.project_id == project_id,
            Assignment.state.in_(CLOSING_STATES),
        )
    )
    labeled = (
        select(Annotation.item_id)
        .join(Item, (Item.id == Annotation.item_id) & (Item.label_round == Annotation.label_round))
        .where(
            Annotation.user_id == user_id,
            Annotation.project_id == project_id,
            Annotation.retracted_at.is_(None),
        )
    )
    return mine, labeled


def gold_item_ids(project_id: int | BindParameter[int]) -> Select[int]:
    """Ids of the project's live gold items: outside the k-overlap pool (never served as
    normal work, never counted as work left; see :mod:`app.domain.gold_checks`)."""
    return select(GoldItem.item_id).where(
        GoldItem.project_id == project_id, GoldItem.retired_at.is_(None)
    )


def _closed_to(user_id: BindParameter[int]) -> tuple[ColumnElement[bool], ...]:
    """The walked item is open to the annotator in its current round: not closed to them as by
    :func:`items_closed_to`, but asked through the item's own assignments and labels (listing
    the annotator's items instead costs as much as their whole history, on every lease)."""
    held = exists().where(
        Assignment.item_id == Item.id,
        Assignment.user_id == user_id,
        Assignment.label_round == Item.label_round,
        Assignment.state.in_(CLOSING_STATES),
    )
    labeled = exists().where(
        Annotation.item_id == Item.id,
        unindexed_on_sqlite(Annotation.user_id) == user_id,  # not the annotator's own index
        Annotation.label_round == Item.label_round,
        Annotation.retracted_at.is_(None),
    )
    return ~held, ~labeled


def _open_items(project_id: BindParameter[int]) -> tuple[ColumnElement[bool], ...]:
    """The project's open items: exactly what the partial index of open items holds."""
    return Item.project_id == project_id, Item.is_full == false()


def _open_priorities_statement() -> Select[tuple[int]]:
    """The distinct priorities of the project's open items, lowest first, at most
    ``MAX_WALKS + 1``: one index seek each (a loose index scan), however many items share them."""
    project_id: BindParameter[int] = bindparam("project_id", type_=Integer)
    lowest = select(func.min(Item.priority).label("priority")).where(*_open_items(project_id))
    found = lowest.cte("open_priorities", recursive=True)
    next_priority = (
        select(func.min(Item.priority))
        .where(*_open_items(project_id), Item.priority > found.c.priority)
        .scalar_subquery()
    )
    found = found.union_all(select(next_priority).where(found.c.priority.is_not(None)))
    return select(found.c.priority).where(found.c.priority.is_not(None)).limit(MAX_WALKS + 1)


_OPEN_PRIORITIES = _open_priorities_statement()


@cache
def _candidate_statement(
    dialect: str, walked: int, rest: bool
) -> CompoundSelect[int, int, datetime, int]:
    """Best few eligible items: the head of the walk of each of ``walked`` priorities (bound
    as ``walk_priority_0``, ``walk_priority_1``, ...), and with ``rest`` the head of the items
    above ``rest_above`` ranked by the aging key.

    Built once per dialect and shape with bound parameters (project_id, user_id, overlap, the
    priorities): constructing it anew costs more than running it.
    """
    occupied = aliased(Assignment, name="occupied")
    user_id: BindParameter[int] = bindparam("user_id", type_=Integer)
    # A literal IN list (not bound parameters) so SQLite can use the partial unique index.
    n_active = (
        select(func.count())
        .select_from(occupied)
        .where(
            occupied.item_id == Item.id,
            occupied.label_round == Item.label_round,
            text("occupied.state IN ('leased', 'submitted')"),
        )
        .scalar_subquery()
    )
    project_id: BindParameter[int] = bindparam("project_id", type_=Integer)
    eligible = (
        *_open_items(project_id),  # the partial index's rows: full items are not walked
        n_active < bindparam("overlap"),
        *_closed_to(user_id),
        Item.id.not_in(gold_item_ids(project_id)),  # gold items are outside the k-overlap pool
    )
    columns = (Item.id, Item.priority, Item.created_at, Item.label_round)
    # Within one priority the aging key orders by creation, then id: the order of
    # ix_items_open_project_id_priority_created_at_id, so each walk stops at its first few.
    walks = [
        select(*columns)
        .where(Item.priority == bindparam(f"walk_priority_{n}", type_=Integer), *eligible)
        .order_by(Item.created_at, Item.id)
        .limit(CANDIDATE_BATCH)
        .subquery(f"walk_{n}")
        for n in range(walked)
    ]
    if rest:
        created = epoch_seconds(dialect, Item.created_at)
        walks.append(
            select(*columns)
            .where(Item.priority > bindparam("rest_above", type_=Integer), *eligible)
            .order_by(created - Item.priority * AGING_SECONDS_PER_POINT, Item.id)
            .limit(CANDIDATE_BATCH)
            .subquery("rest")
        )
    return union_all(*(select(walk) for walk in walks))


def best_candidates(session: Session, project: Project, user: User) -> list[tuple[int, int, int]]:
    """(item id, priority, labeling round) of the best few items this user may take, best
    first."""
    priorities = sorted(
        execute_core(session, _OPEN_PRIORITIES, {"project_id": project.id}).scalars()
    )
    if not priorities:
        return []  # no open items
    walked, rest = priorities[:MAX_WALKS], len(priorities) > MAX_WALKS
    params = {
        "project_id": project.id,
        "user_id": user.id,
        "overlap": project.overlap,
        "rest_above": walked[-1],
        **{f"walk_priority_{n}": priority for n, priority in enumerate(walked)},
    }
    statement = _candidate_statement(session.get_bind().dialect.name, len(walked), rest)
    rows = sorted(
        execute_core(session, statement, params), key=lambda r: _serving_key(r[2], r[1], r[0])
    )
    return [
        (item_id, priority, label_round)
        for item_id, priority, _, label_round in rows[:CANDIDATE_BATCH]
    ]
