"""Invites: single-use, expiring links that bring a person onto a project.

A lead (or an admin) invites an email address; the link carries a random token whose SHA-256
is all the database keeps. Opening the link shows the project and the email; accepting it sets
the person's name and password (creating the user when the email is unknown, or giving an
imported, login-less annotator a login) and makes them an active member. Someone who already
has a password must be logged in as that person to accept, so a leaked link cannot take over an
account. Accepting claims the invite with a conditional UPDATE, so two concurrent accepts of
the same link can never both succeed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Invite, Membership, Project, User
from app.domain.audit import record_event
from app.domain.credentials import digest, hash_password, validate_password
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from app.domain.people import create_user, normalize_email, set_role
from app.domain.projects import add_member

INVITE_ROLES = ("annotator", "lead")
DEFAULT_VALID_DAYS = 7
MAX_VALID_DAYS = 90
INVITE_STATUSES = ("pending", "accepted", "expired", "revoked")
UNKNOWN_INVITE = "this invite link is not valid; check that you copied all of it"


def invite_status(invite: Invite, now: datetime | None = None) -> str:
    """``pending``, ``accepted``, ``expired`` or ``revoked``."""
    if invite.accepted_at is not None:
        return "accepted"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= (now or utcnow()):
        return "expired"
    return "pending"


@dataclass(frozen=True)
class InviteRow:
    """An invite with its status, for lists."""

    invite: Invite
    status: str


def _pending_clause(now: datetime) -> list[ColumnElement[bool]]:
    """Conditions of an invite that can still be accepted."""
    return [Invite.accepted_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > now]


def create_invite(
    session: Session,
    project: Project,
    email: str,
    role: str = "annotator",
    *,
    actor: User,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> tuple[Invite, str]:
    """Invite ``email`` to the project; returns the invite and the raw token (shown once).

    Leads may invite annotators; only admins may invite leads. A pending invite for the same
    project and email is revoked, so only the newest link works.
    """
    if actor.role not in ("lead", "admin"):
        raise Forbidden("only leads and admins invite people")
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
    except InvalidInput as exc:
        errors.update(exc.field_errors)
    if role not in INVITE_ROLES:
        errors["role"] = f"must be one of {', '.join(INVITE_ROLES)}"
    if isinstance(valid_days, bool) or not isinstance(valid_days, int):
        errors["valid_days"] = "must be a whole number of days"
    elif not 1 <= valid_days <= MAX_VALID_DAYS:
        errors["valid_days"] = f"must be between 1 and {MAX_VALID_DAYS} days"
    if errors:
        raise InvalidInput("the invite could not be created", field_errors=errors)
    if role == "lead" and actor.role != "admin":
        raise Forbidden("only admins may invite leads", details={"fields": {"role": "admins only"}})
    user = session.scalar(select(User).where(User.email == email))
    if user is not None:
        if not user.is_active:
            raise Conflict(
                f"the account of {email} is disabled; an admin must enable it first",
                details={"fields": {"email": "this account is disabled"}},
            )
        status = session.scalar(
            select(Membership.status).where(
                Membership.project_id == project.id, Membership.user_id == user.id
            )
        )
        if status == "active":
            raise Conflict(
                f"{email} is already an active member of {project.name}",
                details={"fields": {"email": "already an active member"}},
            )
        if status == "paused":
            raise Conflict(
                f"{email} is paused on {project.name}; resume them instead of inviting",
                details={"fields": {"email": "paused on this project"}},
            )
    now = utcnow()
    replaced = session.execute(
        update(Invite)
        .where(Invite.project_id == project.id, Invite.email == email, *_pending_clause(now))
        .values(revoked_at=now)
        .returning(Invite.id)
        .execution_options(synchronize_session="fetch")
    ).scalars()
    for old_id in replaced:
        record_event(
            session,
            "invite.revoked",
            actor_id=actor.id,
            project_id=project.id,
            subject_type="invite",
            subject_id=old_id,
            reason="replaced by a new invite",
        )
    raw = secrets.token_urlsafe(32)
    invite = Invite(
        project_id=project.id,
        email=email,
        role=role,
        token_hash=digest(raw),
        created_by_id=actor.id,
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    session.add(invite)
    session.flush()
    record_event(
        session,
        "invite.created",
        actor_id=actor.id,
        project_id=project.id,
        subject_type="invite",
        subject_id=invite.id,
        email=email,
        role=role,
        expires_at=invite.expires_at.isoformat(),
    )
    return invite, raw


def list_invites(session: Session, project: Project) -> list[InviteRow]:
    """The project's invites, newest first, each with its status."""
    now = utcnow()
    invites = session.scalars(
        select(Invite)
        .where(Invite.project_id == project.id)
        .order_by(Invite.created_at.desc(), Invite.id.desc())
    )
    return [InviteRow(invite, invite_status(invite, now)) for invite in invites]


def revoke_invite(
    session: Session, project: Project, invite_id: int, *, actor_id: int | None
) -> Invite:
    """Withdraw an invite so its link stops working (an accepted one cannot be withdrawn)."""
    invite = session.get(Invite, invite_id)
    if invite is None or invite.project_id != project.id:
        raise NotFound(f"no invite {invite_id} in this project")
    if invite.accepted_at is not None:
        raise Conflict("this invite was already accepted; remove the member instead")
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        session.flush()
        record_event(
            session,
            "invite.revoked",
            actor_id=actor_id,
            project_id=project.id,
            subject_type="invite",
            subject_id=invite.id,
        )
    return invite


def find_invite(session: Session, raw_token: str, *, now: datetime | None = None) -> Invite:
    """The pending invite behind a link, or an error saying plainly why it cannot be used.

    An unknown token says nothing beyond "not valid".
    """
    invite = session.scalar(select(Invite).where(Invite.token_hash == digest(raw_token.strip())))
    if invite is None:
        raise NotFound(UNKNOWN_INVITE, code="invite_unknown")
    status = invite_status(invite, now)
    if status == "accepted":
        raise Conflict(
            "this invite was already used; log in with your email and password",
            code="invite_used",
        )
    if status == "revoked":
        raise Conflict(
            "this invite was withdrawn; ask your lead for a new one", code="invite_revoked"
        )
    if status == "expired":
        raise Conflict(
            "this invite has expired; ask your lead for a new one", code="invite_expired"
        )
    return invite


def invited_account(session: Session, invite: Invite) -> User | None:
    """The existing user with the invite's email, if there is one."""
    return session.scalar(select(User).where(User.email == invite.email))


def needs_login(user: User | None) -> bool:
    """True if accepting requires being logged in as ``user`` (they already have a password)."""
    return user is not None and user.password_hash is not None


def _check_new_login(name: str, password: str, confirm: str | None, *, new_user: bool) -> None:
    """InvalidInput naming each problem with the name and password a new login is given."""
    errors: dict[str, str] = {}
    if new_user and not name.strip():
        errors["name"] = "required"
    elif len(name) > 200:
        errors["name"] = "at most 200 characters"
    problem = validate_password(password)
    if problem:
        errors["password"] = problem
    elif confirm is not None and confirm != password:
        errors["confirm"] = "does not match the password"
    if errors:
        raise InvalidInput("the invite could not be accepted", field_errors=errors)


def claim_invite(session: Session, invite: Invite, now: datetime) -> None:
    """Mark the invite accepted, unless someone else did (or it was withdrawn) meanwhile."""
    result = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, *_pending_clause(now))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "this invite was already used; log in with your email and password",
            code="invite_used",
        )
    session.refresh(invite)


def accept_invite(
    session: Session,
    raw_token: str,
    *,
    name: str = "",
    password: str = "",
    confirm: str | None = None,
    current_user: User | None = None,
    now: datetime | None = None,
) -> tuple[User, Project]:
    """Accept an invite: set up the person's login and make them an active member.

    Creates the user when the email is unknown and gives a login-less user their password;
    a person who already has a password must be ``current_user`` (logged in) to accept, and
    keeps their password. Returns the user and the project.
    """
    now = now or utcnow()
    invite = find_invite(session, raw_token, now=now)
    project = session.get(Project, invite.project_id)
    if project is None:  # pragma: no cover - the invite is deleted with its project
        raise NotFound(UNKNOWN_INVITE, code="invite_unknown")
    user = invited_account(session, invite)
    if user is not None and not user.is_active:
        raise Conflict("this account is disabled; ask an admin", code="account_disabled")
    if needs_login(user):
        assert user is not None
        if current_user is None:
            raise Unauthenticated(
                f"an account for {invite.email} already exists: log in first, then open this "
                "link again",
                code="login_first",
            )
        if current_user.id != user.id:
            raise Forbidden(
                f"this invite is for {invite.email}; log out and log in as that person first",
                code="wrong_account",
            )
    else:
        _check_new_login(name, password, confirm, new_user=user is None)
    if user is not None:
        status = session.scalar(
            select(Membership.status).where(
                Membership.project_id == project.id, Membership.user_id == user.id
            )
        )
        if status == "paused":
            raise Conflict(f"you are paused on {project.name}; ask your lead", code="member_paused")
    claim_invite(session, invite, now)
    if user is None:
        user, _ = create_user(
            session, email=invite.email, role=invite.role, name=name.strip(), password=password
        )
    elif user.password_hash is None:
        user.password_hash = hash_password(password)
        if name.strip():
            user.name = name.strip()
        record_event(
            session, "user.password_set", actor_id=user.id, subject_type="user", subject_id=user.id
        )
    if invite.role == "lead" and user.role == "annotator":
        set_role(session, user.id, "lead", actor_id=invite.created_by_id)
    invite.accepted_user_id = user.id
    session.flush()
    add_member(session, project, user, actor_id=invite.created_by_id)
    record_event(
        session,
        "invite.accepted",
        actor_id=user.id,
        project_id=project.id,
        subject_type="invite",
        subject_id=invite.id,
        user_id=user.id,
    )
    return user, project
