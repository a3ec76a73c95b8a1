"""Grading gold checks, and pausing an annotator whose gold accuracy falls below the bar.

An answer to a gold check is the annotator's live (not retracted) annotation on a ``gold``
assignment of a live gold item: an undone submission counts only by its final answer. A
person's accuracy is judged on answers made after their membership was last reinstated (or
ever, if it never was), so a reinstated annotator starts afresh. Once they have at least
``project.gold_min_checks`` such answers and fewer than ``project.gold_accuracy_bar`` of them
are right, Accord pauses their membership, gives back their live leases in the project and
leaves a notice for the leads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.db.models import (
    Annotation,
    Assignment,
    GoldItem,
    Membership,
    Notice,
    Project,
    SpecVersion,
    User,
)
from app.domain.projects import current_spec
from app.domain.roster import pause_member
from app.domain.values import value_matches

PAUSE_NOTICE = "gold_accuracy_pause"


@dataclass(frozen=True)
class CheckAnswer:
    """One graded answer to a gold check."""

    user_id: int
    item_id: int
    correct: bool
    at: datetime


def check_answers(
    session: Session,
    project: Project,
    *,
    user_id: int | None = None,
    since_reinstated: bool = True,
) -> list[CheckAnswer]:
    """The graded gold-check answers in the project (of one annotator if ``user_id``), each
    made after its annotator's membership was last reinstated (every one, for history, when
    ``since_reinstated`` is False)."""
    query = (
        select(
            Annotation.user_id,
            Annotation.item_id,
            Annotation.value,
            GoldItem.value,
            Annotation.created_at,
        )
        .join(Assignment, Assignment.id == Annotation.assignment_id)
        .join(GoldItem, GoldItem.item_id == Annotation.item_id)
        .outerjoin(  # removed members' answers stay in the history
            Membership,
            (Membership.project_id == Annotation.project_id)
            & (Membership.user_id == Annotation.user_id),
        )
        .where(
            Annotation.project_id == project.id,
            Annotation.retracted_at.is_(None),
            Assignment.kind == "gold",
            GoldItem.retired_at.is_(None),
        )
        .order_by(Annotation.id)
    )
    if since_reinstated:
        query = query.where(
            or_(
                Membership.reinstated_at.is_(None),
                Annotation.created_at >= Membership.reinstated_at,
            )
        )
    if user_id is not None:
        query = query.where(Annotation.user_id == user_id)
    step = scale_step(project, current_spec(session, project))
    return [
        CheckAnswer(uid, item_id, value_matches(project.kind, gold, given, step), at)
        for uid, item_id, given, gold, at in session.execute(query)
    ]


def scale_step(project: Project, spec: SpecVersion) -> float | None:
    """The step numeric answers are compared within (half of it), None for label kinds."""
    return spec.scale_step if project.kind == "numeric" else None


def percent(share: float) -> str:
    """A share as a whole percentage: ``0.4`` -> ``40%``."""
    return f"{round(share * 100)}%"


def grade_gold_check(
    session: Session, project: Project, annotator: User, now: datetime
) -> Membership | None:
    """Re-judge the annotator's gold accuracy after a gold check was submitted; pause them
    (and return the paused membership) when it is below the bar after enough checks."""
    if annotator.role != "annotator":
        return None  # leads and admins are graded on the page, never paused by Accord
    membership = session.scalars(
        select(Membership)
        .where(Membership.project_id == project.id, Membership.user_id == annotator.id)
        .with_for_update()
    ).one_or_none()
    if membership is None or membership.status != "active":
        return None
    answers = check_answers(session, project, user_id=annotator.id)
    n = len(answers)
    correct = sum(a.correct for a in answers)
    if n < project.gold_min_checks or correct / n >= project.gold_accuracy_bar:
        return None
    reason = (
        f"gold accuracy {percent(correct / n)} ({correct} of {n}) "
        f"below the {percent(project.gold_accuracy_bar)} bar"
    )
    pause_member(session, project, annotator.id, reason, actor_id=None, now=now)
    session.add(
        Notice(
            project_id=project.id,
            kind=PAUSE_NOTICE,
            user_id=annotator.id,
            message=f"{annotator.display_name} was paused automatically: {reason}.",
            created_at=now,
        )
    )
    session.flush()
    return membership
