"""The roster API: invites, pause/resume/remove, quotas and workforce rules, and who may use
them."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Assignment
from app.domain.people import disable_user, get_user_by_email
from tests.apps import commit_user, make_token

PROJECT: dict[str, Any] = {
    "slug": "reviews",
    "name": "Reviews",
    "kind": "single_choice",
    "overlap": 1,
    "labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}],
}
BASE = "/api/v1/projects/reviews"


@pytest.fixture
def team(app: Litestar, client: TestClient[Litestar]) -> dict[str, Any]:
    """A lead with project ``reviews`` (k=1, one item) and two annotator members."""
    lee = commit_user(app, email="lee@example.test", role="lead", name="Lee Lead")
    lead = make_token(app, "lee@example.test")
    assert client.post("/api/v1/projects/", json=PROJECT, headers=lead).status_code == 201
    items = [{"external_id": "r1", "text": "Oh great, another delay"}]
    assert client.post(f"{BASE}/items", json=items, headers=lead).status_code == 201
    found: dict[str, Any] = {"lead": lead, "ids": {}, "lead_name": lee.display_name}
    for name in ("ann", "bob"):
        user = commit_user(app, email=f"{name}@example.test", role="annotator")
        added = client.post(f"{BASE}/members", json={"email": user.email}, headers=lead)
        assert added.status_code == 201
        found[name] = make_token(app, f"{name}@example.test")
        found["ids"][name] = user.id
    return found


def next_task(client: TestClient[Litestar], headers: dict[str, str]) -> Any:
    return client.post(f"{BASE}/tasks/next", headers=headers)


def test_invite_is_created_listed_opened_and_revoked(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    created = client.post(
        f"{BASE}/invites", json={"email": "New@Example.test", "valid_days": 3}, headers=team["lead"]
    )
    assert created.status_code == 201, created.text
    body = created.json()
    invite = body["invite"]
    assert (invite["email"], invite["role"], invite["status"]) == (
        "new@example.test",
        "annotator",
        "pending",
    )
    assert body["url"].startswith("http://testserver.local/invites/")
    # The link opens the public accept page naming the project and the email
    page = client.get(body["url"].removeprefix("http://testserver.local"))
    assert page.status_code == 200 and "Reviews" in page.text and "new@example.test" in page.text
    listed = client.get(f"{BASE}/invites", headers=team["lead"]).json()["invites"]
    assert [(i["id"], i["status"]) for i in listed] == [(invite["id"], "pending")]
    assert "token" not in str(listed) and body["url"].split("/")[-1] not in str(listed)
    revoked = client.delete(f"{BASE}/invites/{invite['id']}", headers=team["lead"])
    assert revoked.status_code == 204
    listed = client.get(f"{BASE}/invites", headers=team["lead"]).json()["invites"]
    assert listed[0]["status"] == "revoked"
    gone = client.get(body["url"].removeprefix("http://testserver.local"))
    assert gone.status_code == 409 and "withdrawn" in gone.text
    missing = client.delete(f"{BASE}/invites/9999", headers=team["lead"])
    assert missing.status_code == 404


def test_invite_errors_are_json_and_name_the_problem(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    lead_invite = client.post(
        f"{BASE}/invites", json={"email": "boss@example.test", "role": "lead"}, headers=team["lead"]
    )
    assert lead_invite.status_code == 403
    assert "only admins" in lead_invite.json()["error"]["message"]
    member = client.post(
        f"{BASE}/invites", json={"email": "ann@example.test"}, headers=team["lead"]
    )
    assert member.status_code == 409
    assert "ann@example.test is already an active member" in member.json()["error"]["message"]
    bad = client.post(f"{BASE}/invites", json={"email": "nope"}, headers=team["lead"])
    assert bad.status_code == 422 and "email" in bad.json()["error"]["details"]["fields"]
    commit_user(app, email="root@example.test", role="admin")
    admin = make_token(app, "root@example.test")
    ok = client.post(
        f"{BASE}/invites", json={"email": "boss@example.test", "role": "lead"}, headers=admin
    )
    assert ok.status_code == 201 and ok.json()["invite"]["role"] == "lead"


def test_pausing_releases_the_lease_and_locks_the_annotator_out_until_resumed(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    # Given ann holds the only item
    task = next_task(client, team["ann"])
    assert task.status_code == 200
    assert next_task(client, team["bob"]).status_code == 204
    ann_id = team["ids"]["ann"]
    # When the lead pauses her
    paused = client.post(
        f"{BASE}/members/{ann_id}/pause", json={"reason": "check sarcasm"}, headers=team["lead"]
    )
    assert paused.status_code == 200, paused.text
    member = paused.json()["member"]
    assert (member["status"], member["paused_reason"], member["paused_by"]) == (
        "paused",
        "check sarcasm",
        team["lead_name"],
    )
    # Then her lease went back to the queue, bob gets the item, and she is locked out
    assert next_task(client, team["bob"]).json()["task"]["item"]["external_id"] == "r1"
    refused = next_task(client, team["ann"])
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert client.get(BASE, headers=team["ann"]).status_code == 404
    submit = client.post(
        f"/api/v1/tasks/{task.json()['task']['id']}/submit",
        json={"value": "pos"},
        headers=team["ann"],
    )
    assert submit.status_code in (404, 409)
    # When she is resumed she can work again
    resumed = client.post(f"{BASE}/members/{ann_id}/resume", headers=team["lead"])
    assert resumed.status_code == 200 and resumed.json()["member"]["status"] == "active"
    assert client.get(BASE, headers=team["ann"]).status_code == 200
    assert next_task(client, team["ann"]).status_code == 204  # bob holds the one item


def test_quota_roster_and_removal(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    bob_id = team["ids"]["bob"]
    url = f"{BASE}/members/{bob_id}"
    quota = client.patch(url, json={"daily_quota": 25}, headers=team["lead"])
    assert quota.status_code == 200 and quota.json()["member"]["daily_quota"] == 25
    bad = client.patch(url, json={"daily_quota": 0}, headers=team["lead"])
    assert bad.status_code == 422 and "daily_quota" in bad.json()["error"]["details"]["fields"]
    cleared = client.patch(url, json={"daily_quota": None}, headers=team["lead"])
    assert cleared.json()["member"]["daily_quota"] is None
    roster = client.get(f"{BASE}/roster", headers=team["lead"]).json()["members"]
    assert {m["email"] for m in roster} == {
        "lee@example.test",
        "ann@example.test",
        "bob@example.test",
    }
    assert next_task(client, team["bob"]).status_code == 200
    assert client.delete(url, headers=team["lead"]).status_code == 204
    assert client.get(BASE, headers=team["bob"]).status_code == 404
    assert next_task(client, team["ann"]).status_code == 200  # bob's lease was released
    assert client.delete(url, headers=team["lead"]).status_code == 404
    roster = client.get(f"{BASE}/roster", headers=team["lead"]).json()["members"]
    assert "bob@example.test" not in {m["email"] for m in roster}
    lead_id = next(m["user_id"] for m in roster if m["email"] == "lee@example.test")
    myself = client.delete(f"{BASE}/members/{lead_id}", headers=team["lead"])
    assert myself.status_code == 409 and "yourself" in myself.json()["error"]["message"]


def test_workforce_rules_read_and_validated(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    url = f"{BASE}/workforce-rules"
    rules = client.get(url, headers=team["lead"]).json()
    assert rules["requires_qualification"] is False and rules["daily_quota"] is None
    bad = client.patch(
        url, json={"gold_share": 2, "max_share": 0, "actor_id": 1}, headers=team["lead"]
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["details"]["fields"]) == {"actor_id"}
    bad = client.patch(url, json={"gold_share": 2, "max_share": 0}, headers=team["lead"])
    assert set(bad.json()["error"]["details"]["fields"]) == {"gold_share", "max_share"}
    ok = client.patch(
        url, json={"requires_qualification": True, "daily_quota": 100}, headers=team["lead"]
    )
    assert ok.status_code == 200
    assert ok.json()["requires_qualification"] is True and ok.json()["daily_quota"] == 100
    assert client.get(url, headers=team["lead"]).json()["daily_quota"] == 100


def test_disabling_a_person_kills_their_token_and_releases_their_lease(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    assert next_task(client, team["ann"]).status_code == 200
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        disable_user(s, get_user_by_email(s, "ann@example.test").id, actor_id=None)
    refused = next_task(client, team["ann"])
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "user_disabled"
    assert client.get("/api/v1/projects/", headers=team["ann"]).status_code == 401
    assert next_task(client, team["bob"]).status_code == 200  # the item came back
    with session_scope(make_session_factory(app.state.engine)) as s:
        states = sorted(s.scalars(select(Assignment.state)))
    assert states == ["cancelled", "leased"]


ROUTES = [
    ("POST", "/invites", {"email": "x@example.test"}),
    ("GET", "/invites", None),
    ("DELETE", "/invites/1", None),
    ("GET", "/roster", None),
    ("POST", "/members/{id}/pause", {}),
    ("POST", "/members/{id}/resume", None),
    ("DELETE", "/members/{id}", None),
    ("PATCH", "/members/{id}", {"daily_quota": 3}),
    ("GET", "/workforce-rules", None),
    ("PATCH", "/workforce-rules", {"gold_share": 0.1}),
]


def test_every_route_is_for_the_projects_leads_only(
    app: Litestar, client: TestClient[Litestar], team: dict[str, Any]
) -> None:
    bob_id = team["ids"]["bob"]
    # A lead of another project, with a token scoped to that project
    commit_user(app, email="other@example.test", role="lead")
    other = make_token(app, "other@example.test")
    other_project = dict(PROJECT, slug="other", name="Other")
    assert client.post("/api/v1/projects/", json=other_project, headers=other).status_code == 201
    scoped = make_token(app, "lee@example.test", project_slugs=["other"])
    for method, path, body in ROUTES:
        url = BASE + path.replace("{id}", str(bob_id))
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        as_annotator = client.request(method, url, headers=team["ann"], **kwargs)
        assert as_annotator.status_code == 403, (method, path, as_annotator.text)
        assert client.request(method, url, headers=scoped, **kwargs).status_code == 404, path
        assert client.request(method, url, headers=other, **kwargs).status_code == 404, path
        assert client.request(method, url, **kwargs).status_code == 401, path
    # Nothing changed
    roster = client.get(f"{BASE}/roster", headers=team["lead"]).json()["members"]
    assert {m["status"] for m in roster} == {"active"} and len(roster) == 3
