"""Gold and qualification through the API: leads import, list, retire and promote gold;
annotators take the test; a gold check looks exactly like normal work."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update

from app.db.engine import make_session_factory, session_scope
from app.db.models import Project
from app.domain.adjudication import adjudicate_item
from app.domain.item_queries import item_detail
from app.domain.people import get_user_by_email
from app.domain.projects import get_project
from tests.apps import commit_user, make_token

API = "/api/v1/projects/reviews"
SECRET = "SECRET-EXPLANATION: the praise is ironic"
PROJECT: dict[str, Any] = {
    "slug": "reviews",
    "name": "Reviews",
    "kind": "single_choice",
    "overlap": 1,
    "labels": [
        {"key": "pos", "name": "Positive"},
        {"key": "neg", "name": "Negative"},
        {"key": "mixed", "name": "Mixed"},
    ],
    "rules": [{"tag": "sarcasm", "text": "Label what the author means."}],
}
ITEMS = [
    {"external_id": f"r{n}", "text": f"Review number {n}", "tags": ["sarcasm"] if n < 4 else []}
    for n in range(1, 6)
]


def set_rules(app: Litestar, **values: Any) -> None:
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        s.execute(update(Project).where(Project.slug == "reviews").values(**values))


@pytest.fixture
def team(app: Litestar, client: TestClient[Litestar]) -> dict[str, dict[str, str]]:
    """Lead lee@ with project ``reviews`` (k=1, five items), annotators ann@ and bob@."""
    commit_user(app, email="lee@example.test", role="lead")
    lead = make_token(app, "lee@example.test")
    assert client.post("/api/v1/projects/", json=PROJECT, headers=lead).status_code == 201
    assert client.post(f"{API}/items", json=ITEMS, headers=lead).status_code == 201
    headers = {"lead": lead}
    for name in ("ann", "bob"):
        commit_user(app, email=f"{name}@example.test")
        added = client.post(f"{API}/members", json={"email": f"{name}@example.test"}, headers=lead)
        assert added.status_code == 201
        headers[name] = make_token(app, f"{name}@example.test")
    return headers


def test_leads_import_list_and_retire_gold_all_or_nothing(
    client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    lead = team["lead"]
    bad = [
        {"external_id": "r1", "value": "neg", "explanation": SECRET},
        {"external_id": "r2", "value": "sunny"},
        {"external_id": "nope", "value": "pos"},
    ]
    refused = client.post(f"{API}/gold", json=bad, headers=lead)
    assert refused.status_code == 422
    fields = refused.json()["error"]["details"]["fields"]
    assert set(fields) == {"rows[1].value", "rows[2].external_id"}
    assert client.get(f"{API}/gold", headers=lead).json() == {"gold": []}
    good = [bad[0], {"external_id": "r2", "value": "pos", "purpose": "qualification"}]
    created = client.post(f"{API}/gold", json=good, headers=lead)
    assert created.status_code == 201 and created.json() == {"created": 2, "unchanged": 0}
    again = client.post(f"{API}/gold", json=good, headers=lead)
    assert again.status_code == 200 and again.json() == {"created": 0, "unchanged": 2}
    listed = client.get(f"{API}/gold", headers=lead).json()["gold"]
    assert [(g["external_id"], g["value"], g["purpose"], g["source"]) for g in listed] == [
        ("r1", "neg", "check", "import"),
        ("r2", "pos", "qualification", "import"),
    ]
    assert client.delete(f"{API}/gold/r1", headers=lead).status_code == 204
    assert client.delete(f"{API}/gold/r1", headers=lead).status_code == 404
    assert [g["external_id"] for g in client.get(f"{API}/gold", headers=lead).json()["gold"]] == [
        "r2"
    ]


def test_gold_routes_are_for_the_projects_leads_only(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    ann = team["ann"]
    row = [{"external_id": "r1", "value": "neg"}]
    assert client.get(f"{API}/gold", headers=ann).status_code == 403
    assert client.post(f"{API}/gold", json=row, headers=ann).status_code == 403
    assert client.delete(f"{API}/gold/r1", headers=ann).status_code == 403
    assert client.post(f"{API}/items/r1/promote-to-gold", headers=ann).status_code == 403
    # A lead's token scoped to another project, and a lead who is not a member, find nothing
    other = {**PROJECT, "slug": "other", "name": "Other"}
    assert client.post("/api/v1/projects/", json=other, headers=team["lead"]).status_code == 201
    scoped = make_token(app, "lee@example.test", project_slugs=["other"])
    assert client.get(f"{API}/gold", headers=scoped).status_code == 404
    assert client.post(f"{API}/gold", json=row, headers=scoped).status_code == 404
    commit_user(app, email="out@example.test", role="lead")
    outsider = make_token(app, "out@example.test")
    assert client.get(f"{API}/gold", headers=outsider).status_code == 404


def test_promoting_to_gold_needs_a_ruling(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    url = f"{API}/items/r3/promote-to-gold"
    refused = client.post(url, json={}, headers=team["lead"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_ruling"
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project = get_project(s, "reviews")
        item = item_detail(s, project, "r3").item
        lead = get_user_by_email(s, "lee@example.test")
        adjudicate_item(s, project, item, value="mixed", rationale="Both.", actor=lead)
    promoted = client.post(url, json={"purpose": "qualification"}, headers=team["lead"])
    assert promoted.status_code == 201, promoted.text
    body = promoted.json()
    assert (body["value"], body["explanation"], body["source"]) == (
        "mixed",
        "Both.",
        "adjudication",
    )
    assert client.post(url, json={}, headers=team["lead"]).status_code == 409  # already gold


def test_a_gold_check_looks_exactly_like_normal_work(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    # Given one check item and checks on every lease
    gold = [{"external_id": "r1", "value": "neg", "explanation": SECRET}]
    assert client.post(f"{API}/gold", json=gold, headers=team["lead"]).status_code == 201
    set_rules(app, gold_share=1.0)
    # When the annotator asks for work twice
    first = client.post(f"{API}/tasks/next", headers=team["ann"])
    assert first.status_code == 200
    check = first.json()["task"]
    done = client.post(
        f"/api/v1/tasks/{check['id']}/submit", json={"value": "pos"}, headers=team["ann"]
    )
    assert done.status_code == 200 and set(done.json()["annotation"]) >= {"value", "item"}
    assert SECRET not in done.text and "gold" not in done.text
    second = client.post(f"{API}/tasks/next", headers=team["ann"])
    normal = second.json()["task"]
    # Then the check was r1, reported as plain labeling with the same shape, and nothing gives
    # away its answer or explanation
    assert check["item"]["external_id"] == "r1" and normal["item"]["external_id"] == "r2"
    assert check["kind"] == normal["kind"] == "label"
    assert set(check) == set(normal) and set(check["item"]) == set(normal["item"])
    assert SECRET not in first.text and "gold" not in first.text and '"neg"' not in first.text


def test_the_qualification_test_through_the_api(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    ann, lead = team["ann"], team["lead"]
    set_rules(app, requires_qualification=True, qualification_size=2, qualification_pass=1.0)
    status = client.get(f"{API}/qualification", headers=ann).json()
    assert (status["status"], status["test_ready"]) == ("needs_test", False)
    not_ready = client.post(f"{API}/qualification/start", headers=ann)
    assert not_ready.status_code == 409
    assert not_ready.json()["error"]["code"] == "qualification_not_ready"
    rows = [
        {"external_id": "r1", "value": "neg", "explanation": SECRET, "purpose": "qualification"},
        {
            "external_id": "r2",
            "value": "pos",
            "explanation": "Plain praise.",
            "purpose": "qualification",
        },
        {"external_id": "r4", "value": "mixed", "explanation": "check only", "purpose": "check"},
    ]
    assert client.post(f"{API}/gold", json=rows, headers=lead).status_code == 201
    # The annotator may not start work before passing
    blocked = client.post(f"{API}/tasks/next", headers=ann)
    assert blocked.status_code == 409
    # Starting shows the questions, never answers nor explanations
    started = client.post(f"{API}/qualification/start", headers=ann)
    assert started.status_code == 200
    body = started.json()
    assert body["status"] == "in_progress"
    assert sorted(q["external_id"] for q in body["questions"]) == ["r1", "r2"]
    assert {k for q in body["questions"] for k in q} == {"external_id", "text", "tags", "rules"}
    assert [lb["key"] for lb in body["labels"]] == ["pos", "neg", "mixed"]
    assert SECRET not in started.text and "check only" not in started.text
    # A bad value is named and nothing is graded
    bad = client.post(
        f"{API}/qualification",
        json={
            "answers": [
                {"external_id": "r1", "value": "sunny"},
                {"external_id": "r2", "value": "pos"},
            ]
        },
        headers=ann,
    )
    assert bad.status_code == 422 and "r1" in bad.json()["error"]["details"]["fields"]
    # A wrong answer fails, with the right label and its explanation
    graded = client.post(
        f"{API}/qualification",
        json={
            "answers": [
                {"external_id": "r1", "value": "pos"},
                {"external_id": "r2", "value": "pos"},
            ]
        },
        headers=ann,
    )
    assert graded.status_code == 200, graded.text
    result = graded.json()
    assert (result["passed"], result["n_correct"], result["n_questions"]) == (False, 1, 2)
    assert result["accuracy"] == 0.5 and result["retry_after"]
    assert result["review"] == [
        {"external_id": "r1", "your_value": "pos", "correct_value": "neg", "explanation": SECRET}
    ]
    cooling = client.get(f"{API}/qualification", headers=ann).json()
    assert cooling["status"] == "cooling_down" and cooling["retry_after"] == result["retry_after"]
    assert client.post(f"{API}/qualification/start", headers=ann).status_code == 409
