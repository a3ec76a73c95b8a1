"""Impact previews and re-label campaigns through /api/v1, and the annotator's side of them."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from app.db.engine import make_session_factory, session_scope
from tests.api.test_specs_api import wait_for_job
from tests.apps import commit_user, make_token
from tests.domain.test_campaigns import labeled_project

NEW_RULE = {"tag": "sarcasm", "text": "Label the literal words."}


def given_a_labeled_project(app: Litestar) -> tuple[str, str, list[str]]:
    """The domain tests' project (3 labeled sarcasm items, k=2): slug, lead and annotators."""
    factory = make_session_factory(app.state.engine, immediate=True)
    with session_scope(factory, immediate=True) as session:
        project, lead, people, _ = labeled_project(session)
        return project.slug, lead.email, [p.email for p in people]


def test_a_lead_previews_publishes_and_follows_the_campaign(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, lead_email, annotators = given_a_labeled_project(app)
    lead = make_token(app, lead_email)
    base = f"/api/v1/projects/{slug}"
    draft = client.post(f"{base}/specs", json={"rules": [NEW_RULE]}, headers=lead)
    assert draft.status_code == 201, draft.text

    # The preview names the changed rule, the items, the assignments and the cost
    impact = client.get(f"{base}/specs/2/impact", headers=lead)
    assert impact.status_code == 200, impact.text
    body = impact.json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    assert body["rules_changed"] == ["sarcasm"] and body["labels_changed"] == []
    assert (body["n_items"], body["n_assignments"]) == (3, 6)
    assert body["estimate_annotator_hours"] == round(6 * 10 / 3600, 2)
    assert body["items_by_reason"] == {"rule:sarcasm": 3}

    # Publishing queues the campaign; once the job ran it is listed with its progress
    published = client.post(f"{base}/specs/2/publish", headers=lead)
    assert published.status_code == 200, published.text
    job = wait_for_job(client, published.json()["job"]["id"], lead)
    assert job["status"] == "done", job
    assert job["result"]["n_items"] == 3
    listing = client.get(f"{base}/campaigns", headers=lead).json()["campaigns"]
    assert [(c["spec_version"], c["n_items"], c["n_assignments"]) for c in listing] == [(2, 3, 6)]
    campaign = client.get(f"{base}/campaigns/2?resamples=0", headers=lead).json()
    assert (campaign["n_submitted"], campaign["share_done"]) == (0, 0.0)
    [sarcasm] = campaign["tags"]
    assert sarcasm["tag"] == "sarcasm" and sarcasm["before"]["n_annotations"] == 6
    assert sarcasm["after"]["n_annotations"] == 0

    # An annotator must acknowledge v2 first, then gets re-label work
    annotator = make_token(app, annotators[0])
    refused = client.post(f"{base}/tasks/next", headers=annotator)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "spec_acknowledgement_required"
    ack = client.post(f"{base}/specs/2/acknowledge", headers=annotator)
    assert ack.status_code in (200, 201), ack.text
    task = client.post(f"{base}/tasks/next", headers=annotator)
    assert task.status_code == 200, task.text
    assert task.json()["task"]["kind"] == "relabel"
    submitted = client.post(
        f"/api/v1/tasks/{task.json()['task']['id']}/submit",
        json={"value": "negative"},
        headers=annotator,
    )
    assert submitted.status_code in (200, 201), submitted.text
    campaign = client.get(f"{base}/campaigns/2?resamples=0", headers=lead).json()
    assert (campaign["n_submitted"], campaign["share_done"]) == (1, 1 / 6)


def test_impact_and_campaigns_are_for_leads_of_the_project_only(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, _, annotators = given_a_labeled_project(app)
    base = f"/api/v1/projects/{slug}"
    annotator = make_token(app, annotators[0])
    for url in (f"{base}/specs/1/impact", f"{base}/campaigns", f"{base}/campaigns/2"):
        assert client.get(url, headers=annotator).status_code == 403, url
    commit_user(app, email="other-lead@example.test", role="lead")
    outsider = make_token(app, "other-lead@example.test")
    for url in (f"{base}/specs/1/impact", f"{base}/campaigns"):
        assert client.get(url, headers=outsider).status_code == 404, url
    lead_slug, lead_email, _ = given_a_labeled_project(app)
    lead = make_token(app, lead_email)
    missing = client.get(f"/api/v1/projects/{lead_slug}/campaigns/2", headers=lead)
    assert missing.status_code == 404
    bad = client.get(f"/api/v1/projects/{lead_slug}/campaigns/2?resamples=-1", headers=lead)
    assert bad.status_code == 422 and "resamples" in bad.text
