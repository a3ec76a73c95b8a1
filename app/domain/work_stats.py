"""How the work goes: labels per day, the backlog, and per annotator their pace and flags.

Read models for the lead's overview; numbers are counted from the annotations (retracted ones
excluded) and the current spec version's assignments.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Annotation, Assignment, Item, Project, User

DAYS = 14


@dataclass(frozen=True)
class AnnotatorPace:
    """One annotator's output in the project."""

    handle: str
    n_labels: int
    median_seconds: float | None
    n_unclear: int
    n_skipped: int


@dataclass(frozen=True)
class WorkStats:
    """Throughput per day (last ``DAYS`` days), the backlog and everyone's pace."""

    per_day: list[tuple[date, int]]
    n_items: int
    slots_needed: int
    slots_done: int
    eta_days: float | None
    people: list[AnnotatorPace]


def work_stats(session: Session, project: Project, *, now: datetime | None = None) -> WorkStats:
    """Labels per day, open slots under the current spec with an ETA at the recent pace, and
    each annotator's labels, median time per item, "unclear" flags and skips."""
    now = now if now is not None else utcnow()
    since = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    live = (Annotation.project_id == project.id, Annotation.retracted_at.is_(None))
    dates = session.scalars(
        select(Annotation.created_at).where(*live, Annotation.created_at >= since)
    )
    counts: dict[date, int] = {}
    for moment in dates:
        counts[moment.date()] = counts.get(moment.date(), 0) + 1
    days = [since.date() + timedelta(days=d) for d in range(DAYS)]
    per_day = [(day, counts.get(day, 0)) for day in days]
    n_items = int(session.scalar(select(func.count()).where(Item.project_id == project.id)) or 0)
    done = int(
        session.scalar(
            select(func.count())
            .select_from(Assignment)
            .join(
                Item,
                (Item.id == Assignment.item_id) & (Item.label_round == Assignment.label_round),
            )
            .where(Item.project_id == project.id, Assignment.state == "submitted")
        )
        or 0
    )
    needed = n_items * project.overlap
    pace = sum(n for _, n in per_day[-7:]) / 7
    eta = (needed - done) / pace if pace and needed > done else (0.0 if needed <= done else None)
    return WorkStats(per_day, n_items, needed, min(done, needed), eta, _people(session, project))


def _people(session: Session, project: Project) -> list[AnnotatorPace]:
    rows = session.execute(
        select(User.handle, Annotation.duration_ms, Annotation.unclear)
        .select_from(Annotation)
        .join(User, User.id == Annotation.user_id)
        .where(Annotation.project_id == project.id, Annotation.retracted_at.is_(None))
    ).all()
    skips = dict(
        session.execute(
            select(User.handle, func.count())
            .select_from(Assignment)
            .join(User, User.id == Assignment.user_id)
            .where(Assignment.project_id == project.id, Assignment.state == "skipped")
            .group_by(User.handle)
        ).all()
    )
    by_person: dict[str, list[tuple[int | None, bool]]] = {}
    for handle, duration, unclear in rows:
        by_person.setdefault(handle, []).append((duration, unclear))
    people = []
    for handle in sorted(set(by_person) | set(skips)):
        mine = by_person.get(handle, [])
        times = [d / 1000 for d, _ in mine if d is not None]
        people.append(
            AnnotatorPace(
                handle,
                len(mine),
                statistics.median(times) if times else None,
                sum(1 for _, unclear in mine if unclear),
                int(skips.get(handle, 0)),
            )
        )
    return people
