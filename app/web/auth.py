"""Route authorization: every handler declares a rule in ``opt["auth"]``; one guard enforces it.

Rules:
- ``public``: anyone (login page, health, static files, the OpenAPI schema);
- ``user`` / ``lead`` / ``admin``: a browser session whose user has at least that role
  (lead includes admin);
- ``token``: an API bearer token carrying ``opt["scope"]``.

Browser sessions and tokens never mix: pages ignore ``Authorization`` and the API ignores cookies,
which is why the API can be exempt from the cookie-based CSRF check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from litestar.concurrency import sync_to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db.engine import session_scope
from app.db.models import User
from app.domain.credentials import resolve_web_session
from app.domain.errors import DomainError, Forbidden, Unauthenticated
from app.domain.tokens import TokenGrant, TouchDue, require_scope, resolve_token
from app.settings import Settings
from app.web.inline import reads_inline

SESSION_COOKIE = "accord_session"
ROLE_RANK = {"annotator": 0, "lead": 1, "admin": 2}
T = TypeVar("T")
RULES = ("public", "user", "lead", "admin", "token")

PUBLIC: dict[str, Any] = {"auth": "public"}
ANY_USER: dict[str, Any] = {"auth": "user"}
LEAD: dict[str, Any] = {"auth": "lead"}
ADMIN: dict[str, Any] = {"auth": "admin"}


def token_scope(scope: str) -> dict[str, Any]:
    """The rule for an API handler that needs a bearer token with ``scope``."""
    return {"auth": "token", "scope": scope}


class LoginRequired(DomainError):
    """A page needs a logged-in user; HTML handlers answer with a redirect to /login."""

    code = "login_required"
    status_code = 401


@dataclass(frozen=True)
class Viewer:
    """The logged-in person behind a browser request."""

    user: User
    session_token: str


def rule_of(handler: BaseRouteHandler) -> str | None:
    """The authorization rule a handler declares, or None if it declares none.

    Litestar's automatic OPTIONS handlers only list allowed methods and are public.
    """
    if handler.handler_name == "options_handler" and getattr(handler, "http_methods", None) == {
        "OPTIONS"
    }:
        return "public"
    rule = handler.opt.get("auth")
    return rule if rule in RULES else None


def _read_then_maybe_write(state: State, work: Callable[[Session], T]) -> T:
    """Run ``work`` (which reads, and now and then writes: a session's sliding expiry, a
    token's last use) in one transaction.

    It runs as a plain read first so that concurrent requests are not serialized. On SQLite a
    read transaction cannot always upgrade to a write while another writer commits ("database
    is locked"); that rare case is redone in a transaction holding the write lock from the start.
    """
    try:
        with session_scope(state.session_factory) as session:
            return work(session)
    except OperationalError:
        if state.engine.dialect.name != "sqlite":
            raise
    with session_scope(state.write_session_factory) as session:
        return work(session)


def _resolve_viewer(state: State, raw: str, hours: int) -> Viewer | None:
    def work(session: Session) -> Viewer | None:
        web_session = resolve_web_session(session, raw, lifetime=timedelta(hours=hours))
        if web_session is None:
            return None
        session.flush()
        session.expunge(web_session.user)
        return Viewer(web_session.user, raw)

    return _read_then_maybe_write(state, work)


def _token_grant(
    db: Session | Connection, raw: str, scope: str, *, may_write: bool = True
) -> TokenGrant:
    grant = resolve_token(db, raw, may_write=may_write)
    require_scope(grant, scope)
    return grant


def _resolve_grant(state: State, raw: str, scope: str) -> TokenGrant:
    return _read_then_maybe_write(state, lambda session: _token_grant(session, raw, scope))


async def _grant(state: State, raw: str, scope: str) -> TokenGrant:
    """The token's grant: read right here where that cannot wait (:mod:`app.web.inline`), on
    a handler thread when the read must wait or the token's last use is due to be written."""
    if reads_inline(state):
        try:
            with state.engine.connect() as connection:
                return _token_grant(connection, raw, scope, may_write=False)
        except TouchDue:
            pass
    return await sync_to_thread(_resolve_grant, state, raw, scope)


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The one guard: enforce the handler's declared rule, or refuse if it declares none.

    A token is read right on the event loop on SQLite (:func:`_grant`); otherwise its database
    work runs on the threads that run the sync handlers (Litestar's executor), not on a pool of
    its own: with up to 40 more threads contending for the interpreter and SQLite's write
    queue, the labeling loop spent about a tenth more CPU per request.
    """
    rule = rule_of(handler)
    if rule is None:
        raise Forbidden(f"route {handler} has no authorization rule")
    state = connection.app.state
    settings: Settings = state.settings
    if rule == "token":
        header = connection.headers.get("authorization", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthenticated(
                "send an API token as 'Authorization: Bearer <token>'", code="missing_token"
            )
        grant = await _grant(state, raw, handler.opt["scope"])
        connection.state.grant = grant
        return
    raw_session = connection.cookies.get(SESSION_COOKIE)
    viewer = None
    if raw_session:
        viewer = await sync_to_thread(_resolve_viewer, state, raw_session, settings.session_hours)
    connection.state.viewer = viewer
    if rule == "public":
        return
    if viewer is None:
        raise LoginRequired("please log in")
    if ROLE_RANK[viewer.user.role] < ROLE_RANK.get(rule, 0):
        raise Forbidden(f"this page is for {rule}s")
