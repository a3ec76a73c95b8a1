"""Spec versions through /api/v1: draft, edit with optimistic locking, diff, publish."""

from __future__ import annotations

import time
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.apps import commit_user, make_token

REVIEWS: dict[str, Any] = {
    "slug": "reviews",
    "name": "Reviews",
    "kind": "single_choice",
    "labels": [
        {"key": "pos", "name": "Positive", "hotkey": "p"},
        {"key": "neg", "name": "Negative", "hotkey": "n"},
    ],
    "rules": [{"tag": "sarcasm", "text": "Label what the author *means*."}],
    "guidelines": "Label the author's sentiment.",
}
SPECS = "/api/v1/projects/reviews/specs"


def lead_with_project(app: Litestar, client: TestClient[Litestar]) -> dict[str, str]:
    commit_user(app, email="lee@example.test", role="lead")
    headers = make_token(app, "lee@example.test")
    assert client.post("/api/v1/projects/", json=REVIEWS, headers=headers).status_code == 201
    return headers


def wait_for_job(client: TestClient[Litestar], job_id: str, headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + 30
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    return job


def test_a_lead_drafts_edits_diffs_and_publishes_v2(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = lead_with_project(app, client)
    # Given a draft of v2
    created = client.post(SPECS, headers=lead)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["number"], draft["status"], draft["based_on_number"]) == (2, "draft", 1)
    assert draft["rules"] == [{"tag": "sarcasm", "text": "Label what the author *means*."}]

    # When the lead rewrites the sarcasm rule and adds one for negation
    edited = client.patch(
        f"{SPECS}/2",
        json={
            "edit_version": draft["edit_version"],
            "changelog": "Sarcasm: literal words; negation gets a rule.",
            "rules": [
                {"tag": "sarcasm", "text": "Label the literal words."},
                {"tag": "negation", "text": "A negated positive is negative."},
            ],
        },
        headers=lead,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["edit_version"] == draft["edit_version"] + 1

    # Then the diff from v1 to v2 shows the rule's old and new text
    diff = client.get(f"{SPECS}/1/diff/2", headers=lead).json()
    assert (diff["from_number"], diff["to_number"], diff["changed"]) == (1, 2, True)
    assert diff["rules"]["changed"] == [
        {
            "tag": "sarcasm",
            "old_text": "Label what the author *means*.",
            "new_text": "Label the literal words.",
        }
    ]
    assert [r["tag"] for r in diff["rules"]["added"]] == ["negation"]
    assert diff["labels"] == {"added": [], "removed": [], "renamed": [], "redefined": []}

    # When it is published
    published = client.post(f"{SPECS}/2/publish", headers=lead)
    assert published.status_code == 200, published.text
    body = published.json()
    assert (body["number"], body["status"], body["is_current"]) == (2, "published", True)
    assert body["job"]["id"]

    # Then v2 is the only current version, the project serves it, and the job records the change
    listing = client.get(SPECS, headers=lead).json()["specs"]
    assert [(s["number"], s["is_current"]) for s in listing] == [(2, True), (1, False)]
    assert client.get("/api/v1/projects/reviews", headers=lead).json()["spec"]["number"] == 2
    job = wait_for_job(client, body["job"]["id"], lead)
    assert job["status"] == "done", job
    assert job["result"]["summary"]["rules_changed"] == ["sarcasm"]
    assert job["result"]["summary"]["rules_added"] == ["negation"]

    # And a published version can no longer be edited or published again
    frozen = client.patch(f"{SPECS}/2", json={"edit_version": 99, "guidelines": "x"}, headers=lead)
    assert frozen.status_code == 409
    assert "immutable" in frozen.json()["error"]["message"]
    assert client.post(f"{SPECS}/2/publish", headers=lead).json()["error"]["code"] == "not_a_draft"


def test_a_draft_can_start_with_changes_and_only_one_is_open(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = lead_with_project(app, client)
    created = client.post(
        SPECS,
        json={
            "from_number": 1,
            "labels": [
                {"key": "neg", "name": "Negative"},
                {"key": "pos", "name": "Positive"},
                {"key": "mixed", "name": "Mixed", "description": "Both at once"},
            ],
        },
        headers=lead,
    )
    assert created.status_code == 201, created.text
    labels = created.json()["labels"]
    assert [(lbl["key"], lbl["order"]) for lbl in labels] == [("neg", 0), ("pos", 1), ("mixed", 2)]
    second = client.post(SPECS, headers=lead)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "draft_exists"
    assert second.json()["error"]["details"] == {"number": 2}


def test_invalid_edits_are_422_naming_each_field(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = lead_with_project(app, client)
    version = client.post(SPECS, headers=lead).json()["edit_version"]
    response = client.patch(
        f"{SPECS}/2",
        json={
            "edit_version": version,
            "labels": [{"key": "pos", "name": "Positive"}, {"key": "pos", "hotkey": "?"}],
            "rules": [{"tag": "Not A Tag", "text": "x"}],
            "scale": {"min": 0, "max": 1, "step": 1},
        },
        headers=lead,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert set(error["details"]["fields"]) == {
        "labels[1].key",
        "labels[1].name",
        "labels[1].hotkey",
        "rules[0].tag",
        "scale",
    }
    missing_version = client.patch(f"{SPECS}/2", json={"guidelines": "x"}, headers=lead)
    assert missing_version.status_code == 422 and "error" in missing_version.json()
    # Nothing was saved
    assert client.get(f"{SPECS}/2", headers=lead).json()["edit_version"] == version


def test_a_stale_edit_is_409_and_does_not_overwrite(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = lead_with_project(app, client)
    version = client.post(SPECS, headers=lead).json()["edit_version"]
    first = client.patch(
        f"{SPECS}/2", json={"edit_version": version, "guidelines": "First save."}, headers=lead
    )
    assert first.status_code == 200
    second = client.patch(
        f"{SPECS}/2", json={"edit_version": version, "guidelines": "Second save."}, headers=lead
    )
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "stale_version"
    assert error["details"] == {"edit_version": version + 1}
    assert client.get(f"{SPECS}/2", headers=lead).json()["guidelines"] == "First save."


def test_annotators_read_published_versions_but_cannot_draft_or_see_drafts(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = lead_with_project(app, client)
    commit_user(app, email="ann@example.test")
    client.post(
        "/api/v1/projects/reviews/members", json={"email": "ann@example.test"}, headers=lead
    )
    version = client.post(SPECS, headers=lead).json()["edit_version"]
    ann = make_token(app, "ann@example.test")

    assert client.post(SPECS, headers=ann).status_code == 403
    patched = client.patch(f"{SPECS}/2", json={"edit_version": version}, headers=ann)
    assert patched.status_code == 403
    assert client.post(f"{SPECS}/2/publish", headers=ann).status_code == 403
    assert client.get(f"{SPECS}/2", headers=ann).status_code == 404
    assert client.get(f"{SPECS}/1/diff/2", headers=ann).status_code == 404
    assert [s["number"] for s in client.get(SPECS, headers=ann).json()["specs"]] == [1]
    v1 = client.get(f"{SPECS}/1", headers=ann)
    assert v1.status_code == 200 and v1.json()["status"] == "published"


def test_a_token_scoped_to_another_project_gets_404(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    lead = lead_with_project(app, client)
    client.post("/api/v1/projects/", json=dict(REVIEWS, slug="other"), headers=lead)
    scoped = make_token(app, "lee@example.test", project_slugs=["other"])
    assert client.get(SPECS, headers=scoped).status_code == 404
    assert client.get(f"{SPECS}/1", headers=scoped).status_code == 404
    assert client.post(SPECS, headers=scoped).status_code == 404
    assert client.post(f"{SPECS}/1/publish", headers=scoped).status_code == 404
    assert client.get("/api/v1/projects/other/specs/1", headers=scoped).status_code == 200


def test_the_openapi_schema_describes_the_spec_routes(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    schema = client.get("/api/v1/schema/openapi.json").json()
    paths = schema["paths"]
    assert "/api/v1/projects/{slug}/specs/{number}/diff/{other}" in paths
    assert "patch" in paths["/api/v1/projects/{slug}/specs/{number}"]
    assert "SpecDiff" in schema["components"]["schemas"]
