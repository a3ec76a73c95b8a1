"""The /api/v1 conventions: bearer tokens, scopes, project scoping, JSON errors, 202 + job."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.apps import commit_user, make_token

SENTIMENT: dict[str, Any] = {
    "slug": "reviews",
    "name": "Reviews",
    "kind": "single_choice",
    "overlap": 3,
    "labels": [
        {"key": "pos", "name": "Positive", "hotkey": "p"},
        {"key": "neg", "name": "Negative"},
    ],
    "rules": [{"tag": "sarcasm", "text": "Label what the author *means*."}],
    "guidelines": "# Sentiment\nLabel the author's sentiment.",
}


def test_lead_creates_a_project_with_spec_v1_published(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    headers = make_token(app, "lee@example.test")
    response = client.post("/api/v1/projects/", json=SENTIMENT, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == "reviews" and body["spec"]["number"] == 1
    assert body["spec"]["status"] == "published" and body["spec"]["is_current"] is True
    assert [lbl["key"] for lbl in body["spec"]["labels"]] == ["pos", "neg"]
    assert body["spec"]["labels"][0]["hotkey"] == "p"
    assert body["spec"]["rules"] == [{"tag": "sarcasm", "text": "Label what the author *means*."}]
    listing = client.get("/api/v1/projects/", headers=headers).json()
    assert [p["slug"] for p in listing["projects"]] == ["reviews"]
    again = client.post("/api/v1/projects/", json=SENTIMENT, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_invalid_project_names_each_bad_field(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    headers = make_token(app, "lee@example.test")
    bad = dict(
        SENTIMENT,
        slug="Not A Slug",
        kind="free_text",
        labels=[{"key": "a", "name": "A"}, {"key": "a", "name": "Again"}],
    )
    response = client.post("/api/v1/projects/", json=bad, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert set(error["details"]["fields"]) >= {"slug", "kind"}
    missing = client.post("/api/v1/projects/", json={"name": "x"}, headers=headers)
    assert missing.status_code == 422 and "error" in missing.json()
    not_json = client.post(
        "/api/v1/projects/",
        content=b"{nope",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code in (400, 422) and "error" in not_json.json()


def test_annotator_cannot_create_projects(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="ann@example.test")
    headers = make_token(app, "ann@example.test")
    response = client.post("/api/v1/projects/", json=SENTIMENT, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_token_scoped_to_one_project_never_sees_another(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    full = make_token(app, "lee@example.test")
    client.post("/api/v1/projects/", json=SENTIMENT, headers=full)
    client.post("/api/v1/projects/", json=dict(SENTIMENT, slug="other"), headers=full)
    scoped = make_token(app, "lee@example.test", project_slugs=["reviews"])
    slugs = [p["slug"] for p in client.get("/api/v1/projects/", headers=scoped).json()["projects"]]
    assert slugs == ["reviews"]
    assert client.get("/api/v1/projects/other", headers=scoped).status_code == 404
    assert client.get("/api/v1/projects/other/members", headers=scoped).status_code == 404
    assert client.get("/api/v1/projects/reviews", headers=scoped).status_code == 200


def test_members_are_managed_by_leads(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test")
    lead = make_token(app, "lee@example.test")
    client.post("/api/v1/projects/", json=SENTIMENT, headers=lead)
    ann = make_token(app, "ann@example.test")
    assert client.get("/api/v1/projects/reviews", headers=ann).status_code == 404
    added = client.post(
        "/api/v1/projects/reviews/members", json={"email": "ann@example.test"}, headers=lead
    )
    assert added.status_code == 201
    assert (
        client.post(
            "/api/v1/projects/reviews/members", json={"email": "ann@example.test"}, headers=lead
        ).status_code
        == 200
    )
    assert client.get("/api/v1/projects/reviews", headers=ann).status_code == 200
    members = client.get("/api/v1/projects/reviews/members", headers=ann).json()["members"]
    assert {m["role"] for m in members} == {"lead", "annotator"}
    assert all(m["email"] is None for m in members)  # annotators do not see emails
    unknown = client.post(
        "/api/v1/projects/reviews/members", json={"email": "x@example.test"}, headers=lead
    )
    assert unknown.status_code == 404


def test_bad_tokens_get_401_with_a_reason(app: Litestar, client: TestClient[Litestar]) -> None:
    for header, code in [
        ({}, "missing_token"),
        ({"Authorization": "Basic abc"}, "missing_token"),
        ({"Authorization": "Bearer acc_nope"}, "invalid_token"),
    ]:
        response = client.get("/api/v1/projects/", headers=header)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == code


def test_session_cookie_does_not_authenticate_the_api(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    from tests.apps import login

    commit_user(app, email="root@example.test", role="admin")
    login(client, "root@example.test")
    assert client.get("/api/v1/projects/").status_code == 401


def test_recount_returns_202_with_a_job_that_completes(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    import time

    commit_user(app, email="lee@example.test", role="lead")
    headers = make_token(app, "lee@example.test")
    client.post("/api/v1/projects/", json=SENTIMENT, headers=headers)
    response = client.post("/api/v1/projects/reviews/recount", headers=headers)
    assert response.status_code == 202
    job_id = response.json()["job"]["id"]
    deadline = time.monotonic() + 30
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    assert set(job) >= {"id", "kind", "status", "progress", "error", "result"}
    other = commit_user(app, email="ann@example.test")
    assert other is not None
    stranger = make_token(app, "ann@example.test")
    assert client.get(f"/api/v1/jobs/{job_id}", headers=stranger).status_code == 404


def test_body_size_limit_is_enforced(app: Litestar, client: TestClient[Litestar]) -> None:
    commit_user(app, email="lee@example.test", role="lead")
    headers = make_token(app, "lee@example.test")
    limit = app.state.settings.max_body_bytes
    big = b'{"slug": "' + b"x" * (limit + 1) + b'"}'
    response = client.post(
        "/api/v1/projects/", content=big, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
