"""The impact panel, the re-label campaign page and the acknowledgement page in the browser."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Job
from app.domain.outbox import run_job
from app.domain.people import get_user_by_email
from app.domain.projects import get_project
from app.domain.specs import publish_spec
from app.jobs.actors import HANDLERS
from tests.api.test_campaigns_api import given_a_labeled_project
from tests.apps import login, post_form
from tests.factories import draft_with

NEW_RULE = "Label the *literal* words. <script>alert(1)</script>"


def draft_v2(app: Litestar, slug: str, lead_email: str) -> None:
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        lead = get_user_by_email(s, lead_email)
        project = get_project(s, slug)
        rules = [{"tag": "sarcasm", "text": NEW_RULE}]
        draft_with(s, project, lead, rules=rules, changelog="Sarcasm: literal.")


def publish_v2(app: Litestar, slug: str, lead_email: str, *, run: bool = True) -> None:
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        _, job = publish_spec(s, get_project(s, slug), 2, actor=get_user_by_email(s, lead_email))
        if run:
            run_job(s, job.id, HANDLERS)


def test_the_draft_page_loads_the_impact_panel_and_the_publish_page_shows_it(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, lead, _ = given_a_labeled_project(app)
    draft_v2(app, slug, lead)
    login(client, lead)
    page = client.get(f"/projects/{slug}/specs/2/edit")
    assert f'hx-get="/projects/{slug}/specs/2/impact"' in page.text
    panel = client.get(f"/projects/{slug}/specs/2/impact", headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert "<html" not in panel.text and "3 items</strong> go back" in panel.text
    assert "6 re-label assignments" in panel.text and "annotator-hours" in panel.text
    full = client.get(f"/projects/{slug}/specs/2/impact")
    assert "<html" in full.text and "Impact of spec v2" in full.text
    confirm = client.get(f"/projects/{slug}/specs/2/publish")
    assert "3 items</strong> go back" in confirm.text and "rule:sarcasm" in confirm.text


def test_the_campaign_page_polls_until_done_and_compares_before_and_after(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, lead, _ = given_a_labeled_project(app)
    draft_v2(app, slug, lead)
    publish_v2(app, slug, lead, run=False)
    login(client, lead)
    waiting = client.get(f"/projects/{slug}/campaigns/2")
    assert "Creating the campaign" in waiting.text and 'hx-trigger="every 3s"' in waiting.text
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        job = s.scalars(select(Job).where(Job.kind == "spec_published")).one()
        run_job(s, job.id, HANDLERS)
    page = client.get(f"/projects/{slug}/campaigns/2")
    assert "0 of 6 re-label assignments submitted" in page.text
    assert "Did the spec fix work?" in page.text and ">sarcasm</th>" in page.text
    assert 'hx-trigger="every 3s"' in page.text
    fragment = client.get(f"/projects/{slug}/campaigns/2", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="campaign"')
    listing = client.get(f"/projects/{slug}/campaigns/")
    assert f'href="/projects/{slug}/campaigns/2"' in listing.text


def test_annotators_see_the_changed_rule_first_and_no_campaign_pages(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, lead, annotators = given_a_labeled_project(app)
    draft_v2(app, slug, lead)
    publish_v2(app, slug, lead)
    login(client, annotators[0])
    page = client.get(f"/projects/{slug}/work")
    text = page.text
    assert "Spec v2 changed the rules" in text
    assert text.index("now says") < text.index("Changelog")
    assert "<em>literal</em>" in text and "<script>alert(1)</script>" not in text
    for url in (f"/projects/{slug}/campaigns/2", f"/projects/{slug}/specs/2/impact"):
        assert client.get(url).status_code == 403, url
    acknowledged = post_form(client, f"/projects/{slug}/work/acknowledge/2")
    assert acknowledged.status_code in (200, 303)
