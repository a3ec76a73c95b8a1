"""API tokens: random, stored hashed, shown once, scoped to projects and scopes, revocable."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import execute_core
from app.db.models import ApiToken, ApiTokenProject, Project, User
from app.domain.audit import record_event
from app.domain.credentials import digest
from app.domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from app.domain.plain_rows import all_columns, detached_object

TOKEN_PREFIX = "acc_"  # noqa: S105 (a public prefix, not a secret)

SCOPES: dict[str, str] = {
    "projects:read": "see projects, specs, items and members",
    "projects:write": "create projects, manage members and specs, import items and labels",
    "tasks:work": "lease, submit and skip tasks",
    "agreement:read": "read agreement figures and hotspots",
    "jobs:write": "start background jobs (scans, snapshots)",
    "export:read": "export labels and snapshots",
    "jobs:read": "read job status",
    "admin": "manage users and tokens",
}
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "annotator": frozenset({"projects:read", "tasks:work", "jobs:read"}),
    "lead": frozenset(SCOPES) - {"admin"},
    "admin": frozenset(SCOPES),
}


@dataclass(frozen=True)
class TokenGrant:
    """What a presented token allows: whose it is, which scopes, which projects (None = all)."""

    token_id: int
    user: User
    scopes: frozenset[str]
    project_ids: frozenset[int] | None

    def allows(self, scope: str) -> bool:
        """True if the token carries the scope and its user's role still permits it."""
        return scope in self.scopes and scope in ROLE_SCOPES[self.user.role]

    def reaches(self, project_id: int) -> bool:
        """True if the token is not limited to other projects."""
        return self.project_ids is None or project_id in self.project_ids


# Table columns, not ORM attributes: the statement then skips the ORM's result machinery.
_TOKENS = cast(Table, ApiToken.__table__).c
_TOKEN_PROJECTS = cast(Table, ApiTokenProject.__table__).c
_TOKEN_WITH_USER = (
    select(
        _TOKENS.id.label("token_id"),
        _TOKENS.scopes,
        _TOKENS.expires_at,
        _TOKENS.revoked_at,
        _TOKENS.last_used_at,
        *all_columns(User),  # the row of detached_object(User, ...)
        _TOKEN_PROJECTS.project_id,
    )
    .join(cast(Table, User.__table__), User.id == _TOKENS.user_id)
    .outerjoin(cast(Table, ApiTokenProject.__table__), _TOKEN_PROJECTS.token_id == _TOKENS.id)
    .where(_TOKENS.token_hash == bindparam("token_hash"))
)
"""The token, its user and one row per project it is limited to (one row if none): every API
request presents a token, so this is one statement, built once, loading no ORM objects."""


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    project_slugs: list[str] | None = None,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    actor_id: int | None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret, which is never stored or shown again."""
    errors: dict[str, str] = {}
    name = name.strip()
    if not name or len(name) > 200:
        errors["name"] = "required, at most 200 characters"
    unknown = sorted(set(scopes or []) - set(SCOPES))
    if unknown:
        errors["scopes"] = f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}"
    elif scopes:
        beyond = sorted(set(scopes) - ROLE_SCOPES[user.role])
        if beyond:
            errors["scopes"] = f"a {user.role} may not hold {', '.join(beyond)}"
    if not user.can_log_in:
        errors["email"] = "this user is disabled or has no login"
    if expires_at is not None and expires_at <= utcnow():
        errors["expires_at"] = "must be in the future"
    projects: list[Project] = []
    for slug in project_slugs or []:
        project = session.scalar(select(Project).where(Project.slug == slug))
        if project is None:
            errors["projects"] = f"no project {slug!r}"
        else:
            projects.append(project)
    if errors:
        raise InvalidInput("the token could not be created", field_errors=errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        token_hash=digest(raw),
        scopes=sorted(scopes) if scopes else None,
        expires_at=expires_at,
        project_links=[ApiTokenProject(project_id=p.id) for p in projects],
    )
    session.add(token)
    session.flush()
    record_event(
        session,
        "token.created",
        actor_id=actor_id,
        subject_type="api_token",
        subject_id=token.id,
        user_id=user.id,
        projects=[p.slug for p in projects],
        scopes=token.scopes,
    )
    return token, raw


class TouchDue(Exception):
    """:func:`resolve_token` was told not to write, and the token's last use is due to be
    recorded: resolve it again where writing is allowed."""


def resolve_token(session: Session | Connection, raw: str, *, may_write: bool = True) -> TokenGrant:
    """The grant for a presented bearer token, or Unauthenticated saying why not.

    The token's last use is recorded at most once a minute; with ``may_write=False`` a due
    record raises TouchDue instead (the caller cannot wait for a write lock). The grant's user
    is detached (as if loaded by a session since closed): it outlives the transaction that
    checked the token and is only read. Every statement here is Core, so a plain connection
    serves as well as a session (and costs less: the guard checks a token per request).
    """
    rows = execute_core(session, _TOKEN_WITH_USER, {"token_hash": digest(raw.strip())}).all()
    if not rows:
        raise Unauthenticated("the API token is not valid", code="invalid_token")
    token_id, scopes, expires_at, revoked_at, last_used_at, *user_row, _ = rows[0]
    now = utcnow()
    if revoked_at is not None:
        raise Unauthenticated("the API token was revoked", code="token_revoked")
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated("the API token has expired", code="token_expired")
    user = detached_object(User, user_row)
    if not user.can_log_in:
        raise Unauthenticated("the token's user is disabled", code="user_disabled")
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        if not may_write:
            raise TouchDue
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    granted = frozenset(scopes) if scopes else ROLE_SCOPES[user.role]
    ids = frozenset(project_id for *_, project_id in rows if project_id is not None)
    return TokenGrant(token_id, user, granted, ids or None)


def list_tokens(session: Session, user_id: int | None = None) -> list[ApiToken]:
    """Tokens, newest first, optionally only one user's."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_token(session: Session, token_id: int, *, actor: User | None) -> ApiToken:
    """Revoke a token: it stops working at once. Admins (and the CLI operator, ``actor=None``)
    revoke any; others only their own."""
    token = session.get(ApiToken, token_id)
    if token is None or (actor is not None and actor.role != "admin" and token.user_id != actor.id):
        raise NotFound(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_event(
            session,
            "token.revoked",
            actor_id=actor.id if actor else None,
            subject_type="api_token",
            subject_id=token.id,
        )
        session.flush()
    return token


def require_scope(grant: TokenGrant, scope: str) -> None:
    """Raise Forbidden unless the grant carries ``scope``."""
    if not grant.allows(scope):
        raise Forbidden(f"this token lacks the {scope!r} scope", code="insufficient_scope")
