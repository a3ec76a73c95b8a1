"""Fixtures and helpers for tests that drive the whole app: an app per test (on SQLite and
PostgreSQL), a test client that speaks CSRF, and API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from app.db.engine import make_session_factory, session_scope
from app.domain.people import get_user_by_email
from app.domain.tokens import create_token
from app.settings import Settings
from app.web.app import create_app
from tests.factories import DEFAULT_PASSWORD, make_user


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> Settings:
    """Settings for a test app on the per-test database, with the embedded broker (and no
    scheduled hotspot scans: tests that want one queue it)."""
    return Settings(
        env="test",
        database_url=database_url,
        load_demo=False,
        data_dir=str(tmp_path),
        login_max_failures=3,
        hotspot_scan_minutes=0,
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """A fresh app for this test."""
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    """A test client bound to the app (runs its start-up and shut-down)."""
    with TestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def db(app: Litestar) -> Iterator[Session]:
    """A committed-work session on the app's database, for Given steps and Then checks."""
    factory = make_session_factory(app.state.engine)
    with session_scope(factory) as session:
        yield session


def commit_user(app: Litestar, **overrides: Any) -> Any:
    """Create and commit a user on the app's database; returns it (detached)."""
    factory = make_session_factory(app.state.engine)
    with session_scope(factory, immediate=True) as session:
        user = make_user(session, **overrides)
    return user


def csrf_token(client: TestClient[Litestar]) -> str:
    """The CSRF token cookie, fetching the login page first if there is none yet."""
    if "csrftoken" not in client.cookies:
        client.get("/login")
    return str(client.cookies["csrftoken"])


def post_form(
    client: TestClient[Litestar],
    url: str,
    data: dict[str, Any] | None = None,
    *,
    htmx: bool = False,
    **kwargs: Any,
) -> Any:
    """POST a form the way the browser does: with the CSRF field, optionally as HTMX."""
    body = dict(data or {})
    body["_csrf_token"] = csrf_token(client)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(url, data=body, headers=headers, follow_redirects=False, **kwargs)


def login(client: TestClient[Litestar], email: str, password: str = DEFAULT_PASSWORD) -> Any:
    """Log in through the form; returns the response."""
    return post_form(client, "/login", {"email": email, "password": password})


def make_token(app: Litestar, email: str, **kwargs: Any) -> dict[str, str]:
    """Create a token for the user with ``email``; returns the Authorization header."""
    with session_scope(make_session_factory(app.state.engine), immediate=True) as session:
        user = get_user_by_email(session, email)
        _, raw = create_token(
            session, user, name=kwargs.pop("name", "test"), actor_id=None, **kwargs
        )
    return {"Authorization": f"Bearer {raw}"}
