"""The one Dramatiq actor, ``run_outbox_job(job_id)``: run an outbox job in one transaction.

Actors are declared per broker (a closure over the session factory) rather than with a
module-level decorator, so several brokers can live in one process. The message carries only the
job id; the row says what to do, and :func:`app.domain.outbox.run_job` makes a second delivery
harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import dramatiq
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import begin_immediate, session_scope
from app.domain.campaigns import spec_published_job
from app.domain.errors import NotFound
from app.domain.hotspots import scan_hotspots_job
from app.domain.outbox import JobHandler, describe_failure, record_failure, run_job
from app.domain.snapshots import create_snapshot_job
from app.domain.stats import recount_job
from app.jobs.broker import QUEUE_NAME

log = logging.getLogger("accord.jobs")

ACTOR_NAME = "run_outbox_job"

HANDLERS: Mapping[str, JobHandler] = {
    "create_snapshot": create_snapshot_job,
    "recount_project": recount_job,
    "scan_hotspots": scan_hotspots_job,
    "spec_published": spec_published_job,
}
"""The handler for each job kind in :data:`app.domain.outbox.JOB_KINDS`."""


@dataclass(frozen=True)
class ActorPolicy:
    """How Dramatiq retries and limits the outbox actor (milliseconds)."""

    # The outbox row decides when to give up (max_attempts); Dramatiq's own limit only has to be
    # higher so it never drops a job the outbox would still retry.
    max_retries: int = 20
    time_limit_ms: int = 10 * 60 * 1000
    min_backoff_ms: int = 2_000
    max_backoff_ms: int = 5 * 60 * 1000


def describe_error(exc: BaseException) -> str:
    """A one-line description of a failure for the job's ``error`` field."""
    if isinstance(exc, TimeLimitExceeded):
        return "the job ran past its time limit"
    return describe_failure(exc)


def declare_actors(
    broker: dramatiq.Broker,
    session_factory: sessionmaker[Session],
    *,
    handlers: Mapping[str, JobHandler] | None = None,
    policy: ActorPolicy | None = None,
) -> dict[str, dramatiq.Actor[[str], None]]:
    """Declare ``run_outbox_job`` on ``broker``; returns the actors by name."""
    handlers = HANDLERS if handlers is None else handlers
    policy = policy or ActorPolicy()

    def run_outbox_job(job_id: str) -> None:
        try:
            with session_scope(session_factory) as session:
                begin_immediate(session)
                job = run_job(session, job_id, handlers)
        except NotFound:
            # Its project was deleted (jobs cascade) or the message is from another database.
            log.warning("job %s no longer exists; dropping its message", job_id)
            return
        except (Exception, TimeLimitExceeded) as exc:
            # The job's transaction itself broke (database trouble, the time limit), so run_job
            # could not record the failure: record it in a fresh one, then let Dramatiq retry.
            with session_scope(session_factory) as session:
                begin_immediate(session)
                job = record_failure(session, job_id, describe_error(exc))
            if job.status == "queued":
                raise
        if job.status == "queued":
            # The handler failed; run_job rolled its work back and recorded why.
            raise dramatiq.Retry(f"attempt {job.attempts} of job {job_id} failed: {job.error}")
        if job.status == "failed":
            log.error("job %s (%s) failed for good: %s", job_id, job.kind, job.error)
        else:
            log.info("job %s (%s) is done", job_id, job.kind)

    actor = dramatiq.actor(
        actor_name=ACTOR_NAME,
        queue_name=QUEUE_NAME,
        broker=broker,
        max_retries=policy.max_retries,
        time_limit=policy.time_limit_ms,
        min_backoff=policy.min_backoff_ms,
        max_backoff=policy.max_backoff_ms,
    )(run_outbox_job)
    return {ACTOR_NAME: actor}
