"""A re-label campaign survives ``kill -9`` of its worker: real worker processes on Redis and
RabbitMQ, killed at a different point of the campaign for each seed, then replaced.

Exactly once means: one campaign, one row per (campaign, item), every affected item moved into
the next labeling round exactly once (a second application would move it twice), and its k
slots in that round free, so the database's (item, round, slot) uniqueness hands out exactly k
re-label assignments.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.engine import session_scope
from app.db.models import Annotation, Assignment, Item, ItemTag, RelabelCampaign, RelabelItem, Tag
from app.domain.bulk_insert import bulk_insert
from app.domain.projects import add_member, current_spec
from app.domain.specs import publish_spec
from app.jobs.worker import JobSystem
from tests.factories import draft_with, make_project, make_user
from tests.jobs.test_worker import (
    DEADLINE_SECONDS,
    read_job,
    settings_for,
    stop_cleanly,
    wait_for,
    wait_for_done,
    worker_log,
)

N_ITEMS = 2500
# The campaign's set-based statements all read relabel_items: stall after the seed's one, with
# the transaction open, so the kill lands at a different point for each seed.
STALLING_CAMPAIGN_WORKER = """
import os, threading
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.engine import Engine
from app.jobs.worker import run_worker_forever
from app.settings import Settings

seen = []

@event.listens_for(Engine, "after_cursor_execute")
def stall_mid_campaign(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("UPDATE") and "relabel_items" in statement:
        seen.append(statement)
        if len(seen) == int(os.environ["ACCORD_TEST_STALL_AT"]):
            Path(os.environ["ACCORD_TEST_STALL_MARKER"]).write_text(str(len(seen)))
            threading.Event().wait()

run_worker_forever(Settings.from_env())
"""


def published_change_to_labeled_items(factory: sessionmaker[Session]) -> tuple[int, str]:
    """N_ITEMS sarcasm items, each labeled once under v1; v2 rewrites the sarcasm rule."""
    with session_scope(factory) as db:
        lead = make_user(db, role="lead")
        annotator = make_user(db)
        project = make_project(db, actor=lead, overlap=3)
        add_member(db, project, annotator, actor_id=lead.id)
        v1 = current_spec(db, project)
        tag_id = db.scalar(select(Tag.id).where(Tag.project_id == project.id))
        texts = [f"campaign item {n}" for n in range(N_ITEMS)]
        now = utcnow()
        bulk_insert(
            db,
            Item,
            [
                {
                    "project_id": project.id,
                    "external_id": f"c-{n}",
                    "text": text,
                    "text_hash": hashlib.sha256(text.encode()).hexdigest(),
                    "split": "train",
                    "metadata": {},
                    "priority": 0,
                    "label_round": 1,
                    "is_full": False,
                    "created_at": now,
                }
                for n, text in enumerate(texts)
            ],
        )
        ids = db.scalars(select(Item.id).where(Item.project_id == project.id)).all()
        bulk_insert(
            db,
            ItemTag,
            [{"item_id": i, "tag_id": tag_id, "source": "import", "added_at": now} for i in ids],
        )
        bulk_insert(
            db,
            Annotation,
            [
                {
                    "project_id": project.id,
                    "item_id": i,
                    "user_id": annotator.id,
                    "spec_version_id": v1.id,
                    "label_round": 1,
                    "value": "positive",
                    "duration_ms": 4000,
                    "unclear": False,
                    "comment": "",
                    "source": "import",
                    "created_at": now,
                }
                for i in ids
            ],
        )
        draft = draft_with(db, project, lead, rules=[{"tag": "sarcasm", "text": "Literal."}])
        _, job = publish_spec(db, project, draft.number, actor=lead)
        return project.id, job.id


def assert_applied_exactly_once(factory: sessionmaker[Session], project_id: int) -> None:
    with session_scope(factory) as db:
        campaigns = db.scalars(select(RelabelCampaign)).all()
        assert len(campaigns) == 1 and campaigns[0].n_items == N_ITEMS
        rows = db.execute(
            select(func.count(), func.count(func.distinct(RelabelItem.item_id))).where(
                RelabelItem.campaign_id == campaigns[0].id
            )
        ).one()
        assert tuple(rows) == (N_ITEMS, N_ITEMS)
        rounds = db.execute(
            select(Item.label_round, Item.priority, func.count())
            .where(Item.project_id == project_id)
            .group_by(Item.label_round, Item.priority)
        ).all()
        assert [tuple(r) for r in rounds] == [(2, 200, N_ITEMS)]
        stale = db.scalar(
            select(func.count()).where(
                Annotation.project_id == project_id, Annotation.label_round == 1
            )
        )
        assert stale == N_ITEMS
        in_new_round = db.scalar(
            select(func.count()).where(
                Assignment.project_id == project_id, Assignment.label_round == 2
            )
        )
        assert in_new_round == 0  # all k slots of every item are free for re-labeling


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_killing_the_worker_mid_campaign_applies_it_exactly_once(
    seed: int,
    database_url: str,
    broker_url: str,
    factory: sessionmaker[Session],
    tmp_path: Path,
    spawn_worker: Callable[..., subprocess.Popen[bytes]],
    job_systems: list[JobSystem],
) -> None:
    # Given a published change affecting thousands of labeled items
    project_id, job_id = published_change_to_labeled_items(factory)
    marker = tmp_path / "stalled"
    doomed = spawn_worker(
        STALLING_CAMPAIGN_WORKER,
        ACCORD_TEST_STALL_MARKER=str(marker),
        ACCORD_TEST_STALL_AT=str(seed),
    )
    web = JobSystem(
        settings_for(database_url, broker_url),
        factory,
        run_worker=False,
        redeliver_after=timedelta(seconds=1),
    )
    job_systems.append(web)
    web.relay_now()
    # When the worker is killed outright in the middle of the campaign (statement ``seed``)
    wait_for(marker.exists, "the worker to stall", on_timeout=lambda: worker_log(doomed))
    assert int(marker.read_text()) == seed
    assert read_job(factory, job_id).status == "queued"
    doomed.kill()
    doomed.wait(timeout=DEADLINE_SECONDS)
    with session_scope(factory) as db:
        assert db.scalar(select(func.count()).select_from(RelabelCampaign)) == 0
    # Then a fresh worker applies the whole campaign, exactly once
    survivor = spawn_worker()
    job = wait_for_done(factory, job_id, web, survivor)
    assert job.attempts == 1 and job.result is not None and job.result["n_items"] == N_ITEMS
    assert_applied_exactly_once(factory, project_id)
    stop_cleanly(survivor)


def test_a_broker_outage_during_publish_loses_no_campaign(
    database_url: str,
    broker_url: str,
    factory: sessionmaker[Session],
    spawn_worker: Callable[..., subprocess.Popen[bytes]],
    job_systems: list[JobSystem],
) -> None:
    # Given a publish committed while the broker is down: the web process cannot send the job
    project_id, job_id = published_change_to_labeled_items(factory)
    down = JobSystem(settings_for(database_url, "redis://127.0.0.1:1/0"), factory, run_worker=False)
    job_systems.append(down)
    down.relay_now()
    job = read_job(factory, job_id)
    assert (job.status, job.sent_at) == ("queued", None)
    # When the broker is back (a relay that reaches it) and a worker runs
    worker = spawn_worker()
    web = JobSystem(settings_for(database_url, broker_url), factory, run_worker=False)
    job_systems.append(web)
    # Then the campaign is created, once
    job = wait_for_done(factory, job_id, web, worker)
    assert job.attempts == 1
    assert_applied_exactly_once(factory, project_id)
    stop_cleanly(worker)
