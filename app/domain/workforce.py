"""The lead's workforce report: how the project's work goes and who needs help, and why.

One read model for the workforce page, its JSON twin and the weekly export. Per member it joins
their pace (:mod:`app.domain.work_stats`), their agreement with others and leave-one-out effect
(:mod:`app.domain.agreement`, cached by watermark), gold accuracy since they were last
reinstated (:mod:`app.domain.gold`), qualification and spec acknowledgement; per project
the throughput, backlog and ETA, the SLO "time from import to k labels", live leases and who is
online. ``needs_help`` turns those figures into reasons a lead can act on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from app.analytics.slices import Slice
from app.db.base import utcnow
from app.db.engine import epoch_seconds, read_frame
from app.db.models import (
    Annotation,
    Assignment,
    Item,
    Membership,
    Project,
    QualificationAttempt,
    WebSession,
)
from app.domain.acknowledgements import pending_acknowledgement
from app.domain.agreement import agreement_report
from app.domain.gold import AccuracyRow, gold_accuracy
from app.domain.gold_grading import percent
from app.domain.roster import RosterRow, list_roster
from app.domain.work_stats import AnnotatorPace, WorkStats, work_stats

ONLINE_WINDOW = timedelta(minutes=5)
"""Someone who acted (a page, a lease, a label) this recently counts as online."""
SKIP_RATE_ALERT = 0.25
UNCLEAR_RATE_ALERT = 0.2
SLOW_FACTOR = 2.0
MIN_SAMPLE = 10
"""Rates are only judged on at least this many labels (or finished tasks)."""
LOO_ALERT = -0.05
"""Overall alpha this much lower with the person than without them is worth a look."""


@dataclass(frozen=True)
class MemberReport:
    """One member: who, their standing, their figures and what needs attention."""

    row: RosterRow
    pace: AnnotatorPace | None
    agreement: Slice | None
    gold: AccuracyRow | None
    """Gold-check answers since the person was last reinstated (None: no checks yet)."""
    pending_spec: int | None
    """The spec version they must acknowledge before working on, if any."""
    qualification: str
    """``not required``, ``qualified``, ``not yet`` or ``failed N times``."""
    online: bool
    needs_help: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Slo:
    """Time from import to the k-th label (first round), over items that got there."""

    n_items: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class WorkforceReport:
    """The project's workforce figures at one moment."""

    project: Project
    work: WorkStats
    slo: Slo
    active_leases: int
    online: list[str]
    members: list[MemberReport]
    at: datetime


def import_to_k_slo(session: Session, project: Project) -> Slo:
    """Median and p90 of the time between an item's import and its k-th first-round label."""
    dialect = session.get_bind().dialect.name
    frame = read_frame(
        session,
        select(
            Annotation.item_id,
            epoch_seconds(dialect, Annotation.created_at),
            epoch_seconds(dialect, Item.created_at),
        )
        .join(Item, Item.id == Annotation.item_id)
        .where(
            Annotation.project_id == project.id,
            Annotation.retracted_at.is_(None),
            Annotation.label_round == 1,
        ),
        {"item_id": pl.Int64, "labeled": pl.Float64, "imported": pl.Float64},
    )
    k = project.overlap
    done = (
        frame.group_by("item_id")
        .agg(
            pl.col("labeled").sort().slice(k - 1, 1).first().alias("kth"),
            pl.len(),
            pl.col("imported").first(),
        )
        .filter(pl.col("len") >= k)
        .select(((pl.col("kth") - pl.col("imported")) / 3600).clip(lower_bound=0).alias("hours"))
    )["hours"]
    if done.is_empty():
        return Slo(0, None, None)
    median = done.median()
    p90 = done.quantile(0.9, "linear")
    return Slo(
        done.len(),
        float(median) if isinstance(median, int | float) else None,
        float(p90) if p90 is not None else None,
    )


def _online(session: Session, project: Project, now: datetime) -> set[int]:
    """Members who opened a page, leased or labeled within ``ONLINE_WINDOW``."""
    since = now - ONLINE_WINDOW
    members = select(Membership.user_id).where(Membership.project_id == project.id)
    active = union(
        select(WebSession.user_id).where(WebSession.last_seen_at >= since),
        select(Assignment.user_id).where(
            Assignment.project_id == project.id, Assignment.leased_at >= since
        ),
        select(Annotation.user_id).where(
            Annotation.project_id == project.id, Annotation.created_at >= since
        ),
    ).subquery()
    return set(session.scalars(select(active.c.user_id).where(active.c.user_id.in_(members))))


def _qualification(session: Session, project: Project) -> dict[int, int]:
    """Failed qualification attempts per person."""
    return dict(
        session.execute(
            select(QualificationAttempt.user_id, func.count())
            .where(
                QualificationAttempt.project_id == project.id,
                QualificationAttempt.passed.is_(False),
            )
            .group_by(QualificationAttempt.user_id)
        ).all()
    )


def needs_help(
    project: Project,
    member: MemberReport,
    team_median_seconds: float | None,
) -> list[str]:
    """Reasons a lead should look at this person, most pressing first (``team_median_seconds``:
    the median of the other people's median time per item)."""
    reasons: list[str] = []
    m = member.row.membership
    if m.status == "paused":
        who = member.row.paused_by_name
        reasons.append(f"paused {who}: {m.paused_reason or 'no reason given'}")
    gold = member.gold
    paused_for_gold = m.status == "paused" and m.paused_by_id is None  # the reason says it
    if (
        not paused_for_gold
        and gold is not None
        and gold.n >= project.gold_min_checks
        and gold.accuracy < project.gold_accuracy_bar
    ):
        reasons.append(
            f"gold accuracy {percent(gold.correct / gold.n)} ({gold.correct} of {gold.n}) is "
            f"below the {percent(project.gold_accuracy_bar)} bar"
        )
    a = member.agreement
    if a is not None:
        effect = a.extra.get("loo_effect")
        if isinstance(effect, float) and effect < LOO_ALERT:
            reasons.append(f"overall alpha would be {-effect:.2f} higher without their labels")
        if a.ci is not None and a.ci.high < project.alpha_threshold:
            reasons.append(
                f"agrees with others at alpha {a.alpha:.2f} (CI up to {a.ci.high:.2f}), "
                f"below the {project.alpha_threshold:.3f} threshold"
            )
    if member.qualification.startswith("failed"):
        reasons.append(f"qualification: {member.qualification}")
    if member.pending_spec is not None:
        reasons.append(f"has not acknowledged spec v{member.pending_spec} yet")
    pace = member.pace
    if pace is not None:
        if pace.n_finished >= MIN_SAMPLE and (pace.skip_rate or 0) > SKIP_RATE_ALERT:
            reasons.append(f"skips {percent(pace.skip_rate or 0)} of their tasks")
        if pace.n_labels >= MIN_SAMPLE and (pace.unclear_rate or 0) > UNCLEAR_RATE_ALERT:
            reasons.append(
                f"flags the spec unclear on {percent(pace.unclear_rate or 0)} of items: "
                "read their comments"
            )
        if (
            team_median_seconds
            and pace.median_seconds is not None
            and pace.n_labels >= MIN_SAMPLE
            and pace.median_seconds > SLOW_FACTOR * team_median_seconds
        ):
            reasons.append(
                f"takes {pace.median_seconds:.0f} s per item, the team {team_median_seconds:.0f} s"
            )
    return reasons


def workforce_report(
    session: Session, project: Project, *, now: datetime | None = None
) -> WorkforceReport:
    """Everything the workforce page shows for ``project``."""
    now = now if now is not None else utcnow()
    work = work_stats(session, project, now=now)
    pace = {p.user_id: p for p in work.people}
    agreement = {s.key: s for s in agreement_report(session, project, by="annotator").groups}
    gold = {row.user_id: row for row in gold_accuracy(session, project)[0]}
    failures = _qualification(session, project)
    online = _online(session, project, now)
    medians = {p.user_id: p.median_seconds for p in work.people if p.median_seconds is not None}
    members = []
    for row in list_roster(session, project):
        user, membership = row.user, row.membership
        if membership.qualified_at is not None:
            qualification = "qualified"
        elif not project.requires_qualification or user.role != "annotator":
            qualification = "not required"
        elif failures.get(user.id):
            qualification = f"failed {failures[user.id]} time{'s' if failures[user.id] > 1 else ''}"
        else:
            qualification = "not yet"
        pending = pending_acknowledgement(session, project, user)
        member = MemberReport(
            row=row,
            pace=pace.get(user.id),
            agreement=agreement.get(user.handle),
            gold=gold.get(user.id),
            pending_spec=pending.number if pending is not None else None,
            qualification=qualification,
            online=user.id in online,
        )
        others = [s for who, s in medians.items() if who != user.id]
        team_median = statistics.median(others) if others else None
        member.needs_help.extend(needs_help(project, member, team_median))
        members.append(member)
    members.sort(
        key=lambda m: (not m.needs_help, m.row.user.role != "annotator", m.row.user.handle)
    )
    active_leases = session.scalar(
        select(func.count()).where(
            Assignment.project_id == project.id,
            Assignment.state == "leased",
            Assignment.lease_expires_at > now,
        )
    )
    handles = {m.row.user.id: m.row.user.handle for m in members}
    return WorkforceReport(
        project=project,
        work=work,
        slo=import_to_k_slo(session, project),
        active_leases=int(active_leases or 0),
        online=sorted(handles[i] for i in online if i in handles),
        members=members,
        at=now,
    )
