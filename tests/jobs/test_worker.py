"""Jobs end to end: the embedded worker in this process, and real ``accord worker`` processes
on Redis and RabbitMQ, including one killed half-way through a job.

Waiting is always polling with a deadline; nothing asserts on timing.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import session_scope
from app.db.models import Job, ProjectStats
from app.domain.outbox import get_job, mark_sent
from app.jobs.actors import ActorPolicy
from app.jobs.broker import (
    BrokerUnavailable,
)
from app.jobs.worker import JobSystem
from app.settings import Settings
from tests.jobs.test_outbox import counts_of, enqueue_recount, make_labelled_project

DEADLINE_SECONDS = 60.0

# A worker whose recount does its work, says so, and then hangs with its transaction open, so
# the test can kill it at the worst moment.
STALLING_WORKER = """
import os, threading
from pathlib import Path
from app.jobs.actors import HANDLERS
from app.jobs.worker import run_worker_forever
from app.settings import Settings

def recount_then_stall(session, job):
    HANDLERS["recount_project"](session, job)
    session.flush()
    Path(os.environ["ACCORD_TEST_STALL_MARKER"]).write_text(job.id)
    threading.Event().wait()
    return {}

run_worker_forever(Settings.from_env(),
                   handlers={**HANDLERS, "recount_project": recount_then_stall})
"""


def settings_for(database_url: str, broker_url: str = "embedded") -> Settings:
    """Settings for a test job system."""
    return Settings(
        env="test",
        database_url=database_url,
        broker_url=broker_url,
        worker_threads=2,
        outbox_poll_seconds=0.5,
    )


def wait_for(
    condition: Callable[[], Any],
    what: str,
    *,
    on_timeout: Callable[[], str] = str,
    timeout: float = DEADLINE_SECONDS,
) -> Any:
    """Poll until ``condition()`` is truthy and return it; fail after the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"gave up waiting {timeout:g}s for {what}. {on_timeout()}")


def read_job(factory: sessionmaker[Session], job_id: str) -> Job:
    """The job row as committed right now."""
    with session_scope(factory) as db:
        return get_job(db, job_id)


def read_stats(factory: sessionmaker[Session], project_id: int) -> ProjectStats | None:
    """The project's committed figures, if any."""
    with session_scope(factory) as db:
        return db.get(ProjectStats, project_id)


def committed_recount(
    factory: sessionmaker[Session], **options: Any
) -> tuple[int, dict[str, int], str]:
    """Given a labelled project and a recount job, committed together as a web handler would."""
    with session_scope(factory) as db:
        project, expected = make_labelled_project(db)
        job = enqueue_recount(db, project, **options)
        return project.id, expected, job.id


# --- embedded broker -------------------------------------------------------------------------


def test_embedded_worker_runs_a_committed_recount(
    database_url: str, factory: sessionmaker[Session], job_systems: list[JobSystem]
) -> None:
    # Given a recount committed with the data it counts
    project_id, expected, job_id = committed_recount(factory)
    # When the in-process worker starts and the web layer relays after its commit
    system = JobSystem(settings_for(database_url), factory, run_worker=True)
    job_systems.append(system)
    system.start()
    system.check()
    system.relay_now()
    # Then the job finishes and the figures are there
    wait_for(lambda: read_job(factory, job_id).status == "done", "the recount")
    job = read_job(factory, job_id)
    assert (job.attempts, job.progress, job.error) == (1, 1.0, "")
    assert job.result == {"project_id": project_id, **expected}
    stats = read_stats(factory, project_id)
    assert stats is not None and counts_of(stats) == expected and stats.job_id == job_id


def test_embedded_restart_resends_jobs_lost_with_the_previous_process(
    database_url: str, factory: sessionmaker[Session], job_systems: list[JobSystem]
) -> None:
    # Given a job a previous process had sent to its in-memory broker before it exited
    project_id, expected, job_id = committed_recount(factory)
    with session_scope(factory) as db:
        mark_sent(db, [job_id])
    # When the app starts again (long before redeliver_after would re-send it)
    system = JobSystem(
        settings_for(database_url), factory, run_worker=True, redeliver_after=timedelta(hours=1)
    )
    job_systems.append(system)
    system.start()
    # Then the job still runs
    wait_for(lambda: read_job(factory, job_id).status == "done", "the re-sent recount")
    stats = read_stats(factory, project_id)
    assert stats is not None and counts_of(stats) == expected


def test_embedded_poison_job_ends_failed_with_the_error_visible(
    database_url: str, factory: sessionmaker[Session], job_systems: list[JobSystem]
) -> None:
    # Given a recount allowed three attempts, and a worker whose recount always breaks
    _, _, job_id = committed_recount(factory, max_attempts=3)
    calls: list[str] = []

    def broken(db: Session, job: Job) -> dict[str, Any]:
        calls.append(job.id)
        raise ValueError("counts do not add up")

    system = JobSystem(
        settings_for(database_url),
        factory,
        run_worker=True,
        handlers={"recount_project": broken},
        policy=ActorPolicy(min_backoff_ms=10, max_backoff_ms=50),
    )
    job_systems.append(system)
    system.start()
    # When it has been retried to exhaustion (polled: the worker may not have the message yet
    # when it first looks idle)
    job = wait_for(
        lambda: (found := read_job(factory, job_id)).status == "failed" and found,
        "the job to fail for good",
    )
    system.wait_idle(timeout=DEADLINE_SECONDS)
    # Then it is failed, says why, and Dramatiq was not left holding a dead letter
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error == "gave up after 3 attempts: ValueError: counts do not add up"
    assert calls == [job_id] * 3
    assert system.broker.dead_letters == []  # type: ignore[attr-defined]


def test_the_relay_queues_scheduled_scans_and_the_worker_runs_them(
    database_url: str, factory: sessionmaker[Session], job_systems: list[JobSystem]
) -> None:
    # Given labelled projects never scanned (the fixture has two), and a job system scanning
    # every 15 minutes
    project_id, _, _ = committed_recount(factory)
    system = JobSystem(
        replace(settings_for(database_url), hotspot_scan_minutes=15), factory, run_worker=True
    )
    job_systems.append(system)
    assert system.relay.scan_every == timedelta(minutes=15)
    # When the relay's schedule comes round
    due = system.relay.schedule_due()
    assert project_id in due and len(due) == 2
    system.start()
    # Then the scans run, and nothing is due again until new annotations arrive
    with session_scope(factory) as db:
        scans = db.scalars(select(Job.id).where(Job.kind == "scan_hotspots")).all()
    assert len(scans) == 2
    for scan_id in scans:
        done = wait_for(
            lambda scan_id=scan_id: (
                (found := read_job(factory, scan_id)).status == "done" and found
            ),
            "the scheduled scans to run",
        )
        assert done.result is not None and done.result["project_id"] in due
    assert system.relay.schedule_due() == []


def test_check_reports_an_embedded_worker_that_is_not_running(
    database_url: str, factory: sessionmaker[Session]
) -> None:
    system = JobSystem(settings_for(database_url), factory, run_worker=True)
    with pytest.raises(BrokerUnavailable, match="not running"):
        system.check()
    system.start()
    system.check()
    system.stop(timeout=10)
    with pytest.raises(BrokerUnavailable):
        system.check()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "scheme",
    ["redis://127.0.0.1:{port}/0", "amqp://guest:secret@127.0.0.1:{port}/"],
    ids=["redis-down", "rabbitmq-down"],
)
def test_a_broker_that_is_down_loses_no_job_and_is_reported(
    scheme: str, database_url: str, factory: sessionmaker[Session], job_systems: list[JobSystem]
) -> None:
    # Given the broker is down when a recount is committed
    _, _, job_id = committed_recount(factory)
    port = closed_port()
    system = JobSystem(
        settings_for(database_url, scheme.format(port=port)), factory, run_worker=False
    )
    job_systems.append(system)
    # When the web layer relays, nothing is raised and the job stays waiting to be sent
    system.relay_now()
    job = read_job(factory, job_id)
    assert (job.status, job.sent_at) == ("queued", None)
    # And the health check names the broker (without its password)
    with pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}") as down:
        system.check()
    assert "secret" not in str(down.value)


# --- real brokers, separate worker processes -------------------------------------------------


def worker_log(*processes: subprocess.Popen[bytes]) -> str:
    """The workers' output, for failure messages."""
    return "\n".join(
        f"--- worker {p.pid} (exit {p.poll()}) ---\n{p.log_path.read_text()[-4000:]}"  # type: ignore[attr-defined]
        for p in processes
    )


def wait_for_done(
    factory: sessionmaker[Session],
    job_id: str,
    system: JobSystem,
    *workers: subprocess.Popen[bytes],
) -> Job:
    """Relay and poll until the job is done; fail early if a worker process died."""

    def done() -> Job | None:
        assert all(w.poll() is None for w in workers), worker_log(*workers)
        system.relay_now()
        job = read_job(factory, job_id)
        return job if job.status == "done" else None

    return wait_for(done, f"job {job_id} to be done", on_timeout=lambda: worker_log(*workers))


def stop_cleanly(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM ends the worker after its running jobs, with exit status 0."""
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=DEADLINE_SECONDS) == 0, worker_log(worker)


def test_a_worker_process_runs_a_recount_relayed_from_the_web_process(
    database_url: str,
    broker_url: str,
    factory: sessionmaker[Session],
    spawn_worker: Callable[..., subprocess.Popen[bytes]],
    job_systems: list[JobSystem],
) -> None:
    # Given a committed recount and a separate worker process on a real broker
    project_id, expected, job_id = committed_recount(factory)
    worker = spawn_worker()
    # When the web process (which runs no worker) relays the outbox
    web = JobSystem(settings_for(database_url, broker_url), factory, run_worker=False)
    job_systems.append(web)
    web.check()
    web.relay_now()
    # Then the worker process runs it once and the figures are stored
    job = wait_for_done(factory, job_id, web, worker)
    assert job.attempts == 1
    stats = read_stats(factory, project_id)
    assert stats is not None and counts_of(stats) == expected and stats.job_id == job_id
    stop_cleanly(worker)


def test_killing_a_worker_mid_job_loses_nothing_and_duplicates_nothing(
    database_url: str,
    broker_url: str,
    factory: sessionmaker[Session],
    tmp_path: Path,
    spawn_worker: Callable[..., subprocess.Popen[bytes]],
    job_systems: list[JobSystem],
) -> None:
    # Given a worker that has done a recount's work but not yet committed it
    project_id, expected, job_id = committed_recount(factory)
    marker = tmp_path / "stalled"
    doomed = spawn_worker(STALLING_WORKER, ACCORD_TEST_STALL_MARKER=str(marker))
    web = JobSystem(
        settings_for(database_url, broker_url),
        factory,
        run_worker=False,
        redeliver_after=timedelta(seconds=1),
    )
    job_systems.append(web)
    web.relay_now()
    wait_for(
        marker.exists,
        "the worker to reach the middle of the job",
        on_timeout=lambda: worker_log(doomed),
    )
    job = read_job(factory, job_id)
    assert (job.status, job.attempts) == ("queued", 0)
    assert read_stats(factory, project_id) is None

    # When it is killed outright and a fresh worker starts
    doomed.kill()
    doomed.wait(timeout=DEADLINE_SECONDS)
    survivor = spawn_worker()

    # Then the relay sends the job again and it completes exactly once
    job = wait_for_done(factory, job_id, web, survivor)
    assert job.attempts == 1
    stats = read_stats(factory, project_id)
    assert stats is not None and counts_of(stats) == expected and stats.job_id == job_id
    stop_cleanly(survivor)
