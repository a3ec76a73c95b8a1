"""The outbox domain and the recount job, on SQLite and PostgreSQL.

Enqueueing writes a row in the caller's transaction and debounces by key; running a job twice
runs its handler once; a job that always fails gives up after ``max_attempts`` with the error
visible; a recount gives the right figures on hand-built data.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.engine import begin_immediate, make_session_factory, session_scope
from app.db.models import (
    Annotation,
    Assignment,
    Item,
    Job,
    Project,
    ProjectStats,
    SpecVersion,
    User,
)
from app.domain.errors import InvalidInput, NotFound
from app.domain.outbox import (
    JOB_KINDS,
    enqueue_job,
    get_job,
    job_as_dict,
    list_jobs,
    mark_all_unsent,
    mark_sent,
    pending_to_send,
    record_failure,
    run_job,
    set_progress,
)
from app.domain.stats import COUNT_FIELDS, recount_project
from app.jobs.actors import HANDLERS
from tests.factories import make_project, make_user

RECOUNT = "recount_project"
TEN_MINUTES = timedelta(minutes=10)


# --- hand-built data -------------------------------------------------------------------------


def add_item(session: Session, project: Project, external_id: str) -> Item:
    """An item inserted directly, without the import path."""
    text = f"text of {external_id}"
    item = Item(
        project_id=project.id,
        external_id=external_id,
        text=text,
        text_hash=hashlib.sha256(text.encode()).hexdigest(),
    )
    session.add(item)
    session.flush()
    return item


def annotate(
    session: Session,
    item: Item,
    user: User,
    spec: SpecVersion,
    *,
    retracted: bool = False,
    label_round: int | None = None,
) -> Annotation:
    """A submitted annotation (in the item's current round unless told), maybe retracted."""
    annotation = Annotation(
        project_id=item.project_id,
        item_id=item.id,
        user_id=user.id,
        spec_version_id=spec.id,
        label_round=label_round or item.label_round,
        value="positive",
        source="api",
        retracted_at=utcnow() if retracted else None,
    )
    session.add(annotation)
    session.flush()
    return annotation


def lease(
    session: Session,
    item: Item,
    user: User,
    spec: SpecVersion,
    *,
    expires_in: timedelta,
    state: str = "leased",
) -> Assignment:
    """An assignment of the item to the user whose lease ends ``expires_in`` from now."""
    assignment = Assignment(
        project_id=item.project_id,
        item_id=item.id,
        user_id=user.id,
        spec_version_id=spec.id,
        state=state,
        slot=1,
        lease_expires_at=utcnow() + expires_in,
    )
    session.add(assignment)
    session.flush()
    return assignment


def current_spec(session: Session, project: Project) -> SpecVersion:
    """The project's current spec version."""
    return session.scalars(
        select(SpecVersion).where(
            SpecVersion.project_id == project.id, SpecVersion.is_current.is_(True)
        )
    ).one()


def make_labelled_project(session: Session) -> tuple[Project, dict[str, int]]:
    """A k=2 project whose spec moved on to v2, with the figures a recount must find.

    i1: a, b under v2 (complete)          i2: a under v2, b's retracted (not complete)
    i3: a, b under v1, then sent back for re-labeling (not complete)  i4: a, b, c under v2
    (complete)
    Leases: a on i2 (active), b on i3 (expired), c on i4 (submitted). Another project's item,
    annotation and lease must not be counted.
    """
    lead = make_user(session, role="lead")
    project = make_project(session, actor=lead, overlap=2)
    a, b, c = (make_user(session) for _ in range(3))
    v1 = current_spec(session, project)
    v1.is_current = False
    session.flush()
    v2 = SpecVersion(
        project_id=project.id, number=2, status="published", is_current=True, published_at=utcnow()
    )
    session.add(v2)
    session.flush()
    i1, i2, i3, i4 = (add_item(session, project, f"i{n}") for n in range(1, 5))
    for item, people in ((i1, (a, b)), (i2, (a,)), (i4, (a, b, c))):
        for person in people:
            annotate(session, item, person, v2)
    annotate(session, i2, b, v2, retracted=True)
    i3.label_round = 2
    annotate(session, i3, a, v1, label_round=1)
    annotate(session, i3, b, v1, label_round=1)
    lease(session, i2, a, v2, expires_in=TEN_MINUTES)
    lease(session, i3, b, v2, expires_in=-TEN_MINUTES)
    lease(session, i4, c, v2, expires_in=TEN_MINUTES, state="submitted")

    other = make_project(session, actor=lead, overlap=1)
    other_item = add_item(session, other, "elsewhere")
    annotate(session, other_item, c, current_spec(session, other))
    lease(session, other_item, a, current_spec(session, other), expires_in=TEN_MINUTES)
    expected = {
        "n_items": 4,
        "n_items_complete": 2,
        "n_annotations": 8,
        "n_annotators": 3,
        "n_active_leases": 1,
    }
    return project, expected


def enqueue_recount(session: Session, project: Project, **options: Any) -> Job:
    """Queue a recount of the project the way the web layer does."""
    return enqueue_job(
        session,
        RECOUNT,
        {"project_id": project.id},
        project_id=project.id,
        dedupe_key=f"recount_project:{project.id}",
        **options,
    )


def counts_of(stats: ProjectStats) -> dict[str, int]:
    """The figures of a project_stats row."""
    return {name: getattr(stats, name) for name in COUNT_FIELDS}


# --- enqueueing ------------------------------------------------------------------------------


def test_enqueue_writes_a_queued_row_that_reads_back_as_json(session: Session) -> None:
    project = make_project(session)
    job = enqueue_recount(session, project)
    assert get_job(session, job.id) is job
    data = job_as_dict(job)
    assert set(data) == {
        "id",
        "kind",
        "status",
        "progress",
        "error",
        "result",
        "created_at",
        "finished_at",
    }
    assert data["kind"] == RECOUNT
    assert (data["status"], data["progress"], data["error"], data["result"]) == (
        "queued",
        0.0,
        "",
        None,
    )
    assert data["finished_at"] is None
    assert data["created_at"] == job.created_at.isoformat()
    with pytest.raises(NotFound):
        get_job(session, "00000000-0000-0000-0000-000000000000")


def test_enqueue_is_debounced_while_a_job_with_the_same_key_is_pending(session: Session) -> None:
    project = make_project(session)
    first = enqueue_recount(session, project)
    assert enqueue_recount(session, project).id == first.id
    assert session.scalar(select(func.count()).select_from(Job)) == 1

    run_job(session, first.id, HANDLERS)
    later = enqueue_recount(session, project)
    assert later.id != first.id
    assert later.status == "queued"


def test_racing_enqueues_of_one_key_leave_one_pending_job(engine: Engine) -> None:
    # Given one transaction has enqueued a recount but not yet committed
    factory = make_session_factory(engine)
    with session_scope(factory) as db:
        project = make_project(db)
    first = factory()
    job = enqueue_recount(first, project)
    found: list[str] = []

    def second_enqueuer() -> None:
        with session_scope(factory) as db:
            begin_immediate(db)  # SQLite: waits for the first writer; PostgreSQL: no-op
            found.append(enqueue_recount(db, project).id)

    # When a second one enqueues the same key meanwhile
    racer = threading.Thread(target=second_enqueuer)
    racer.start()
    if engine.dialect.name == "postgresql":
        # Commit only once the second insert waits on the first's unique key, so the race
        # really reaches the database's unique index.
        wait_until_a_query_waits_on_a_lock(engine)
    first.commit()
    first.close()
    racer.join(timeout=60)

    # Then both got the same job and only one is pending
    assert found == [job.id]
    with session_scope(factory) as db:
        assert db.scalar(select(func.count()).select_from(Job)) == 1


def wait_until_a_query_waits_on_a_lock(engine: Engine) -> None:
    """Poll pg_stat_activity (with a deadline) until some backend waits on a lock."""
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.02)
    pytest.fail("the second enqueue never waited on the first one's row")


def test_unknown_kinds_and_bad_payloads_are_refused_and_write_nothing(session: Session) -> None:
    with pytest.raises(InvalidInput) as unknown:
        enqueue_job(session, "launch_rockets", {})
    assert "kind" in unknown.value.field_errors
    for payload in ({}, {"project_id": "7"}, {"project_id": True}, {"project_id": 1, "x": 2}):
        with pytest.raises(InvalidInput) as bad:
            enqueue_job(session, RECOUNT, payload)
        assert any(name.startswith("payload.") for name in bad.value.field_errors)
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_every_job_kind_has_a_handler() -> None:
    assert set(HANDLERS) == set(JOB_KINDS)


# --- relaying --------------------------------------------------------------------------------


def test_relay_picks_unsent_jobs_and_jobs_sent_long_ago_that_never_ran(session: Session) -> None:
    job = enqueue_recount(session, make_project(session))
    assert [j.id for j in pending_to_send(session, redeliver_after=TEN_MINUTES)] == [job.id]

    mark_sent(session, [job.id])
    session.refresh(job)
    assert job.sent_at is not None
    assert pending_to_send(session, redeliver_after=TEN_MINUTES) == []

    job.sent_at = utcnow() - timedelta(hours=1)  # the message was lost somewhere
    session.flush()
    assert [j.id for j in pending_to_send(session, redeliver_after=TEN_MINUTES)] == [job.id]

    run_job(session, job.id, HANDLERS)
    assert pending_to_send(session, redeliver_after=timedelta(0)) == []


def test_forgetting_sent_marks_makes_queued_jobs_go_out_again(session: Session) -> None:
    job = enqueue_recount(session, make_project(session))
    mark_sent(session, [job.id])
    assert pending_to_send(session, redeliver_after=TEN_MINUTES) == []
    assert mark_all_unsent(session) == 1
    assert [j.id for j in pending_to_send(session, redeliver_after=TEN_MINUTES)] == [job.id]


# --- running ---------------------------------------------------------------------------------


def test_running_a_job_twice_runs_its_handler_once(session: Session) -> None:
    job = enqueue_recount(session, make_project(session))
    calls: list[str] = []

    def handler(db: Session, running: Job) -> dict[str, Any]:
        calls.append(running.id)
        assert running.status == "running"
        return {"answer": 42}

    run_job(session, job.id, {RECOUNT: handler})
    run_job(session, job.id, {RECOUNT: handler})
    assert calls == [job.id]
    assert (job.status, job.result, job.progress, job.attempts) == ("done", {"answer": 42}, 1.0, 1)
    assert job.started_at is not None and job.finished_at is not None


def test_progress_is_recorded_while_running_and_ends_at_one(session: Session) -> None:
    job = enqueue_recount(session, make_project(session))
    seen: list[float] = []

    def handler(db: Session, running: Job) -> dict[str, Any]:
        set_progress(db, running, 0.25)
        seen.append(db.scalars(select(Job.progress).where(Job.id == running.id)).one())
        set_progress(db, running, 7)  # clamped: progress is advisory, never a reason to fail
        seen.append(running.progress)
        return {}

    run_job(session, job.id, {RECOUNT: handler})
    assert seen == [0.25, 1.0]
    assert job_as_dict(job)["progress"] == 1.0


def deliver(factory: sessionmaker[Session], job_id: str, handler: Any) -> Job:
    """One delivery as the actor makes it: the whole attempt in one write transaction."""
    with session_scope(factory) as db:
        begin_immediate(db)
        return run_job(db, job_id, {RECOUNT: handler})


def test_a_poison_job_fails_after_max_attempts_with_its_error_visible(engine: Engine) -> None:
    # Given a recount job allowed three attempts and a handler that writes, then always fails
    factory = make_session_factory(engine)
    with session_scope(factory) as db:
        project = make_project(db)
        job_id = enqueue_recount(db, project, max_attempts=3).id
    calls = 0

    def explode(db: Session, job: Job) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        recount_project(db, project.id, job_id=job.id)
        raise RuntimeError("disk on fire")

    # When it is delivered once, the failure is visible and the job waits for a retry
    first = deliver(factory, job_id, explode)
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.error == "RuntimeError: disk on fire"
    with session_scope(factory) as db:  # and another session sees it
        assert get_job(db, job_id).error == "RuntimeError: disk on fire"

    # And after the third failure it gives up, naming the last error
    deliver(factory, job_id, explode)
    last = deliver(factory, job_id, explode)
    assert (last.status, last.attempts) == ("failed", 3)
    assert last.error == "gave up after 3 attempts: RuntimeError: disk on fire"
    assert last.finished_at is not None

    # Then later deliveries do nothing, and no failed attempt left figures behind
    assert deliver(factory, job_id, explode).status == "failed"
    assert calls == 3
    with session_scope(factory) as db:
        assert db.get(ProjectStats, project.id) is None


def test_a_failure_that_broke_the_transaction_is_counted_by_record_failure(
    session: Session,
) -> None:
    job = enqueue_recount(session, make_project(session), max_attempts=2)
    record_failure(session, job.id, "OperationalError: server closed the connection")
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.error == "OperationalError: server closed the connection"
    record_failure(session, job.id, "TimeLimitExceeded: too slow")
    assert job.status == "failed"
    assert job.error == "gave up after 2 attempts: TimeLimitExceeded: too slow"


def test_a_worker_without_a_handler_for_the_kind_leaves_the_job_for_another(
    session: Session,
) -> None:
    job = enqueue_recount(session, make_project(session))
    run_job(session, job.id, {})
    assert (job.status, job.attempts) == ("queued", 1)
    assert "no handler for 'recount_project'" in job.error


def test_a_job_out_of_attempts_is_failed_without_running(session: Session) -> None:
    job = enqueue_recount(session, make_project(session), max_attempts=2)
    job.attempts, job.error = 2, "TimeoutError: upstream"
    session.flush()

    def must_not_run(db: Session, running: Job) -> dict[str, Any]:
        raise AssertionError("ran a job that had no attempts left")

    run_job(session, job.id, {RECOUNT: must_not_run})
    assert job.status == "failed"
    assert job.error == "gave up after 2 attempts: TimeoutError: upstream"


def test_a_failure_reported_after_success_changes_nothing(session: Session) -> None:
    job = enqueue_recount(session, make_project(session))
    run_job(session, job.id, HANDLERS)
    record_failure(session, job.id, "RuntimeError: late duplicate")
    assert (job.status, job.error, job.attempts) == ("done", "", 1)


def test_the_jobs_page_lists_newest_first_and_filters_by_status(session: Session) -> None:
    project = make_project(session)
    old = enqueue_job(session, RECOUNT, {"project_id": project.id})
    new = enqueue_job(session, RECOUNT, {"project_id": project.id})
    old.created_at = utcnow() - timedelta(minutes=5)
    session.flush()
    run_job(session, old.id, HANDLERS)
    assert [j.id for j in list_jobs(session)] == [new.id, old.id]
    assert [j.id for j in list_jobs(session, status="done")] == [old.id]
    assert [j.id for j in list_jobs(session, limit=1)] == [new.id]
    with pytest.raises(InvalidInput):
        list_jobs(session, status="exploded")


# --- recount ---------------------------------------------------------------------------------


def test_recount_finds_items_completion_annotations_annotators_and_leases(
    session: Session,
) -> None:
    project, expected = make_labelled_project(session)
    assert counts_of(recount_project(session, project.id)) == expected
    with pytest.raises(NotFound):
        recount_project(session, project.id + 1000)


def test_recount_is_idempotent_and_follows_changes(session: Session) -> None:
    project, expected = make_labelled_project(session)
    first = recount_project(session, project.id)
    again = recount_project(session, project.id, job_id="job-2")
    assert counts_of(again) == expected
    assert again.job_id == "job-2" and again.computed_at >= first.computed_at
    assert session.scalar(select(func.count()).select_from(ProjectStats)) == 1

    # When an annotation on a complete item is retracted, the item is no longer complete
    i1 = session.scalars(select(Item).where(Item.external_id == "i1")).one()
    retracted = session.scalars(select(Annotation).where(Annotation.item_id == i1.id)).first()
    assert retracted is not None
    retracted.retracted_at = utcnow()
    session.flush()
    after = counts_of(recount_project(session, project.id))
    assert after == {**expected, "n_items_complete": 1, "n_annotations": 7}


def test_the_recount_job_stores_figures_and_returns_them_as_its_result(session: Session) -> None:
    project, expected = make_labelled_project(session)
    job = enqueue_recount(session, project)
    run_job(session, job.id, HANDLERS)
    assert job.result == {"project_id": project.id, **expected}
    stats = session.get(ProjectStats, project.id)
    assert stats is not None and stats.job_id == job.id
