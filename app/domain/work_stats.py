"""How the work goes: labels per day, the backlog, and per annotator their pace and flags.

Read models for the lead's overview; numbers are counted from the annotations (retracted ones
excluded) and the current spec version's assignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.orm import Session

from app.db.base import utc_midnight, utcnow
from app.db.engine import epoch_seconds, read_frame
from app.db.models import Annotation, Assignment, Item, Project, User

DAYS = 14
WEEKS = 6


@dataclass(frozen=True)
class AnnotatorPace:
    """One annotator's output in the project.

    Times come from the labeling page's own measurement (``duration_ms``: time on the item);
    ``items_per_hour`` is the number of timed labels per hour spent on them.
    """

    user_id: int
    handle: str
    n_labels: int
    median_seconds: float | None
    p90_seconds: float | None
    items_per_hour: float | None
    n_unclear: int
    n_skipped: int
    n_finished: int
    """Submitted plus skipped assignments: the base of the skip rate."""
    last_active: datetime | None
    weekly: list[tuple[date, int]]
    """Labels per week (weeks starting Monday, UTC) over the last ``WEEKS`` weeks, oldest first."""

    @property
    def skip_rate(self) -> float | None:
        """Skips per finished assignment."""
        return self.n_skipped / self.n_finished if self.n_finished else None

    @property
    def unclear_rate(self) -> float | None:
        """ "Unclear spec" flags per label."""
        return self.n_unclear / self.n_labels if self.n_labels else None


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
    since = utc_midnight(now - timedelta(days=DAYS - 1))
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
    return WorkStats(
        per_day, n_items, needed, min(done, needed), eta, _people(session, project, now)
    )


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def label_frame(session: Session, project: Project) -> pl.DataFrame:
    """The project's live labels: user_id, t (epoch seconds), duration_ms, unclear (0/1)."""
    dialect = session.get_bind().dialect.name
    return read_frame(
        session,
        select(
            Annotation.user_id,
            epoch_seconds(dialect, Annotation.created_at),
            Annotation.duration_ms,
            cast(Annotation.unclear, Integer),  # PostgreSQL's CSV spells booleans t/f
        ).where(Annotation.project_id == project.id, Annotation.retracted_at.is_(None)),
        {"user_id": pl.Int64, "t": pl.Float64, "duration_ms": pl.Int64, "unclear": pl.Int64},
    )


def pace_aggregates() -> dict[str, pl.Expr]:
    """Per group of labels (a person, or a person's week): how many, median and p90 seconds on
    an item, timed labels per hour spent on them, and "unclear spec" flags."""
    duration = pl.col("duration_ms")
    return {
        "labels": pl.len(),
        "median_seconds": duration.median() / 1000,
        "p90_seconds": duration.quantile(0.9, "linear") / 1000,
        "items_per_hour": pl.when(duration.sum() > 0).then(
            3_600_000 * duration.count() / duration.sum()
        ),
        "unclear": pl.col("unclear").sum(),
    }


def _people(session: Session, project: Project, now: datetime) -> list[AnnotatorPace]:
    """Everyone who labeled or skipped in the project, by handle."""
    labels = label_frame(session, project)
    first_week = week_start(now.date()) - timedelta(weeks=WEEKS - 1)
    origin = datetime.combine(first_week, datetime.min.time(), tzinfo=UTC).timestamp()
    per_person = labels.group_by("user_id").agg(
        **pace_aggregates(),
        last=pl.col("t").max(),
        weeks=((pl.col("t") - origin) // (7 * 86400)).filter(pl.col("t") >= origin),
    )
    tasks = session.execute(
        select(
            Assignment.user_id,
            func.count(),
            func.count(case((Assignment.state == "skipped", 1))),
        )
        .where(
            Assignment.project_id == project.id,
            Assignment.state.in_(("submitted", "skipped")),
        )
        .group_by(Assignment.user_id)
    ).all()
    finished = {user_id: int(n) for user_id, n, _ in tasks}
    skips = {user_id: int(n) for user_id, _, n in tasks if n}
    rows = {row["user_id"]: row for row in per_person.iter_rows(named=True)}
    ids = set(rows) | set(skips)
    handles = dict(session.execute(select(User.id, User.handle).where(User.id.in_(ids))).all())
    people = []
    for user_id in sorted(ids, key=lambda i: handles[i]):
        row = rows.get(user_id)
        counts = [0] * WEEKS
        for index in row["weeks"] if row else []:
            if index < WEEKS:  # labels stamped after ``now`` are in none of these weeks
                counts[int(index)] += 1
        people.append(
            AnnotatorPace(
                user_id=user_id,
                handle=handles[user_id],
                n_labels=row["labels"] if row else 0,
                median_seconds=row["median_seconds"] if row else None,
                p90_seconds=row["p90_seconds"] if row else None,
                items_per_hour=row["items_per_hour"] if row else None,
                n_unclear=row["unclear"] if row else 0,
                n_skipped=skips.get(user_id, 0),
                n_finished=finished.get(user_id, 0),
                last_active=datetime.fromtimestamp(row["last"], UTC) if row else None,
                weekly=[(first_week + timedelta(weeks=w), n) for w, n in enumerate(counts)],
            )
        )
    return people
