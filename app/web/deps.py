"""Dependencies handlers ask for: a database session, the viewer, the API token grant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeAlias

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.orm import Session, sessionmaker

from app.domain.errors import Unauthenticated
from app.domain.tokens import TokenGrant
from app.web.auth import LoginRequired, Viewer

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _request_session(request: Request[Any, Any, Any], state: State) -> Session:
    safe = request.method in SAFE_METHODS
    factory: sessionmaker[Session] = state.session_factory if safe else state.write_session_factory
    return factory()


def provide_db(request: Request[Any, Any, Any], state: State) -> Iterator[Session]:
    """A session for one request; handlers commit explicitly, anything uncommitted rolls back.

    Requests that may write (anything but GET, HEAD, OPTIONS) get sessions whose SQLite
    transactions begin with the write lock taken: a transaction that reads first and upgrades
    to writing later would fail with "database is locked" while another writer is active.
    Litestar ends a generator like this one on a thread, where closing may wait (PostgreSQL's
    rollback is a round trip).
    """
    session = _request_session(request, state)
    try:
        yield session
    finally:
        session.close()


async def provide_db_on_loop(
    request: Request[Any, Any, Any], state: State
) -> AsyncIterator[Session]:
    """:func:`provide_db` for SQLite, closing the session right on the event loop: there
    closing never waits (at most a rollback, which takes no lock), and the hop to a thread
    and back cost a twentieth of a labeling request."""
    session = _request_session(request, state)
    try:
        yield session
    finally:
        session.close()


def provide_viewer(request: Request[Any, Any, Any]) -> Viewer:
    """The logged-in viewer the guard resolved (only on user/lead/admin routes)."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is None:
        raise LoginRequired("please log in")
    return viewer


def provide_optional_viewer(request: Request[Any, Any, Any]) -> Viewer | None:
    """The viewer if someone is logged in (public pages)."""
    return getattr(request.state, "viewer", None)


def provide_grant(request: Request[Any, Any, Any]) -> TokenGrant:
    """The API token grant the guard resolved (only on token routes).

    A handler that needs only this and ``db`` may call it on its request instead of declaring
    both: Litestar resolves two dependencies of a request concurrently, in a task group whose
    tasks cost the labeling loop about a twentieth of a request."""
    grant: TokenGrant | None = getattr(request.state, "grant", None)
    if grant is None:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    return grant


# Explicit markers for handler signatures (Litestar's inferred style is deprecated).
Db: TypeAlias = NamedDependency[Session]
CurrentViewer: TypeAlias = NamedDependency[Viewer]
MaybeViewer: TypeAlias = NamedDependency[Viewer | None]
Grant: TypeAlias = NamedDependency[TokenGrant]
