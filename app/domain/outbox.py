"""The transactional outbox: jobs are rows written in the caller's transaction, then relayed.

A job row is the source of truth; the broker message only carries its id. Execution
(:func:`run_job`) is one transaction that locks the row, runs the handler and marks the job done
together with the handler's effects, so a worker killed half-way leaves nothing behind and a
second delivery finds the job done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import execute_core, is_sqlite
from app.db.models import Job
from app.db.models.jobs import JOB_STATUSES
from app.domain.errors import DomainError, InvalidInput, NotFound

log = logging.getLogger("accord.jobs")

PENDING_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("done", "failed")
MAX_ERROR_CHARS = 2000

JobHandler = Callable[[Session, Job], dict[str, Any]]
"""Does a job's work inside the job's transaction and returns its JSON result."""


@dataclass(frozen=True)
class JobKind:
    """What a kind of job is called and which payload fields (name -> type) it requires."""

    title: str
    payload: Mapping[str, type]


JOB_KINDS: Mapping[str, JobKind] = {
    "recount_project": JobKind("Recount project figures", {"project_id": int}),
    "create_snapshot": JobKind("Write an export snapshot", {"snapshot_id": int}),
    "scan_hotspots": JobKind("Scan for spec-ambiguity hotspots", {"project_id": int}),
    "spec_published": JobKind(
        "Create the re-label campaign of a published spec version",
        {"project_id": int, "spec_version_id": int, "number": int, "previous_number": int},
    ),
}


def _check_payload(kind: str, payload: Mapping[str, Any]) -> None:
    spec = JOB_KINDS.get(kind)
    if spec is None:
        raise InvalidInput(
            f"unknown job kind {kind!r}",
            field_errors={"kind": f"must be one of {', '.join(sorted(JOB_KINDS))}"},
        )
    errors: dict[str, str] = {}
    for name, expected in spec.payload.items():
        value = payload.get(name)
        # bool is an int subclass, but True is never a project id.
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            errors[f"payload.{name}"] = f"required, must be {expected.__name__}"
    for name in payload.keys() - spec.payload.keys():
        errors[f"payload.{name}"] = f"not a field of {kind!r} jobs"
    if errors:
        raise InvalidInput(f"invalid payload for a {kind!r} job", field_errors=errors)


_JOBS = cast(Table, Job.__table__).c
_PENDING_WITH_KEY = (_JOBS.dedupe_key == bindparam("dedupe_key")) & _JOBS.status.in_(
    PENDING_STATUSES
)
"""A job not yet finished under the dedupe key bound as ``dedupe_key``."""


def _pending_with_key(session: Session, dedupe_key: str) -> Job | None:
    return session.scalars(select(Job).where(_PENDING_WITH_KEY), {"dedupe_key": dedupe_key}).first()


def enqueue_job(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    project_id: int | None = None,
    dedupe_key: str | None = None,
    created_by_id: int | None = None,
    max_attempts: int = 5,
) -> Job:
    """Write a job row in the caller's transaction; a pending job with the same key is reused."""
    _check_payload(kind, payload)
    if max_attempts < 1:
        raise InvalidInput(
            "max_attempts must be at least 1", field_errors={"max_attempts": "must be at least 1"}
        )
    if dedupe_key is not None:
        existing = _pending_with_key(session, dedupe_key)
        if existing is not None:
            return existing
    job = Job(
        id=str(uuid.uuid4()),
        kind=kind,
        status="queued",
        payload=dict(payload),
        dedupe_key=dedupe_key,
        project_id=project_id,
        created_by_id=created_by_id,
        attempts=0,
        max_attempts=max_attempts,
        progress=0.0,
        error="",
        created_at=utcnow(),
    )
    if dedupe_key is None:
        session.add(job)
        session.flush()
        return job
    # A concurrent transaction may have enqueued the same key since we looked; the partial
    # unique index refuses the second row, and then the winner's job is the one to return.
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        winner = _pending_with_key(session, dedupe_key)
        if winner is None:
            raise
        return winner
    return job


_PENDING_KEY = select(_JOBS.id).where(_PENDING_WITH_KEY)


def ensure_job_pending(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str,
    project_id: int | None = None,
    created_by_id: int | None = None,
) -> None:
    """:func:`enqueue_job` for a caller that does not need the row: while a job with the key is
    pending (the usual case for a debounced job, e.g. a recount after every submission), a
    plain existence check answers and no row is loaded."""
    # Plain SQL (flushed first: a job added in this transaction must show).
    if execute_core(session, _PENDING_KEY, {"dedupe_key": dedupe_key}).first() is None:
        enqueue_job(
            session,
            kind,
            payload,
            project_id=project_id,
            dedupe_key=dedupe_key,
            created_by_id=created_by_id,
        )


def get_job(session: Session, job_id: str) -> Job:
    """The job with this id, or NotFound."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def job_as_dict(job: Job) -> dict[str, Any]:
    """The job as JSON: id, kind, status, progress, error, result, created_at, finished_at."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "error": job.error,
        "result": job.result,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def list_jobs(session: Session, limit: int = 50, status: str | None = None) -> list[Job]:
    """The newest jobs, optionally only those with one status."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if status:
        if status not in JOB_STATUSES:
            raise InvalidInput(
                f"unknown job status {status!r}",
                field_errors={"status": f"must be one of {', '.join(JOB_STATUSES)}"},
            )
        query = query.where(Job.status == status)
    return list(session.scalars(query))


def pending_to_send(session: Session, *, redeliver_after: timedelta, limit: int = 100) -> list[Job]:
    """Queued jobs never sent to the broker, or sent over ``redeliver_after`` ago and not run."""
    # "queued" means no attempt has committed: a running attempt holds its row lock and commits
    # done/failed together with its effects, so an old sent_at on a queued row means the message
    # was lost (broker restart, killed worker) or is still waiting behind others.
    cutoff = utcnow() - redeliver_after
    query = (
        select(Job)
        .where(Job.status == "queued", or_(Job.sent_at.is_(None), Job.sent_at < cutoff))
        .order_by(Job.created_at, Job.id)
        .limit(limit)
    )
    if not is_sqlite(session):
        # Rows locked by a running attempt are skipped: re-sending them would only park a
        # second worker thread on the lock.
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def mark_sent(session: Session, ids: list[str]) -> None:
    """Record that these jobs' messages reached the broker."""
    if not ids:
        return
    session.execute(
        update(Job)
        .where(Job.id.in_(ids), Job.status == "queued")
        .values(sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()


def mark_all_unsent(session: Session) -> int:
    """Forget that queued jobs were sent (their in-memory messages died with the last process)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Job)
            .where(Job.status == "queued", Job.sent_at.is_not(None))
            .values(sent_at=None)
            .execution_options(synchronize_session=False)
        ),
    )
    session.flush()
    return result.rowcount


def set_progress(session: Session, job: Job, fraction: float) -> None:
    """Record how far a running job has got (0..1; clamped, progress is only advisory)."""
    job.progress = min(1.0, max(0.0, float(fraction)))
    session.flush()


def _locked(session: Session, job_id: str) -> Job:
    # FOR UPDATE serializes deliveries of the same job on PostgreSQL (SQLite ignores it; there
    # the caller's BEGIN IMMEDIATE does the same); populate_existing refreshes a cached copy.
    job = session.scalars(
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def describe_failure(exc: BaseException) -> str:
    """A one-line description of why an attempt failed, for the job's ``error`` field."""
    if isinstance(exc, DomainError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _give_up(job: Job, last_error: str) -> None:
    job.status = "failed"
    job.error = f"gave up after {job.max_attempts} attempts: {last_error}"[:MAX_ERROR_CHARS]
    job.finished_at = utcnow()


def _fail_attempt(job: Job, error: str) -> None:
    # The broker still holds the message and retries it after a backoff; a fresh sent_at keeps
    # the relay from sending a duplicate meanwhile.
    job.status = "queued"
    job.error = error[:MAX_ERROR_CHARS]
    job.sent_at = utcnow()
    if job.attempts >= job.max_attempts:
        _give_up(job, error)


def run_job(session: Session, job_id: str, handlers: Mapping[str, JobHandler]) -> Job:
    """Run a job at most once per delivery and never again once finished; returns the row.

    A handler failure is rolled back to a savepoint and recorded on the row in this same
    transaction (status stays ``queued`` for a retry, or ``failed`` once attempts run out), so
    the row lock is only released with the failure counted.
    """
    job = _locked(session, job_id)
    if job.status in FINISHED_STATUSES:
        return job
    job.attempts += 1
    if job.attempts > job.max_attempts:
        _give_up(job, job.error or "no error was recorded (was the worker killed?)")
        session.flush()
        return job
    handler = handlers.get(job.kind)
    if handler is None:
        # A failed attempt, not a failed job: during a rolling deploy a newer worker may know it.
        _fail_attempt(job, f"this worker has no handler for {job.kind!r} jobs")
        session.flush()
        return job
    job.status = "running"
    job.started_at = utcnow()
    session.flush()
    try:
        with session.begin_nested():
            result = handler(session, job)
    except Exception as exc:  # any handler failure becomes the job's visible error
        log.warning("job %s (%s) attempt %d failed", job.id, job.kind, job.attempts, exc_info=True)
        _fail_attempt(job, describe_failure(exc))
        session.flush()
        return job
    job.status = "done"
    job.result = result
    job.progress = 1.0
    job.error = ""
    job.finished_at = utcnow()
    session.flush()
    return job


def record_failure(session: Session, job_id: str, error: str) -> Job:
    """Count an attempt whose transaction broke (so run_job could not) and keep its error."""
    job = _locked(session, job_id)
    if job.status in FINISHED_STATUSES:
        return job
    job.attempts += 1
    _fail_attempt(job, error)
    session.flush()
    return job
