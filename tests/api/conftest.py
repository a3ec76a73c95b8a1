"""API tests reuse the web fixtures and add token helpers."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from app.db.engine import make_session_factory, session_scope
from app.domain.people import get_user_by_email
from app.domain.tokens import create_token
from tests.web.conftest import app, client, db, settings  # noqa: F401 (fixtures)


def make_token(app: Litestar, email: str, **kwargs: Any) -> dict[str, str]:
    """Create a token for the user with ``email``; returns the Authorization header."""
    with session_scope(make_session_factory(app.state.engine)) as session:
        user = get_user_by_email(session, email)
        _, raw = create_token(
            session, user, name=kwargs.pop("name", "test"), actor_id=None, **kwargs
        )
    return {"Authorization": f"Bearer {raw}"}
