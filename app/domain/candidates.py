"""Which items an annotator gets first: the candidate query of the assignment engine.

Order: items are served by *effective priority* ``Item.priority + waiting_time /
AGING_SECONDS_PER_POINT`` (waiting time counted from the item's ``created_at``), highest first,
then oldest (import order, i.e. lowest id). All candidates are compared at the same ``now``, so
this is the order of the static key ``created_at - priority * AGING_SECONDS_PER_POINT``: each
priority point moves an item six minutes earlier in the first-come queue. A re-label item
(``KIND_PRIORITY["relabel"]`` = 200 points) is served before label items created up to 20 hours
before it, but an item that has waited longer than that comes first: nothing starves.

Finding candidates without touching every item: plain items (priority 0, nearly all of them)
are walked in id order and the walk stops at the first few eligible ones; only items with a
non-zero priority (few: re-label and gold work) are sorted by the aging key, those above zero
and those below apart. The heads of the walks are then merged by that key. Every walk reads a
range of the partial index of open items on (project_id, priority, id), in id order within a
priority, so none reads other projects' items, steps over full ones, or reads the plain items
to find the ranked ones.

Items with a live gold row are never candidates: gold is outside the k-overlap pool and is
served by :mod:`app.domain.gold_checks` instead.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Integer,
    Select,
    bindparam,
    false,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from app.db.engine import epoch_seconds
from app.db.models import Annotation, Assignment, GoldItem, Item, Project, User

AGING_SECONDS_PER_POINT = 360
"""Waiting this long is worth one priority point."""
KIND_PRIORITY = {"relabel": 200, "gold": 100, "label": 0, "qualification": 0}
"""Item.priority that puts work of each kind ahead of plain labeling (relabel > gold > label)."""
CANDIDATE_BATCH = 8


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
    that round (a re-label round opens an item to them again). Uncorrelated, so the database
    builds each list once per query instead of once per candidate item."""
    mine = (
        select(Assignment.item_id)
        .join(Item, (Item.id == Assignment.item_id) & (Item.label_round == Assignment.label_round))
        .where(
            Assignment.user_id == user_id,
            Assignment.project_id == project_id,
            Assignment.state.in_(("leased", "submitted", "skipped")),
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


@cache
def _candidate_statement(dialect: str) -> CompoundSelect[int, int, datetime, int]:
    """Best few eligible items: the head of the plain walk plus the heads of the ranked ones.

    Built once per dialect with bound parameters (project_id, user_id, overlap):
    constructing it anew costs more than running it.
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
    mine, labeled = items_closed_to(user_id, project_id)
    live_gold = gold_item_ids(project_id)
    # ix_items_open_project_id_priority_id serves every walk: equal project and priority, then id.
    in_project = Item.project_id == project_id
    created = epoch_seconds(dialect, Item.created_at)
    eligible = (
        Item.is_full == false(),  # the partial index's condition: full items are not walked
        n_active < bindparam("overlap"),
        Item.id.not_in(mine),
        Item.id.not_in(labeled),
        Item.id.not_in(live_gold),  # gold items are outside the k-overlap pool
    )
    columns = (Item.id, Item.priority, Item.created_at, Item.label_round)
    plain = (
        select(*columns)
        .where(in_project, Item.priority == 0, *eligible)
        .order_by(Item.id)
        .limit(CANDIDATE_BATCH)
        .subquery("plain")
    )
    # Raised and lowered priorities apart: ``priority != 0`` is no range of the index, and
    # would read every open item of the project on every lease.
    walks = (("raised", Item.priority > 0), ("lowered", Item.priority < 0))
    ranked = [
        select(*columns)
        .where(in_project, raised_or_lowered, *eligible)
        .order_by(created - Item.priority * AGING_SECONDS_PER_POINT, Item.id)
        .limit(CANDIDATE_BATCH)
        .subquery(name)
        for name, raised_or_lowered in walks
    ]
    return union_all(select(plain), *(select(walk) for walk in ranked))


def best_candidates(session: Session, project: Project, user: User) -> list[tuple[int, int, int]]:
    """(item id, priority, labeling round) of the best few items this user may take, best
    first."""
    statement = _candidate_statement(session.get_bind().dialect.name)
    params = {
        "project_id": project.id,
        "user_id": user.id,
        "overlap": project.overlap,
    }
    rows = sorted(session.execute(statement, params), key=lambda r: _serving_key(r[2], r[1], r[0]))
    return [
        (item_id, priority, label_round)
        for item_id, priority, _, label_round in rows[:CANDIDATE_BATCH]
    ]
