"""The roster: pausing, resuming and removing members, their quotas, and a project's workforce
rules.

Pausing or removing someone takes effect at once: their live leases in the project are
cancelled (the items go back to the queue) and :func:`app.domain.projects.can_reach` stops
letting them in. Annotations they already made stay. Disabling a person
(:func:`app.domain.people.disable_user`) releases their leases everywhere the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Assignment, Membership, Notice, Project, User
from app.domain.assignment import audit_assignment, mark_items_open
from app.domain.audit import record_event
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.projects import forget_membership, membership_of
from app.domain.workforce_rules import MAX_DAILY_QUOTA

MAX_REASON = 2000


@dataclass(frozen=True)
class RosterRow:
    """A member with their membership and, when paused by a person, who paused them."""

    user: User
    membership: Membership
    paused_by: User | None

    @property
    def paused_by_name(self) -> str:
        """Who paused them in words: a person's name, or "automatically" for Accord."""
        if self.membership.paused_at is None:
            return ""
        return self.paused_by.display_name if self.paused_by is not None else "automatically"


def get_membership(session: Session, project: Project, user_id: int) -> Membership:
    """The user's membership of the project, or NotFound."""
    membership = membership_of(session, user_id, project.id)
    if membership is None:
        raise NotFound(f"no member {user_id} in project {project.slug!r}")
    return membership


def list_roster(session: Session, project: Project) -> list[RosterRow]:
    """Every member with their status, pause details and quota, by role then email."""
    rows = session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project.id)
        .order_by(User.role, User.email, User.id)
    ).all()
    pausers = {m.paused_by_id for _, m in rows if m.paused_by_id is not None}
    by_id = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(pausers)))}
        if pausers
        else {}
    )
    return [
        RosterRow(user, m, by_id.get(m.paused_by_id) if m.paused_by_id else None)
        for user, m in rows
    ]


def release_leases(
    session: Session,
    user_id: int,
    project_id: int | None = None,
    *,
    actor_id: int | None,
    now: datetime | None = None,
) -> int:
    """Cancel the person's live leases (in one project, or everywhere); returns how many.

    The items go back to the queue at once. The state test in the UPDATE makes a concurrent
    submit or expiry win cleanly: a lease that is no longer ``leased`` is left alone.
    """
    now = now if now is not None else utcnow()
    statement = (
        update(Assignment)
        .where(Assignment.user_id == user_id, Assignment.state == "leased")
        .values(state="cancelled", finished_at=now)
        .returning(Assignment)
        .execution_options(synchronize_session="fetch")
    )
    if project_id is not None:
        statement = statement.where(Assignment.project_id == project_id)
    released = list(session.scalars(statement))
    mark_items_open(session, [a.item_id for a in released])
    for assignment in released:
        audit_assignment(session, "assignment.cancelled", assignment, actor_id, reason="released")
    return len(released)


def _refuse_self(user_id: int, actor_id: int | None, what: str) -> None:
    """Conflict when a lead tries to pause or remove themselves."""
    if actor_id is not None and user_id == actor_id:
        raise Conflict(f"you cannot {what} yourself")


def pause_member(
    session: Session,
    project: Project,
    user_id: int,
    reason: str = "",
    *,
    actor_id: int | None,
    now: datetime | None = None,
) -> Membership:
    """Pause a member: they cannot reach the project and their leases there are released.

    ``actor_id=None`` means Accord paused them (gold accuracy). Pausing a paused member only
    updates the reason.
    """
    _refuse_self(user_id, actor_id, "pause")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            "the reason is too long", field_errors={"reason": f"at most {MAX_REASON} characters"}
        )
    membership = get_membership(session, project, user_id)
    if membership.status == "paused":
        if reason:
            membership.paused_reason = reason
            session.flush()
        return membership
    now = now if now is not None else utcnow()
    membership.status = "paused"
    membership.paused_at = now
    membership.paused_reason = reason
    membership.paused_by_id = actor_id
    session.flush()
    released = release_leases(session, user_id, project.id, actor_id=actor_id, now=now)
    record_event(
        session,
        "project.member_paused",
        actor_id=actor_id,
        project_id=project.id,
        subject_type="user",
        subject_id=user_id,
        reason=reason,
        leases_released=released,
    )
    return membership


def resume_member(
    session: Session, project: Project, user_id: int, *, actor_id: int | None
) -> Membership:
    """Reinstate a paused member; their open notices in the project are resolved."""
    membership = get_membership(session, project, user_id)
    if membership.status == "active":
        return membership
    now = utcnow()
    membership.status = "active"
    membership.reinstated_at = now
    membership.paused_at = None
    membership.paused_reason = ""
    membership.paused_by_id = None
    session.execute(
        update(Notice)
        .where(
            Notice.project_id == project.id,
            Notice.user_id == user_id,
            Notice.resolved_at.is_(None),
        )
        .values(resolved_at=now, resolved_by_id=actor_id)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    record_event(
        session,
        "project.member_resumed",
        actor_id=actor_id,
        project_id=project.id,
        subject_type="user",
        subject_id=user_id,
    )
    return membership


def remove_member(
    session: Session, project: Project, user_id: int, *, actor_id: int | None
) -> None:
    """Take a person off the project; their leases are released, their annotations stay."""
    _refuse_self(user_id, actor_id, "remove")
    membership = get_membership(session, project, user_id)
    released = release_leases(session, user_id, project.id, actor_id=actor_id)
    session.delete(membership)
    session.flush()
    forget_membership(session, user_id, project.id)
    record_event(
        session,
        "project.member_removed",
        actor_id=actor_id,
        project_id=project.id,
        subject_type="user",
        subject_id=user_id,
        leases_released=released,
    )


def set_member_quota(
    session: Session,
    project: Project,
    user_id: int,
    daily_quota: int | None,
    *,
    actor_id: int | None,
) -> Membership:
    """Set the member's own labels-per-day limit (None: the project's default applies)."""
    if daily_quota is not None and (
        isinstance(daily_quota, bool)
        or not isinstance(daily_quota, int)
        or not 1 <= daily_quota <= MAX_DAILY_QUOTA
    ):
        raise InvalidInput(
            "the quota is not valid",
            field_errors={
                "daily_quota": f"a whole number from 1 to {MAX_DAILY_QUOTA}, or empty for none"
            },
        )
    membership = get_membership(session, project, user_id)
    old = membership.daily_quota
    if old != daily_quota:
        membership.daily_quota = daily_quota
        session.flush()
        record_event(
            session,
            "project.member_quota_set",
            actor_id=actor_id,
            project_id=project.id,
            subject_type="user",
            subject_id=user_id,
            old=old,
            new=daily_quota,
        )
    return membership


def paused_memberships(session: Session, user: User) -> list[tuple[Project, Membership]]:
    """The projects where the person is paused, with why, by project name."""
    rows = session.execute(
        select(Project, Membership)
        .join(Membership, Membership.project_id == Project.id)
        .where(
            Membership.user_id == user.id,
            Membership.status == "paused",
            Project.archived_at.is_(None),
        )
        .order_by(Project.name)
    )
    return [(project, membership) for project, membership in rows]


def parse_quota(value: Any) -> int | None:
    """A quota from a form or JSON: empty means none, else a whole number (InvalidInput
    otherwise; :func:`set_member_quota` checks the range)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise InvalidInput(
        "the quota is not valid",
        field_errors={"daily_quota": f"a whole number from 1 to {MAX_DAILY_QUOTA}, or empty"},
    )


def open_notices(session: Session, project: Project) -> list[tuple[Notice, User]]:
    """The project's unresolved notices for leads, newest first, with the person concerned."""
    rows = session.execute(
        select(Notice, User)
        .join(User, User.id == Notice.user_id)
        .where(Notice.project_id == project.id, Notice.resolved_at.is_(None))
        .order_by(Notice.created_at.desc(), Notice.id.desc())
    )
    return [(notice, user) for notice, user in rows]


def open_notice_counts(session: Session, project_ids: list[int]) -> dict[int, int]:
    """How many unresolved notices each of these projects has (projects without any: absent)."""
    if not project_ids:
        return {}
    rows = session.execute(
        select(Notice.project_id, func.count())
        .where(Notice.project_id.in_(project_ids), Notice.resolved_at.is_(None))
        .group_by(Notice.project_id)
    )
    return {project_id: int(n) for project_id, n in rows}
