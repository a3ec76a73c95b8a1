"""Export snapshots: queued with validated parameters, immutable bytes, hash and manifest."""

from __future__ import annotations

import hashlib
import io

import polars as pl
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Job, Snapshot
from app.domain.demo import DEMO_SLUG
from app.domain.outbox import run_job
from app.domain.people import get_user_by_email
from app.jobs.actors import HANDLERS
from tests.api.test_export_api import LEAD, given_the_demo
from tests.api.test_specs_api import wait_for_job
from tests.apps import make_token
from tests.factories import make_project

URL = f"/api/v1/projects/{DEMO_SLUG}/snapshots"


def test_a_snapshot_is_hashed_described_and_identical_every_time(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = given_the_demo(app)
    created = client.post(URL, json={"format": "parquet", "include_stale": False}, headers=lead)
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["snapshot"]["status"] == "pending"
    job = wait_for_job(client, body["job"]["id"], lead)
    assert job["status"] == "done", job
    snapshot = client.get(f"/api/v1/snapshots/{body['snapshot']['id']}", headers=lead).json()
    assert snapshot["status"] == "ready"
    manifest = snapshot["manifest"]
    assert manifest["parameters"]["consensus"] == "adjudicated_then_majority"
    assert manifest["k"] == 3 and manifest["current_spec_version"] == 1
    assert {t["key"] for t in manifest["agreement"]["tags"]} >= {"sarcasm", "negation"}
    assert manifest["accord_version"] and manifest["annotators"]["n"] == 6
    url = f"/api/v1/snapshots/{snapshot['id']}/download"
    first, second = client.get(url, headers=lead), client.get(url, headers=lead)
    assert first.status_code == 200 and first.content == second.content
    digest = hashlib.sha256(first.content).hexdigest()
    assert digest == snapshot["sha256"] == manifest["sha256"] == first.headers["x-accord-sha256"]
    frame = pl.read_parquet(io.BytesIO(first.content))
    assert frame.height == snapshot["n_rows"] == manifest["n_rows"] > 100
    listed = client.get(URL, headers=lead).json()["snapshots"]
    assert [s["id"] for s in listed] == [snapshot["id"]]


def test_bad_parameters_queue_nothing_and_tokens_stay_in_their_project(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = given_the_demo(app)
    refused = client.post(URL, json={"format": "xlsx", "tags": ["nope"]}, headers=lead)
    assert refused.status_code == 422
    assert set(refused.json()["error"]["details"]["fields"]) == {"format", "tags"}
    with session_scope(make_session_factory(app.state.engine)) as s:
        assert s.scalar(select(func.count()).select_from(Snapshot)) == 0
    created = client.post(URL, json={"format": "jsonl"}, headers=lead).json()
    wait_for_job(client, created["job"]["id"], lead)
    snapshot_id = created["snapshot"]["id"]
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        other = make_project(s, actor=get_user_by_email(s, LEAD)).slug
    scoped = make_token(app, LEAD, project_slugs=[other])
    assert client.get(f"/api/v1/snapshots/{snapshot_id}", headers=scoped).status_code == 404
    download = f"/api/v1/snapshots/{snapshot_id}/download"
    assert client.get(download, headers=scoped).status_code == 404
    assert client.get("/api/v1/snapshots/999999", headers=lead).status_code == 404


def test_a_second_delivery_of_the_job_changes_nothing(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = given_the_demo(app)
    created = client.post(URL, json={"format": "csv"}, headers=lead).json()
    wait_for_job(client, created["job"]["id"], lead)
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        snapshot = s.get(Snapshot, created["snapshot"]["id"])
        job = s.get(Job, created["job"]["id"])
        assert snapshot is not None and job is not None
        before = (snapshot.sha256, snapshot.content)
        assert HANDLERS["create_snapshot"](s, job)["sha256"] == before[0]
        assert (snapshot.sha256, snapshot.content) == before
        assert run_job(s, job.id, HANDLERS).status == "done"
