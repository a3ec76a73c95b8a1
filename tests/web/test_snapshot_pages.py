"""Snapshots in the browser: a lead takes one, watches it finish, reads its manifest and
downloads the same bytes as the API; annotators are kept out."""

from __future__ import annotations

import hashlib

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Job, Snapshot
from app.domain.demo import DEMO_SLUG
from app.domain.outbox import run_job
from app.jobs.actors import HANDLERS
from tests.api.test_export_api import LEAD, given_the_demo
from tests.apps import commit_user, login, post_form

BASE = f"/projects/{DEMO_SLUG}/snapshots"


def test_a_lead_takes_a_snapshot_and_downloads_it(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_the_demo(app)
    login(client, LEAD)
    page = client.get(f"{BASE}/")
    assert page.status_code == 200 and "No snapshot yet." in page.text
    taken = post_form(client, f"{BASE}/", {"format": "csv", "split": "train"})
    assert taken.status_code == 303
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        snapshot = s.scalars(select(Snapshot)).one()
        job = s.scalars(select(Job).where(Job.kind == "create_snapshot")).one()
        if snapshot.status == "pending":
            assert 'hx-trigger="every 2s"' in client.get(f"{BASE}/").text
        run_job(s, job.id, HANDLERS)  # unless the embedded worker already did
        s.refresh(snapshot)
        snapshot_id, digest = snapshot.id, snapshot.sha256
    listing = client.get(f"{BASE}/", headers={"HX-Request": "true"})
    assert listing.text.lstrip().startswith('<div id="snapshots"')
    assert digest is not None and digest in listing.text and "every 2s" not in listing.text
    download = client.get(f"{BASE}/{snapshot_id}/download")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == digest


def test_annotators_and_bad_parameters(app: Litestar, client: TestClient[Litestar]) -> None:
    given_the_demo(app)
    commit_user(app, email="ann@example.test")
    login(client, "ann@example.test")
    assert client.get(f"{BASE}/").status_code == 403
    client.cookies.clear()
    login(client, LEAD)
    refused = post_form(client, f"{BASE}/", {"format": "docx"})
    assert refused.status_code == 422 and "format" in refused.text
