"""Hotspots in the browser and the API: scan, list, evidence, triage, "Draft a spec fix"."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Hotspot, SpecVersion
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.hotspots import scan_hotspots
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from tests.api.test_specs_api import wait_for_job
from tests.apps import commit_user, login, make_token, post_form

BASE = f"/projects/{DEMO_SLUG}/hotspots"
API = f"/api/v1/projects/{DEMO_SLUG}/hotspots"


def given_the_demo(app: Litestar, *, scanned: bool = True) -> None:
    """The demo, a lead lee@ and an annotator ann@ on it, optionally already scanned."""
    commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test")
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        load_demo(s)
        project = get_project(s, DEMO_SLUG)
        for email in ("lee@example.test", "ann@example.test"):
            add_member(s, project, get_user_by_email(s, email), actor_id=None)
        if scanned:
            scan_hotspots(s, project, resamples=200)


def sarcasm_id(app: Litestar) -> int:
    with session_scope(make_session_factory(app.state.engine)) as s:
        found = s.scalar(select(Hotspot.id).where(Hotspot.key == "tag:sarcasm"))
        assert found is not None
        return found


def test_the_api_scans_lists_and_triages(app: Litestar, client: TestClient[Litestar]) -> None:
    given_the_demo(app, scanned=False)
    lead = make_token(app, "lee@example.test")
    assert client.get(API, headers=lead).json() == {"hotspots": []}
    queued = client.post(f"{API}/scan", headers=lead)
    assert queued.status_code == 202
    job = wait_for_job(client, queued.json()["job"]["id"], lead)
    assert job["status"] == "done", job
    hotspots = client.get(API, headers=lead).json()["hotspots"]
    assert [(h["tag"], h["annotator"], h["verdict"]) for h in hotspots] == [
        ("sarcasm", None, "spec_ambiguity"),
        (None, "farid", "annotator_noise"),
    ]
    sarcasm = hotspots[0]
    assert sarcasm["status"] == "open" and sarcasm["ci"]["high"] < 0.667
    assert set(sarcasm) >= {"id", "tag", "labels", "verdict", "alpha", "ci", "n_items", "status"}
    assert sarcasm["evidence"]["rule"] and sarcasm["evidence"]["association"]["p_value"] < 0.01
    # Triage: a dismissal needs a reason; the answer is the updated hotspot
    url = f"{API}/{sarcasm['id']}"
    refused = client.patch(url, json={"status": "dismissed"}, headers=lead)
    assert refused.status_code == 422 and "reason" in refused.text
    done = client.patch(url, json={"status": "acknowledged"}, headers=lead)
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    # Annotators never see hotspots; other projects' tokens never find them
    annotator = make_token(app, "ann@example.test")
    assert client.get(API, headers=annotator).status_code == 403
    assert client.post(f"{API}/scan", headers=annotator).status_code == 403
    commit_user(app, email="out@example.test", role="lead")
    assert client.get(API, headers=make_token(app, "out@example.test")).status_code == 404


def test_a_lead_reads_the_evidence_and_drafts_a_fix(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_the_demo(app)
    login(client, "lee@example.test")
    listing = client.get(f"{BASE}/")
    assert listing.status_code == 200
    assert "spec ambiguity" in listing.text and "annotator farid" in listing.text
    hotspot = sarcasm_id(app)
    page = client.get(f"{BASE}/{hotspot}")
    text = page.text
    assert "Who gives which label inside the tag" in text and "Cramér" in text
    assert "The rule in force (v1)" in text and "“Unclear spec” flags" in text
    assert "Draft a spec fix" in text
    # Dismissing without a reason is refused with the field named
    refused = post_form(client, f"{BASE}/{hotspot}/status", {"status": "dismissed"})
    assert refused.status_code == 422 and "reason" in refused.text
    # Draft a spec fix: a new draft, its form with the sarcasm rule in focus
    drafted = post_form(client, f"{BASE}/{hotspot}/draft-fix")
    assert drafted.status_code == 303
    edit = f"/projects/{DEMO_SLUG}/specs/2/edit?focus=sarcasm"
    assert drafted.headers["location"] == edit
    form = client.get(drafted.headers["location"])
    assert 'id="rule-sarcasm"' in form.text and "autofocus" in form.text
    with session_scope(make_session_factory(app.state.engine)) as s:
        draft = s.scalar(select(SpecVersion).where(SpecVersion.number == 2))
        assert draft is not None and draft.status == "draft"
        assert draft.changelog == "Clarify the rule for sarcasm."
    # The agreement dashboard links the hotspots
    dashboard = client.get(f"/projects/{DEMO_SLUG}/agreement/")
    assert f'href="{BASE}/{hotspot}"' in dashboard.text


def test_scan_now_polls_until_the_scan_is_done_and_annotators_are_kept_out(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    given_the_demo(app, scanned=False)
    login(client, "ann@example.test")
    assert client.get(f"{BASE}/").status_code == 403
    assert post_form(client, f"{BASE}/scan").status_code == 403
    client.cookies.clear()
    login(client, "lee@example.test")
    started = post_form(client, f"{BASE}/scan", htmx=True)
    assert started.headers.get("HX-Redirect") == f"{BASE}/"
    page = client.get(f"{BASE}/")
    assert "No hotspot" in page.text or 'hx-trigger="every 2s"' in page.text
