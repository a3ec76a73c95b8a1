"""Plain ``make_x(session, **overrides)`` factories for tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db.models import Project, SpecVersion, User
from app.domain.people import create_user
from app.domain.projects import LabelInput, ProjectInput, create_project
from app.domain.specs import create_draft, update_draft

_counter = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery"


def make_user(session: Session, **overrides: Any) -> User:
    """A login-capable user (password ``DEFAULT_PASSWORD`` unless given)."""
    n = next(_counter)
    values: dict[str, Any] = {
        "email": f"person{n}@example.test",
        "role": "annotator",
        "name": f"Person {n}",
        "password": DEFAULT_PASSWORD,
    }
    values.update(overrides)
    user, _ = create_user(session, **values)
    return user


def make_project(session: Session, *, actor: User | None = None, **overrides: Any) -> Project:
    """A single-choice project with three labels and one rule, spec v1 published."""
    n = next(_counter)
    actor = actor or make_user(session, role="lead")
    values: dict[str, Any] = {
        "slug": f"project-{n}",
        "name": f"Project {n}",
        "kind": "single_choice",
        "overlap": 3,
        "labels": [
            LabelInput("positive", "Positive"),
            LabelInput("negative", "Negative"),
            LabelInput("neutral", "Neutral"),
        ],
        "rules": {"sarcasm": "Label the intended meaning, not the literal words."},
        "guidelines": "Label the sentiment the author expresses.",
    }
    values.update(overrides)
    return create_project(session, ProjectInput(**values), actor=actor)


def draft_with(session: Session, project: Project, lead: User, **changes: Any) -> SpecVersion:
    """A new draft of the project's spec with ``changes`` saved (rules, labels, changelog...)."""
    draft = create_draft(session, project, actor=lead)
    return update_draft(
        session,
        project,
        draft.number,
        changes,
        expected_edit_version=draft.edit_version,
        actor=lead,
    )


@contextmanager
def statements_through_sqlalchemy(session: Session) -> Iterator[list[str]]:
    """The SQL SQLAlchemy's execution sends on the session's connection while the block runs
    (its ``before_cursor_execute`` event; statements on SQLite's driver do not pass there)."""
    connection = session.connection()
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", record)


@contextmanager
def statements_sent(session: Session) -> Iterator[list[str]]:
    """The SQL the session's connection sends while the block runs: read from SQLite's driver
    itself (statements run there without SQLAlchemy's events, app/db/driver.py), elsewhere from
    SQLAlchemy's ``before_cursor_execute``."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        with statements_through_sqlalchemy(session) as sent:
            yield sent
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    traced: list[str] = []
    driver.set_trace_callback(traced.append)
    try:
        yield traced
    finally:
        driver.set_trace_callback(None)


def calls_of(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """One entry per call of ``owner.name`` from now on (the call itself goes through)."""
    calls: list[int] = []
    real = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls
