"""Users and roles: creating people, changing roles, disabling and re-enabling them."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import User, WebSession
from app.db.models.people import ROLES
from app.domain.audit import record_event
from app.domain.credentials import hash_password, validate_password
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.roster import release_leases

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
HANDLE_RE = re.compile(r"[^a-z0-9._-]+")


def normalize_email(email: str) -> str:
    """Trim and lower-case an email address, or raise InvalidInput naming the field."""
    cleaned = email.strip().lower()
    if not EMAIL_RE.match(cleaned) or len(cleaned) > 320:
        raise InvalidInput(
            f"{email!r} is not an email address", field_errors={"email": "not an email address"}
        )
    return cleaned


def _unique_handle(session: Session, base: str) -> str:
    base = HANDLE_RE.sub("-", base.lower()).strip("-")[:100] or "user"
    handle, n = base, 1
    while session.scalar(select(func.count()).where(User.handle == handle)):
        n += 1
        handle = f"{base}-{n}"
    return handle


def create_user(
    session: Session,
    *,
    email: str,
    role: str,
    name: str = "",
    password: str | None = None,
    generate_password: bool = False,
    actor_id: int | None = None,
) -> tuple[User, str | None]:
    """Create a login-capable user. Returns the user and the generated password, if one was made."""
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
    except InvalidInput as exc:
        errors.update(exc.field_errors)
    if role not in ROLES:
        errors["role"] = f"must be one of {', '.join(ROLES)}"
    generated = None
    if password is None and generate_password:
        generated = password = secrets.token_urlsafe(12)
    if password is not None:
        problem = validate_password(password)
        if problem:
            errors["password"] = problem
    if len(name) > 200:
        errors["name"] = "at most 200 characters"
    if errors:
        raise InvalidInput("the user could not be created", field_errors=errors)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(
            f"a user with email {email} already exists",
            details={"fields": {"email": "a person with this email already exists"}},
        )
    user = User(
        email=email,
        handle=_unique_handle(session, email.split("@")[0]),
        name=name.strip(),
        role=role,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        "user.created",
        actor_id=actor_id,
        subject_type="user",
        subject_id=user.id,
        role=role,
    )
    return user, generated


def find_or_create_annotator(session: Session, annotator: str) -> User:
    """Resolve an email or handle to a user, creating a login-less annotator if unknown."""
    annotator = annotator.strip()
    if not annotator:
        raise InvalidInput("annotator is empty", field_errors={"annotator": "required"})
    if "@" in annotator:
        email = normalize_email(annotator)
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(
                email=email, handle=_unique_handle(session, email.split("@")[0]), role="annotator"
            )
            session.add(user)
            session.flush()
        return user
    user = session.scalar(select(User).where(User.handle == annotator))
    if user is None:
        user = User(handle=_unique_handle(session, annotator), role="annotator", name=annotator)
        session.add(user)
        session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    """The user with this id, or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def get_user_by_email(session: Session, email: str) -> User:
    """The user with this email, or NotFound."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email}")
    return user


def list_users(session: Session) -> list[User]:
    """Every user, people with logins first, then by email."""
    return list(session.scalars(select(User).order_by(User.email.is_(None), User.email, User.id)))


def end_all_sessions(session: Session, user_id: int) -> int:
    """Log the user out everywhere; returns how many sessions ended."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_role(session: Session, user_id: int, role: str, *, actor_id: int | None) -> User:
    """Change a user's role; their sessions end so the new role applies at once."""
    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {role!r}", field_errors={"role": f"must be one of {', '.join(ROLES)}"}
        )
    user = get_user(session, user_id)
    if user.role == role:
        return user
    if user.id == actor_id:
        raise Conflict("you cannot change your own role")
    old = user.role
    user.role = role
    end_all_sessions(session, user.id)
    record_event(
        session,
        "user.role_changed",
        actor_id=actor_id,
        subject_type="user",
        subject_id=user.id,
        old=old,
        new=role,
    )
    session.flush()
    return user


def disable_user(session: Session, user_id: int, *, actor_id: int | None) -> User:
    """Disable a user: no more logins, their sessions end, their tokens stop working and their
    leases in every project go back to the queue."""
    user = get_user(session, user_id)
    if user.id == actor_id:
        raise Conflict("you cannot disable yourself")
    if user.is_active:
        user.is_active = False
        user.disabled_at = utcnow()
        end_all_sessions(session, user.id)
        released = release_leases(session, user.id, actor_id=actor_id)
        record_event(
            session,
            "user.disabled",
            actor_id=actor_id,
            subject_type="user",
            subject_id=user.id,
            leases_released=released,
        )
        session.flush()
    return user


def enable_user(session: Session, user_id: int, *, actor_id: int | None) -> User:
    """Re-enable a disabled user."""
    user = get_user(session, user_id)
    if not user.is_active:
        user.is_active = True
        user.disabled_at = None
        record_event(
            session, "user.enabled", actor_id=actor_id, subject_type="user", subject_id=user.id
        )
        session.flush()
    return user


def set_password(session: Session, user_id: int, password: str, *, actor_id: int | None) -> User:
    """Set a new password; every existing session of the user ends."""
    problem = validate_password(password)
    if problem:
        raise InvalidInput("the password was not accepted", field_errors={"password": problem})
    user = get_user(session, user_id)
    user.password_hash = hash_password(password)
    end_all_sessions(session, user.id)
    record_event(
        session, "user.password_set", actor_id=actor_id, subject_type="user", subject_id=user.id
    )
    session.flush()
    return user
