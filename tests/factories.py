"""Plain ``make_x(session, **overrides)`` factories for tests."""

from __future__ import annotations

import itertools
from typing import Any

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
