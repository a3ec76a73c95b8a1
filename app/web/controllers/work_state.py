"""The labeling page's state and form: what the workspace region shows and what was entered.

Kept apart from the controller so that the routes read as routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import Annotation, Assignment, Project, SpecLabel, SpecVersion
from app.domain.errors import Conflict
from app.domain.task_view import describe_task
from app.web.controllers.forms import field, many, text_block

NOTICES = {
    "skipped": "Skipped. It goes to someone else.",
    "undone": "Undone. Label this item again; your earlier answer is kept in its history.",
}
"""Notices a redirect may name in its query (only these: no text comes from the URL)."""


@dataclass
class LabelForm:
    """What the annotator entered, kept when the form comes back with errors."""

    value: Any = None
    tags: list[str] = dataclass_field(default_factory=list)
    unclear: bool = False
    comment: str = ""


@dataclass
class Workspace:
    """Everything the region shows; ``state`` picks which part."""

    state: str  # task | closed | start | empty | acknowledge | blocked
    task: Any = None
    form: LabelForm | None = None
    errors: dict[str, str] = dataclass_field(default_factory=dict)
    notice: str | None = None
    undo: Annotation | None = None
    other_projects: list[tuple[Project, int]] = dataclass_field(default_factory=list)
    pending_spec: Any = None
    pending_diff: Any = None
    """What changed from the version before ``pending_spec``: rules are shown first."""
    blocked: Conflict | None = None
    """Why no new item is given (qualification, quota, cap): see app.domain.work_gate."""


def hotkeys(spec: SpecVersion) -> list[tuple[SpecLabel, str | None]]:
    """Each label with its key: the spec's hotkey, else 1-9 by position."""
    pairs = []
    for index, label in enumerate(spec.labels):
        key = label.hotkey or (str(index + 1) if index < 9 else None)
        pairs.append((label, key))
    return pairs


def parse_label_form(
    project: Project, data: dict[str, Any]
) -> tuple[Any, LabelForm, dict[str, str]]:
    """The submitted value in the task kind's shape, the form as entered, and form errors."""
    errors: dict[str, str] = {}
    value: Any
    if project.kind == "multi_choice":
        value = many(data, "value")
    elif project.kind == "numeric":
        raw = field(data, "value")
        try:
            value = float(raw)
        except ValueError:
            value = raw
            errors["value"] = "enter a number" if not raw else f"{raw!r} is not a number"
    else:
        value = field(data, "value")
        if not value:
            errors["value"] = "choose a label (press its key)"
    form = LabelForm(
        value=value,
        tags=many(data, "tags"),
        unclear=bool(field(data, "unclear")),
        comment=text_block(data, "comment"),
    )
    return value, form, errors


def task_workspace(db: Session, assignment: Assignment, **extra: Any) -> Workspace:
    """The region for a live task, with the item's own tags ticked to start with."""
    view = describe_task(db, assignment)
    return Workspace("task", task=view, form=LabelForm(tags=list(view.tags)), **extra)


def duration_ms(data: dict[str, Any]) -> int | None:
    raw = field(data, "duration_ms")
    return int(raw) if raw.isdigit() else None


def closed_notice(assignment: Assignment) -> str:
    return {
        "submitted": "You already labeled this item.",
        "skipped": "You skipped this item; it went to someone else.",
        "expired": "Your lease on this item expired and it went back to the queue.",
        "cancelled": "This task was given back.",
        "leased": "Your lease on this item expired and it went back to the queue.",
    }[assignment.state]
