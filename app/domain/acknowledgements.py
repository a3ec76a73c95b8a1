"""Spec acknowledgement: annotators who worked under an older spec confirm they read the new one.

A newly published version changes what annotators must do; someone who labeled under v1 has to
acknowledge v2 before the assignment engine gives them more work. People new to the project
start directly under the current version and have nothing to acknowledge.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Assignment, Project, SpecAcknowledgement, SpecVersion, User
from app.domain.audit import record_event
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.projects import can_reach, current_spec


def pending_acknowledgement(
    session: Session, project: Project, user: User, *, spec: SpecVersion | None = None
) -> SpecVersion | None:
    """The current spec version if ``user`` worked under an earlier one and has not
    acknowledged it yet; otherwise None. ``spec`` saves a query when the caller has it."""
    spec = spec if spec is not None else current_spec(session, project)
    if spec.number <= 1:
        return None
    acknowledged = session.scalar(
        select(SpecAcknowledgement.id).where(
            SpecAcknowledgement.spec_version_id == spec.id, SpecAcknowledgement.user_id == user.id
        )
    )
    if acknowledged is not None:
        return None
    worked_before = session.scalar(
        select(Assignment.id)
        .join(SpecVersion, SpecVersion.id == Assignment.spec_version_id)
        .where(
            Assignment.project_id == project.id,
            Assignment.user_id == user.id,
            SpecVersion.number < spec.number,
        )
        .limit(1)
    )
    return spec if worked_before is not None else None


def acknowledge_spec(
    session: Session, project: Project, number: int, user: User
) -> tuple[SpecAcknowledgement, bool]:
    """Record that ``user`` read spec ``number`` (the current published version).

    Returns the acknowledgement and whether it is new; acknowledging twice changes nothing.
    """
    if not can_reach(session, user, project):
        raise Forbidden("only members of the project acknowledge its spec")
    spec = session.scalar(
        select(SpecVersion).where(
            SpecVersion.project_id == project.id, SpecVersion.number == number
        )
    )
    if spec is None or spec.status != "published":
        raise NotFound(f"project {project.slug!r} has no published spec v{number}")
    if not spec.is_current:
        current = current_spec(session, project)
        raise Conflict(
            f"spec v{number} is not the current version (v{current.number} is)",
            code="spec_not_current",
            details={"current_spec_version": current.number},
        )
    existing = _existing(session, spec, user)
    if existing is not None:
        return existing, False
    acknowledgement = SpecAcknowledgement(spec_version_id=spec.id, user_id=user.id)
    try:
        with session.begin_nested():
            session.add(acknowledgement)
            session.flush()
    except IntegrityError:
        # The same person acknowledged in a concurrent request; theirs counts.
        winner = _existing(session, spec, user)
        if winner is None:
            raise
        return winner, False
    record_event(
        session,
        "spec.acknowledged",
        actor_id=user.id,
        project_id=project.id,
        subject_type="spec_version",
        subject_id=spec.id,
        number=spec.number,
    )
    return acknowledgement, True


def _existing(session: Session, spec: SpecVersion, user: User) -> SpecAcknowledgement | None:
    return session.scalar(
        select(SpecAcknowledgement).where(
            SpecAcknowledgement.spec_version_id == spec.id, SpecAcknowledgement.user_id == user.id
        )
    )
