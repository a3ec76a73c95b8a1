"""Import a Label Studio JSON export: its tasks become items, its choices annotations.

Label Studio's export is a JSON array of tasks: ``{"id", "data": {"text"}, "annotations": [{
"completed_by", "result": [{"type": "choices", "value": {"choices": [...]}}], "was_cancelled",
"created_at"}]}``. Each task becomes the item ``ls-<id>`` (or ``data.external_id`` when present);
each annotation's choices become one label, matched to the spec's labels by key, then by name
(case-insensitive); ``completed_by`` (an id, or an object with an email) names the annotator,
created without a login when unknown. Cancelled annotations and those without choices are
skipped and counted. Everything goes through the regular item and annotation imports, in the
caller's transaction: all or nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import Project, User
from app.domain.annotation_import import import_annotations
from app.domain.errors import InvalidInput
from app.domain.item_parsing import parse_annotation_rows, parse_item_rows
from app.domain.items import import_items
from app.domain.projects import current_spec

MAX_ERRORS = 20


@dataclass(frozen=True)
class LabelStudioReport:
    """What the import did."""

    tasks: int
    items_created: int
    items_unchanged: int
    annotations_created: int
    annotators_created: list[str]
    skipped_cancelled: int
    skipped_without_choices: int


def import_label_studio(
    session: Session, project: Project, body: bytes, *, actor: User, filename: str = ""
) -> LabelStudioReport:
    """Import a Label Studio JSON export all-or-nothing; 422 naming the task for bad input."""
    try:
        tasks = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"not a Label Studio JSON export: {exc}", field_errors={"file": "invalid JSON"}
        ) from None
    if not isinstance(tasks, list) or not tasks:
        raise InvalidInput(
            "a Label Studio JSON export is a non-empty array of tasks",
            field_errors={"file": "expected a JSON array of tasks"},
        )
    choice_key = _choice_keys(session, project)
    errors: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    cancelled = empty = 0
    for index, task in enumerate(tasks):
        where = f"task {index + 1}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            errors[where] = "a task is an object with a data object"
            continue
        text = task["data"].get("text")
        external_id = task["data"].get("external_id") or (
            f"ls-{task['id']}" if task.get("id") is not None else None
        )
        if not isinstance(text, str) or external_id is None:
            errors[where] = "needs data.text and an id"
            continue
        items.append({"external_id": str(external_id), "text": text})
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            chosen = [
                choice
                for result in annotation.get("result") or []
                if result.get("type") == "choices"
                for choice in (result.get("value") or {}).get("choices") or []
            ]
            if not chosen:
                empty += 1
                continue
            keys = [choice_key.get(str(c).casefold()) for c in chosen]
            unknown = [c for c, k in zip(chosen, keys, strict=True) if k is None]
            if unknown:
                errors[where] = f"choice {unknown[0]!r} is not a label of the current spec"
                continue
            row: dict[str, Any] = {
                "external_id": str(external_id),
                "annotator": _annotator(annotation.get("completed_by")),
                "value": keys if project.kind == "multi_choice" else keys[0],
            }
            if isinstance(annotation.get("created_at"), str):
                row["created_at"] = annotation["created_at"]
            labels.append(row)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise InvalidInput("the Label Studio export was not imported", field_errors=errors)
    imported = import_items(
        session,
        project,
        parse_item_rows(json.dumps(items).encode(), "json", max_rows=len(items)),
        actor=actor,
        source="label_studio",
        filename=filename,
    )
    created, annotators = 0, []
    if labels:
        result = import_annotations(
            session,
            project,
            parse_annotation_rows(json.dumps(labels).encode(), "json", max_rows=len(labels)),
            actor=actor,
            source="label_studio",
            filename=filename,
        )
        created, annotators = result.created, result.annotators_created
    return LabelStudioReport(
        tasks=len(tasks),
        items_created=imported.created,
        items_unchanged=imported.unchanged,
        annotations_created=created,
        annotators_created=annotators,
        skipped_cancelled=cancelled,
        skipped_without_choices=empty,
    )


def _choice_keys(session: Session, project: Project) -> dict[str, str]:
    """Label Studio choice (casefolded key or name) -> the label key."""
    labels = current_spec(session, project).labels
    keys = {label.name.casefold(): label.key for label in labels}
    keys.update({label.key.casefold(): label.key for label in labels})
    return keys


def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and "@" in email:
            return email
        completed_by = completed_by.get("id")
    return f"ls-user-{completed_by}"
