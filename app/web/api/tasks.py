"""The task API: lease the next item, submit or skip it, acknowledge a new spec version.

It mirrors what the labeling page does, so scripted and LLM annotators work through the same
assignment engine as people in the browser. Every route needs the ``tasks:work`` scope; a task id
that is not the token user's own lease, or that lies in a project the token does not reach, is a
404 (other people's leases do not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from sqlalchemy.orm import Session

from app.db.models import Assignment
from app.domain.acknowledgements import acknowledge_spec
from app.domain.annotations import submit_assignment
from app.domain.assignment import (
    annotator_assignment,
    lease_next_assignment,
    skip_assignment,
)
from app.domain.errors import NotFound
from app.domain.items import item_external_id
from app.domain.task_view import describe_task
from app.domain.tokens import TokenGrant
from app.domain.values import spec_label_keys
from app.web.api.projects import project_for
from app.web.api.schemas import RuleIn
from app.web.auth import token_scope
from app.web.deps import Db, Grant, provide_grant
from app.web.inline import run_write

WORK = token_scope("tasks:work")


@dataclass
class TaskItemOut:
    """The item of a task, as the annotator sees it."""

    external_id: str
    text: str
    tags: list[str]
    metadata: dict[str, Any]


@dataclass
class TaskOut:
    """A leased task: the item, the spec version it is labeled under, and the rules for exactly
    the edge-case tags this item carries."""

    id: int
    kind: str
    project: str
    spec_version: int
    state: str
    lease_expires_at: datetime
    item: TaskItemOut
    rules: list[RuleIn]


@dataclass
class TaskEnvelope:
    """``{"task": ...}``."""

    task: TaskOut


@dataclass
class SubmitIn:
    """``POST /tasks/{id}/submit``: the value (a label key, a list of keys for multi_choice, a
    number for numeric), the tags the annotator marked, the "unclear spec" flag and comment."""

    value: Any
    tags: list[str] | None = None
    unclear: bool = False
    comment: str = ""
    duration_ms: int | None = None


@dataclass
class SkipIn:
    """``POST /tasks/{id}/skip``: an optional reason."""

    reason: str = ""


@dataclass
class AnnotationOut:
    """The recorded annotation."""

    id: int
    task_id: int
    item: str
    spec_version: int
    value: Any
    tags: list[str]
    unclear: bool
    comment: str
    duration_ms: int | None
    created_at: datetime


@dataclass
class SubmittedOut:
    """``{"annotation": ...}``."""

    annotation: AnnotationOut


@dataclass
class TaskStateOut:
    """A task's id and state after a skip."""

    id: int
    state: str
    reason: str = ""


@dataclass
class SkippedOut:
    """``{"task": {id, state, reason}}``."""

    task: TaskStateOut


@dataclass
class AcknowledgedOut:
    """``POST .../specs/{n}/acknowledge``: which version, and whether this call recorded it."""

    spec_version: int
    acknowledged_at: datetime
    new: bool = False


def task_out(db: Session, assignment: Assignment, project_slug: str) -> TaskOut:
    """Serialize a leased task."""
    view = describe_task(db, assignment)
    return TaskOut(
        id=assignment.id,
        kind="label" if assignment.kind == "gold" else assignment.kind,  # gold is blind
        project=project_slug,
        spec_version=view.spec_number,
        state=assignment.state,
        lease_expires_at=assignment.lease_expires_at,
        item=TaskItemOut(view.item.external_id, view.item.text, view.tags, view.item.metadata),
        rules=[RuleIn(tag, text) for tag, text in view.rules],
    )


def _own_task(db: Session, grant: TokenGrant, task_id: int) -> Assignment:
    """The token user's assignment in a project the token reaches, locked; else NotFound."""
    assignment = annotator_assignment(db, task_id, grant.user, lock=True)
    if not grant.reaches(assignment.project_id):
        raise NotFound(f"no task {task_id}")
    return assignment


def _next_task(db: Session, grant: TokenGrant, slug: str) -> Response[TaskEnvelope | None]:
    project = project_for(db, grant, slug)
    assignment = lease_next_assignment(db, project, grant.user)
    if assignment is None:
        db.commit()
        return Response(None, status_code=204)
    body = TaskEnvelope(task_out(db, assignment, project.slug))
    db.commit()
    return Response(body, status_code=200)


def _submit(db: Session, grant: TokenGrant, task_id: int, data: SubmitIn) -> SubmittedOut:
    task = _own_task(db, grant, task_id)
    annotation = submit_assignment(
        db,
        task_id,
        grant.user,
        value=data.value,
        tags=data.tags,
        unclear=data.unclear,
        comment=data.comment,
        duration_ms=data.duration_ms,
        source="api",
    )
    out = AnnotationOut(
        id=annotation.id,
        task_id=task_id,
        item=item_external_id(db, task.item_id),
        spec_version=spec_label_keys(db, task.spec_version_id).number,  # read by the submission
        value=annotation.value,
        tags=sorted(set(data.tags or [])),  # just recorded: all of them, no more
        unclear=annotation.unclear,
        comment=annotation.comment,
        duration_ms=annotation.duration_ms,
        created_at=annotation.created_at,
    )
    db.commit()
    return SubmittedOut(out)


def _skip(db: Session, grant: TokenGrant, task_id: int, reason: str) -> SkippedOut:
    _own_task(db, grant, task_id)
    assignment = skip_assignment(db, task_id, grant.user, reason=reason)
    db.commit()
    return SkippedOut(TaskStateOut(assignment.id, assignment.state, assignment.skip_reason))


class TasksApi(Controller):
    """Leasing, submitting and skipping tasks through the JSON API.

    The three calls of the labeling loop run where :func:`~app.web.inline.run_write` puts them
    (on SQLite, on the event loop once it holds the writer lock), and take their grant from
    the request (:func:`~app.web.deps.provide_grant`) rather than as a second dependency.
    """

    path = "/api/v1"
    tags = ["tasks"]
    security = [{"BearerToken": []}]

    @post("/projects/{slug:str}/tasks/next", opt=WORK, status_code=200)
    async def next_task(
        self, request: Request[Any, Any, Any], state: State, db: Db, slug: FromPath[str]
    ) -> Response[TaskEnvelope | None]:
        """Lease the next item (200 with the task), 204 when nothing is left, 409
        ``spec_acknowledgement_required`` when a newer spec must be acknowledged first.

        Asking again while a lease is live returns the same task.
        """
        return await run_write(state, _next_task, db, provide_grant(request), slug)

    @post("/tasks/{task_id:int}/submit", opt=WORK, status_code=200)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: Db,
        task_id: FromPath[int],
        data: JSONBody[SubmitIn],
    ) -> SubmittedOut:
        """Record the value for a leased task: 422 for a value outside the spec, 409
        ``lease_expired`` for a lease that ran out or was used, 404 for someone else's task."""
        return await run_write(state, _submit, db, provide_grant(request), task_id, data)

    @post("/tasks/{task_id:int}/skip", opt=WORK, status_code=200)
    async def skip(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: Db,
        task_id: FromPath[int],
        data: JSONBody[SkipIn | None] = None,
    ) -> SkippedOut:
        """Skip a leased task (optional reason): it goes to someone else, never back to you."""
        reason = data.reason if data else ""
        return await run_write(state, _skip, db, provide_grant(request), task_id, reason)

    @post(
        "/projects/{slug:str}/specs/{number:int}/acknowledge",
        opt=WORK,
        sync_to_thread=True,
        status_code=200,
    )
    def acknowledge(
        self, db: Db, grant: Grant, slug: FromPath[str], number: FromPath[int]
    ) -> AcknowledgedOut:
        """Acknowledge the current spec version (what changed); calling it twice is harmless."""
        project = project_for(db, grant, slug)
        acknowledgement, new = acknowledge_spec(db, project, number, grant.user)
        db.commit()
        return AcknowledgedOut(number, acknowledgement.acknowledged_at, new)
