"""Passwords (argon2id), browser sessions and the login rate limit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import LoginAttempt, User, WebSession
from app.domain.audit import record_event
from app.domain.errors import RateLimited, Unauthenticated

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps the time for unknown users the same as for known ones.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
LOGIN_FAILED = "email or password is wrong, or the account is disabled"


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def validate_password(password: str) -> str | None:
    """What is wrong with a proposed password, or None if it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"at most {MAX_PASSWORD_LENGTH} characters"
    return None


def digest(token: str) -> str:
    """SHA-256 hex digest of a high-entropy token (session ids, API tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check_rate_limit(
    session: Session, keys: list[str], *, max_failures: int, window: timedelta
) -> None:
    since = utcnow() - window
    for key in keys:
        failures = session.scalar(
            select(func.count()).where(
                LoginAttempt.key == key,
                LoginAttempt.attempted_at >= since,
                LoginAttempt.succeeded.is_(False),
            )
        )
        if (failures or 0) >= max_failures:
            minutes = int(window.total_seconds() // 60)
            raise RateLimited(
                f"too many failed logins; try again in {minutes} minutes",
                details={"retry_after_seconds": int(window.total_seconds())},
            )


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    client: str,
    max_failures: int,
    window: timedelta,
) -> User:
    """Check credentials, counting failures per account and per client for the rate limit.

    The caller must commit even when this raises Unauthenticated, so the failure is counted.
    """
    email = email.strip().lower()
    keys = [f"email:{email}", f"client:{client}"]
    _check_rate_limit(session, keys, max_failures=max_failures, window=window)
    user = session.scalar(select(User).where(User.email == email)) if email else None
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        ok = user is not None and user.can_log_in
    except (VerificationError, InvalidHashError):
        ok = False
    for key in keys:
        session.add(LoginAttempt(key=key, succeeded=ok))
    if not ok or user is None:
        session.flush()
        raise Unauthenticated(LOGIN_FAILED)
    assert user.password_hash is not None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record_event(
        session, "user.logged_in", actor_id=user.id, subject_type="user", subject_id=user.id
    )
    session.flush()
    return user


def start_web_session(
    session: Session,
    user: User,
    *,
    lifetime: timedelta,
    user_agent: str = "",
    replaces: str | None = None,
) -> str:
    """Open a new session for the user and return its random id (for the cookie).

    A session id presented before login is discarded, so ids always rotate at login.
    """
    if replaces:
        session.execute(delete(WebSession).where(WebSession.token_hash == digest(replaces)))
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=digest(raw),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            user_agent=user_agent[:300],
        )
    )
    session.flush()
    return raw


def resolve_web_session(session: Session, raw: str, *, lifetime: timedelta) -> WebSession | None:
    """The live session for a cookie value, sliding its expiry; None if unknown or expired."""
    web_session = session.scalar(select(WebSession).where(WebSession.token_hash == digest(raw)))
    if web_session is None:
        return None
    now = utcnow()
    if web_session.expires_at <= now or not web_session.user.is_active:
        session.delete(web_session)
        session.flush()
        return None
    # Touch at most once a minute so reads stay reads.
    if now - web_session.last_seen_at > timedelta(minutes=1):
        web_session.last_seen_at = now
        web_session.expires_at = now + lifetime
        session.flush()
    return web_session


def end_web_session(session: Session, raw: str) -> None:
    """Log out: the session id stops working at once."""
    session.execute(delete(WebSession).where(WebSession.token_hash == digest(raw)))


def prune_login_attempts(session: Session, *, older_than: timedelta) -> int:
    """Forget login attempts older than the window; returns how many were removed."""
    result = session.execute(
        delete(LoginAttempt).where(LoginAttempt.attempted_at < utcnow() - older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
