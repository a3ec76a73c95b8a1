"""Users, credentials and tokens against real databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.domain import credentials, people, tokens
from app.domain.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from tests.factories import DEFAULT_PASSWORD, make_project, make_user

WINDOW = timedelta(minutes=15)


def login(session: Session, email: str, password: str, client: str = "1.2.3.4"):
    return credentials.authenticate(
        session, email, password, client=client, max_failures=3, window=WINDOW
    )


def test_password_is_stored_as_argon2id(session: Session) -> None:
    user = make_user(session)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash


def test_login_accepts_right_password_and_refuses_wrong_or_unknown(session: Session) -> None:
    user = make_user(session, email="Ann@Example.test")
    assert login(session, "ann@example.test", DEFAULT_PASSWORD).id == user.id
    with pytest.raises(Unauthenticated):
        login(session, "ann@example.test", "wrong password!")
    with pytest.raises(Unauthenticated):
        login(session, "nobody@example.test", DEFAULT_PASSWORD)


def test_disabled_user_cannot_log_in_and_loses_sessions(session: Session) -> None:
    admin = make_user(session, role="admin")
    user = make_user(session)
    raw = credentials.start_web_session(session, user, lifetime=timedelta(hours=1))
    people.disable_user(session, user.id, actor_id=admin.id)
    assert credentials.resolve_web_session(session, raw, lifetime=timedelta(hours=1)) is None
    with pytest.raises(Unauthenticated):
        login(session, user.email or "", DEFAULT_PASSWORD)


def test_login_is_rate_limited_per_account(session: Session) -> None:
    user = make_user(session)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            login(session, user.email or "", "wrong password!", client=f"10.0.0.{_}")
    with pytest.raises(RateLimited):
        login(session, user.email or "", DEFAULT_PASSWORD, client="10.9.9.9")


def test_role_change_ends_sessions(session: Session) -> None:
    admin = make_user(session, role="admin")
    user = make_user(session)
    raw = credentials.start_web_session(session, user, lifetime=timedelta(hours=1))
    people.set_role(session, user.id, "lead", actor_id=admin.id)
    assert credentials.resolve_web_session(session, raw, lifetime=timedelta(hours=1)) is None


def test_session_rotates_at_login_and_dies_at_logout(session: Session) -> None:
    user = make_user(session)
    first = credentials.start_web_session(session, user, lifetime=timedelta(hours=1))
    second = credentials.start_web_session(
        session, user, lifetime=timedelta(hours=1), replaces=first
    )
    assert first != second
    assert credentials.resolve_web_session(session, first, lifetime=timedelta(hours=1)) is None
    credentials.end_web_session(session, second)
    assert credentials.resolve_web_session(session, second, lifetime=timedelta(hours=1)) is None


def test_duplicate_email_and_bad_role_are_refused(session: Session) -> None:
    make_user(session, email="dup@example.test")
    with pytest.raises(Conflict):
        make_user(session, email="DUP@example.test")
    with pytest.raises(InvalidInput) as excinfo:
        make_user(session, role="overlord")
    assert "role" in excinfo.value.field_errors


def test_token_is_hashed_scoped_and_revocable(session: Session) -> None:
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead)
    token, raw = tokens.create_token(
        session,
        lead,
        name="ci",
        project_slugs=[project.slug],
        scopes=["export:read"],
        actor_id=lead.id,
    )
    assert raw.startswith("acc_") and raw not in token.token_hash
    grant = tokens.resolve_token(session, raw)
    assert grant.allows("export:read") and not grant.allows("projects:write")
    assert grant.reaches(project.id) and not grant.reaches(project.id + 1000)
    tokens.revoke_token(session, token.id, actor=lead)
    with pytest.raises(Unauthenticated) as excinfo:
        tokens.resolve_token(session, raw)
    assert excinfo.value.code == "token_revoked"


def test_a_token_records_its_last_use_once_a_minute_or_says_so_when_it_may_not_write(
    session: Session,
) -> None:
    user = make_user(session)
    token, raw = tokens.create_token(session, user, name="x", actor_id=user.id)
    session.flush()
    # A reader that must not write hears that the first use is due to be recorded
    with pytest.raises(tokens.TouchDue):
        tokens.resolve_token(session, raw, may_write=False)
    assert token.last_used_at is None
    tokens.resolve_token(session, raw)
    session.refresh(token)
    first_use = token.last_used_at
    assert first_use is not None
    # within the minute it reads without writing, and after it the use is due again
    assert tokens.resolve_token(session, raw, may_write=False).user.id == user.id
    token.last_used_at = first_use - timedelta(seconds=61)
    session.flush()
    with pytest.raises(tokens.TouchDue):
        tokens.resolve_token(session, raw, may_write=False)


def test_expired_token_and_annotator_scope_limits(session: Session) -> None:
    annotator = make_user(session)
    with pytest.raises(InvalidInput):
        tokens.create_token(
            session, annotator, name="x", scopes=["export:read"], actor_id=annotator.id
        )
    token, raw = tokens.create_token(session, annotator, name="x", actor_id=annotator.id)
    token.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(Unauthenticated) as excinfo:
        tokens.resolve_token(session, raw)
    assert excinfo.value.code == "token_expired"
