"""The weekly workforce metrics as a table, for a lead's own reporting (CSV or Parquet).

One row per (week, person) for every person who labeled, skipped or answered a gold check in
that week; weeks start on Monday (UTC) and the last one is the current, unfinished week. Times
are the labeling page's measurement of time on the item. Agreement per annotator is not cut by
week (a week rarely holds enough pairable values); it is served by the agreement API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import epoch_seconds, read_frame
from app.db.models import Assignment, Project, User
from app.domain.errors import InvalidInput
from app.domain.gold_grading import check_answers
from app.domain.work_stats import label_frame, pace_aggregates, week_start

MAX_WEEKS = 52
FORMATS = ("csv", "parquet")
WEEKLY_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "week_start": pl.Date,
    "handle": pl.String,
    "name": pl.String,
    "labels": pl.Int64,
    "median_seconds": pl.Float64,
    "p90_seconds": pl.Float64,
    "items_per_hour": pl.Float64,
    "unclear": pl.Int64,
    "unclear_rate": pl.Float64,
    "skips": pl.Int64,
    "skip_rate": pl.Float64,
    "gold_checks": pl.Int64,
    "gold_correct": pl.Int64,
    "gold_accuracy": pl.Float64,
}
"""The documented columns of the weekly export, in order."""


def parse_weekly_request(fmt: str, weeks: int | str) -> tuple[str, int]:
    """Validate ``format`` and ``weeks``, naming what is wrong."""
    errors: dict[str, str] = {}
    if fmt not in FORMATS:
        errors["format"] = f"one of {', '.join(FORMATS)}"
    try:
        n = int(weeks)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_WEEKS:
        errors["weeks"] = f"a whole number from 1 to {MAX_WEEKS}"
    if errors:
        raise InvalidInput("the weekly metrics request is not valid", field_errors=errors)
    return fmt, n


def _week_of(seconds: pl.Expr) -> pl.Expr:
    """The Monday of the week of an epoch-seconds column, as a date."""
    day = pl.from_epoch(seconds.cast(pl.Int64), time_unit="s").dt.date()
    return day - pl.duration(days=day.dt.weekday() - 1)


def weekly_metrics(
    session: Session, project: Project, *, weeks: int = 8, now: datetime | None = None
) -> pl.DataFrame:
    """The last ``weeks`` weeks of per-person metrics, oldest week first, then by handle."""
    now = now if now is not None else utcnow()
    first: date = week_start(now.date()) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC).timestamp()
    labels = (
        label_frame(session, project)
        .filter(pl.col("t") >= since)
        .with_columns(week_start=_week_of(pl.col("t")))
        .group_by("week_start", "user_id")
        .agg(**pace_aggregates())
    )
    dialect = session.get_bind().dialect.name
    finished = read_frame(
        session,
        select(
            Assignment.user_id,
            epoch_seconds(dialect, Assignment.finished_at),
            Assignment.state,
        ).where(
            Assignment.project_id == project.id,
            Assignment.state.in_(("submitted", "skipped")),
            Assignment.finished_at.is_not(None),
        ),
        {"user_id": pl.Int64, "t": pl.Float64, "state": pl.String},
    )
    tasks = (
        finished.filter(pl.col("t") >= since)
        .with_columns(week_start=_week_of(pl.col("t")))
        .group_by("week_start", "user_id")
        .agg(skips=(pl.col("state") == "skipped").sum(), finished=pl.len())
    )
    answers = check_answers(session, project, since_reinstated=False)
    gold = (
        pl.DataFrame(
            {
                "user_id": [a.user_id for a in answers],
                "t": [a.at.timestamp() for a in answers],
                "correct": [int(a.correct) for a in answers],
            },
            schema={"user_id": pl.Int64, "t": pl.Float64, "correct": pl.Int64},
        )
        .filter(pl.col("t") >= since)
        .with_columns(week_start=_week_of(pl.col("t")))
        .group_by("week_start", "user_id")
        .agg(gold_checks=pl.len(), gold_correct=pl.col("correct").sum())
    )
    keys = ["week_start", "user_id"]
    frame = labels.join(tasks, on=keys, how="full", coalesce=True).join(
        gold, on=keys, how="full", coalesce=True
    )
    ids = frame["user_id"].unique().to_list()
    people = pl.DataFrame(
        session.execute(select(User.id, User.handle, User.name).where(User.id.in_(ids))).all(),
        schema={"user_id": pl.Int64, "handle": pl.String, "name": pl.String},
        orient="row",
    )
    counts = ["labels", "unclear", "skips", "finished", "gold_checks", "gold_correct"]
    return (
        frame.join(people, on="user_id", how="left")
        .with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))
        .with_columns(
            unclear_rate=_share(pl.col("unclear"), pl.col("labels")),
            skip_rate=_share(pl.col("skips"), pl.col("finished")),
            gold_accuracy=_share(pl.col("gold_correct"), pl.col("gold_checks")),
        )
        .sort("week_start", "handle")
        .select([pl.col(name).cast(dtype) for name, dtype in WEEKLY_SCHEMA.items()])
    )


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """part / whole, null where whole is 0."""
    return pl.when(whole > 0).then(part / whole).otherwise(None)
