"""``GET /api/v1/projects/{slug}/agreement``: PRODUCT.md's shape, parameters, who may read it."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from app.db.engine import make_session_factory, session_scope
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from tests.apps import commit_user, make_token
from tests.factories import make_project

URL = f"/api/v1/projects/{DEMO_SLUG}/agreement"


def _demo(app: Litestar) -> None:
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        load_demo(s)
        lead = get_user_by_email(s, "lee@example.test")
        add_member(s, get_project(s, DEMO_SLUG), lead, actor_id=None)
        make_project(s, slug="elsewhere", actor=lead)


def test_a_lead_reads_agreement_by_tag_in_the_documented_shape(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    _demo(app)
    headers = make_token(app, "lee@example.test")
    response = client.get(f"{URL}?by=tag&resamples=200", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"level", "alpha", "ci", "n_items", "n_pairable", "n_annotations", "groups"}
    assert body["level"] == "nominal" and body["spec_version"] == "current"
    assert set(body["ci"]) == {"low", "high", "confidence", "resamples"}
    assert body["ci"]["resamples"] == 200 and body["ci"]["low"] <= body["alpha"]
    sarcasm = next(g for g in body["groups"] if g["key"] == "sarcasm")
    assert set(sarcasm) >= {"key", "alpha", "ci", "n_items", "n_pairable", "reliable"}
    assert sarcasm["reliable"] is False and sarcasm["ci"]["high"] < 0.667
    by_label = client.get(f"{URL}?by=label&resamples=50", headers=headers).json()
    assert {g["key"]: g["name"] for g in by_label["groups"]}["positive"] == "Positive"
    by_person = client.get(f"{URL}?by=annotator&resamples=50&spec_version=all", headers=headers)
    keys = {g["key"] for g in by_person.json()["groups"]}
    assert "farid" in keys and not any("@" in k for k in keys)  # handles, never emails


def test_bad_parameters_and_the_wrong_people_are_refused(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test", role="annotator")
    _demo(app)
    lead = make_token(app, "lee@example.test")
    bad = client.get(f"{URL}?by=colour", headers=lead)
    assert bad.status_code == 422 and "by" in bad.json()["error"]["details"]["fields"]
    missing = client.get(f"{URL}?spec_version=9", headers=lead)
    assert missing.status_code == 422
    assert "spec_version" in missing.json()["error"]["details"]["fields"]
    # a token limited to another project, an annotator, no token
    scoped = make_token(app, "lee@example.test", project_slugs=["elsewhere"])
    assert client.get(URL, headers=scoped).status_code == 404
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        add_member(
            s, get_project(s, DEMO_SLUG), get_user_by_email(s, "ann@example.test"), actor_id=None
        )
    annotator = make_token(app, "ann@example.test")
    assert client.get(URL, headers=annotator).status_code == 403
    assert client.get(URL).status_code == 401
