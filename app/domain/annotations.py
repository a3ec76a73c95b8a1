"""Submitting annotations: the value an annotator gives a leased item, stamped with its spec.

A submission is all-or-nothing: a lease that expired or was already used, a value outside the
spec, an unknown tag or an over-long comment records nothing. Each accepted submission queues one
(debounced) recount of the project's figures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import dialect_insert
from app.db.models import Annotation, AnnotationTag, ItemTag, Tag, User
from app.domain.assignment import annotator_assignment, require_live_lease
from app.domain.audit import record_event
from app.domain.errors import Forbidden, InvalidInput
from app.domain.gold_grading import grade_gold_check
from app.domain.plain_rows import insert_object, update_object
from app.domain.projects import can_reach, project_of_member
from app.domain.stats import recount_soon
from app.domain.values import spec_label_keys, validate_value

MAX_COMMENT_CHARS = 2000
MAX_TAGS = 20
MAX_DURATION_MS = 60 * 60 * 1000
"""Longer durations are clamped: an hour on one item means the tab was left open."""
SOURCES = ("browser", "api")


def _check_inputs(
    tags: list[str] | None, comment: str, duration_ms: int | None, source: str
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        errors["tags"] = "a list of tag names"
    elif tags is not None and len(set(tags)) > MAX_TAGS:
        errors["tags"] = f"at most {MAX_TAGS} tags"
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS:
        errors["comment"] = f"at most {MAX_COMMENT_CHARS} characters"
    if duration_ms is not None and (
        isinstance(duration_ms, bool) or not isinstance(duration_ms, int) or duration_ms < 0
    ):
        errors["duration_ms"] = "a whole number of milliseconds, 0 or more"
    if source not in SOURCES:
        errors["source"] = f"one of {', '.join(SOURCES)}"
    return errors


def _resolve_tags(session: Session, project_id: int, names: list[str]) -> list[Tag]:
    wanted = sorted(set(names))
    if not wanted:
        return []
    tags = list(
        session.scalars(select(Tag).where(Tag.project_id == project_id, Tag.name.in_(wanted)))
    )
    unknown = sorted(set(wanted) - {t.name for t in tags})
    if unknown:
        raise InvalidInput(
            f"unknown tag(s) for this project: {', '.join(unknown)}",
            field_errors={"tags": f"unknown tag(s) {', '.join(map(repr, unknown))}"},
        )
    return sorted(tags, key=lambda t: t.name)


def submit_assignment(
    session: Session,
    assignment_id: int,
    annotator: User,
    *,
    value: Any,
    tags: list[str] | None = None,
    unclear: bool = False,
    comment: str = "",
    duration_ms: int | None = None,
    source: str = "api",
    now: datetime | None = None,
) -> Annotation:
    """Record the annotator's value for their leased task and mark the task submitted.

    NotFound for someone else's task; Conflict ``lease_expired`` when the lease ran out or was
    already used; InvalidInput for a value outside the spec, an unknown tag or a bad field.
    On SQLite call it in a transaction started with ``begin_immediate``.
    """
    now = now if now is not None else utcnow()
    assignment = annotator_assignment(session, assignment_id, annotator, lock=True)
    require_live_lease(assignment, now)
    project = project_of_member(session, assignment.project_id, annotator)
    spec = spec_label_keys(session, assignment.spec_version_id)
    if not can_reach(session, annotator, project):
        raise Forbidden("only active members of the project may submit its work")
    errors = _check_inputs(tags, comment, duration_ms, source)
    try:
        canonical = validate_value(project.kind, spec, value)
    except InvalidInput as exc:
        errors.update(exc.field_errors)
    if errors:
        raise InvalidInput("the annotation was not recorded", field_errors=errors)
    marked = _resolve_tags(session, project.id, tags or [])
    update_object(session, assignment, state="submitted", finished_at=now)
    annotation = insert_object(
        session,
        Annotation,
        project_id=project.id,
        item_id=assignment.item_id,
        user_id=annotator.id,
        spec_version_id=assignment.spec_version_id,
        label_round=assignment.label_round,
        assignment_id=assignment.id,
        value=canonical,
        duration_ms=min(duration_ms, MAX_DURATION_MS) if duration_ms is not None else None,
        unclear=bool(unclear),
        comment=comment.strip(),
        source=source,
        created_at=now,
    )
    if marked:
        _tag(session, annotation, marked, annotator, now)
    record_event(
        session,
        "assignment.submitted",
        actor_id=annotator.id,
        project_id=project.id,
        item_id=assignment.item_id,
        subject_type="assignment",
        subject_id=assignment.id,
        annotator_id=annotator.id,
        slot=assignment.slot,
        state=assignment.state,
        annotation_id=annotation.id,
        unclear=annotation.unclear,
    )
    if assignment.kind == "gold":
        grade_gold_check(session, project, annotator, now)
    recount_soon(session, project.id, actor_id=annotator.id)
    return annotation


def _tag(
    session: Session, annotation: Annotation, tags: list[Tag], annotator: User, now: datetime
) -> None:
    """Store the marked tags on the annotation, and on the item where it lacked them."""
    session.add_all(AnnotationTag(annotation_id=annotation.id, tag_id=t.id) for t in tags)
    session.flush()
    # ON CONFLICT DO NOTHING: the item may already carry the tag (from its import, a lead, or
    # another annotator submitting at the same moment), and that earlier source is kept.
    insert = dialect_insert(session)
    session.execute(
        insert(ItemTag)
        .values(
            [
                {
                    "item_id": annotation.item_id,
                    "tag_id": t.id,
                    "source": "annotator",
                    "added_by_id": annotator.id,
                    "added_at": now,
                }
                for t in tags
            ]
        )
        .on_conflict_do_nothing()
    )
