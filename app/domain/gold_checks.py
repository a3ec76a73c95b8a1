"""Ongoing gold checks: mixing a project's ``check`` gold items into everyday work.

With ``project.gold_share`` above zero, each new lease is a gold check with that probability
(a draw from :data:`rng`, which tests seed or replace). A check is a ``check`` gold item the
annotator never had an assignment on nor annotated, in any round; it is leased as an ordinary
assignment of kind ``gold`` so the labeling page and the task API cannot tell it apart.

Gold items are outside the k-overlap pool (the normal candidate walk never serves them), and
every annotator may meet each one once: a check takes the slot one past the highest active slot
of the item's round, so the partial unique index on (item, round, slot) still holds. Concurrent
claims of the same item lock its row on PostgreSQL (SQLite's transaction holds the write lock
already) and a lost race (a unique-index violation) is retried in a fresh savepoint.
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Annotation, Assignment, GoldItem, Project, SpecVersion, User
from app.domain.leases import add_lease, lock_item

rng: random.Random = random.SystemRandom()
"""Draws whether a lease is a gold check and which one (unpredictable, so the timing of checks
gives nothing away); tests pass a seeded ``draw``."""
CANDIDATES = 64
"""How many unseen check items to pick from at random."""
ATTEMPTS_PER_ITEM = 3


def open_check_items(session: Session, project: Project, user: User) -> list[int]:
    """Ids of the project's live ``check`` gold items the user never had nor annotated."""
    had = select(Assignment.item_id).where(
        Assignment.user_id == user.id, Assignment.project_id == project.id
    )
    labeled = select(Annotation.item_id).where(
        Annotation.user_id == user.id, Annotation.project_id == project.id
    )
    return list(
        session.scalars(
            select(GoldItem.item_id)
            .where(
                GoldItem.project_id == project.id,
                GoldItem.purpose == "check",
                GoldItem.retired_at.is_(None),
                GoldItem.item_id.not_in(had),
                GoldItem.item_id.not_in(labeled),
            )
            .order_by(GoldItem.id)
            .limit(CANDIDATES)
        )
    )


def _place_check(
    session: Session,
    project: Project,
    spec: SpecVersion,
    user: User,
    item_id: int,
    now: datetime,
) -> Assignment | None:
    """Lease the item as a check one past its highest active slot (None: the item is gone)."""
    label_round = lock_item(session, item_id)
    if label_round is None:
        return None
    highest = session.scalar(
        select(func.max(Assignment.slot)).where(
            Assignment.item_id == item_id,
            Assignment.label_round == label_round,
            Assignment.state.in_(("leased", "submitted")),
        )
    )
    return add_lease(
        session,
        project,
        spec,
        user,
        item_id,
        label_round=label_round,
        slot=(highest or 0) + 1,
        kind="gold",
        priority=0,
        now=now,
    )


def lease_gold_check(
    session: Session,
    project: Project,
    spec: SpecVersion,
    user: User,
    now: datetime,
    *,
    draw: random.Random | None = None,
) -> Assignment | None:
    """A gold-check lease for ``user`` if this lease is drawn to be one and a check item is
    left for them; None means: serve normal work. ``gold_share`` 1 always draws a check."""
    draw = draw or rng
    if project.gold_share <= 0 or draw.random() >= project.gold_share:
        return None
    candidates = open_check_items(session, project, user)
    draw.shuffle(candidates)
    for item_id in candidates:
        for _ in range(ATTEMPTS_PER_ITEM):
            try:
                with session.begin_nested():  # a lost race rolls back and drops the lock
                    assignment = _place_check(session, project, spec, user, item_id, now)
            except IntegrityError:
                continue
            if assignment is not None:
                return assignment
            break
    return None
