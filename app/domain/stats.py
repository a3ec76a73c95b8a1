"""Project figures (items, completed items, annotations, annotators, active leases), recounted.

The counts live in ``project_stats`` so pages read one row instead of aggregating on every
request; the ``recount_project`` job refreshes them. A recount is an upsert, so running it twice
(an at-least-once job) leaves the same row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import dialect_insert
from app.db.models import Annotation, Assignment, Item, Job, Project, ProjectStats
from app.domain.errors import InvalidInput, NotFound
from app.domain.outbox import enqueue_job, ensure_job_pending

COUNT_FIELDS = ("n_items", "n_items_complete", "n_annotations", "n_annotators", "n_active_leases")


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(query) or 0)


def _counts(session: Session, project: Project) -> dict[str, int]:
    live = (Annotation.project_id == project.id, Annotation.retracted_at.is_(None))
    # An item is complete when k different people labelled it in its current round; counting
    # people rather than rows keeps a stray duplicate from completing an item early.
    complete_items = (
        select(Annotation.item_id)
        .join(Item, (Item.id == Annotation.item_id) & (Item.label_round == Annotation.label_round))
        .where(*live)
        .group_by(Annotation.item_id)
        .having(func.count(func.distinct(Annotation.user_id)) >= project.overlap)
        .subquery()
    )
    return {
        "n_items": _count(
            session, select(func.count()).select_from(Item).where(Item.project_id == project.id)
        ),
        "n_items_complete": _count(session, select(func.count()).select_from(complete_items)),
        "n_annotations": _count(session, select(func.count()).select_from(Annotation).where(*live)),
        "n_annotators": _count(
            session, select(func.count(func.distinct(Annotation.user_id))).where(*live)
        ),
        "n_active_leases": _count(
            session,
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.project_id == project.id,
                Assignment.state == "leased",
                Assignment.lease_expires_at > utcnow(),
            ),
        ),
    }


def recount_project(
    session: Session, project_id: int, *, job_id: str | None = None
) -> ProjectStats:
    """Recompute a project's figures and upsert its ``project_stats`` row."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"no project with id {project_id}")
    values: dict[str, Any] = {
        "project_id": project_id,
        **_counts(session, project),
        "computed_at": utcnow(),
        "job_id": job_id,
    }
    # ON CONFLICT rather than get-then-insert: two recounts racing on PostgreSQL would otherwise
    # both try to insert the first row.
    insert = dialect_insert(session)
    statement = insert(ProjectStats).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[ProjectStats.project_id],
        set_={name: statement.excluded[name] for name in values if name != "project_id"},
    )
    session.execute(statement)
    stats = session.get(ProjectStats, project_id, populate_existing=True)
    assert stats is not None  # just upserted in this transaction
    return stats


def recount_job(session: Session, job: Job) -> dict[str, Any]:
    """Outbox handler for ``recount_project`` jobs (payload ``{"project_id": int}``)."""
    project_id = job.payload.get("project_id")
    if not isinstance(project_id, int) or isinstance(project_id, bool):
        raise InvalidInput(
            "recount_project needs an integer project_id",
            field_errors={"payload.project_id": "required, must be int"},
        )
    stats = recount_project(session, project_id, job_id=job.id)
    return {"project_id": project_id, **{name: getattr(stats, name) for name in COUNT_FIELDS}}


def queue_recount(session: Session, project_id: int, *, actor_id: int | None = None) -> Job:
    """Queue a recount of the project's figures; one pending recount per project (debounced)."""
    return enqueue_job(session, **_recount(project_id, actor_id))


def recount_soon(session: Session, project_id: int, *, actor_id: int | None = None) -> None:
    """:func:`queue_recount` for the labeling loop, which does not need the job row (see
    :func:`app.domain.outbox.ensure_job_pending`)."""
    ensure_job_pending(session, **_recount(project_id, actor_id))


def _recount(project_id: int, actor_id: int | None) -> dict[str, Any]:
    return {
        "kind": "recount_project",
        "payload": {"project_id": project_id},
        "project_id": project_id,
        "dedupe_key": f"recount_project:{project_id}",
        "created_by_id": actor_id,
    }
