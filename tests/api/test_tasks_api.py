"""The task API: next, submit, skip and spec acknowledgement, as a scripted annotator uses them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.engine import make_session_factory, session_scope
from app.db.models import Annotation, ApiToken, Assignment, AuditEvent, User
from tests.aio import run_async
from tests.apps import commit_user, make_token
from tests.factories import make_project

PROJECT: dict[str, Any] = {
    "slug": "reviews",
    "name": "Reviews",
    "kind": "single_choice",
    "overlap": 2,
    "labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}],
    "rules": [
        {"tag": "sarcasm", "text": "Label what the author means."},
        {"tag": "negation", "text": "A negated positive is negative."},
    ],
}
ITEMS = [
    {"external_id": "r1", "text": "Oh great, another delay", "tags": ["sarcasm"]},
    {"external_id": "r2", "text": "Not bad at all", "tags": ["negation"], "metadata": {"n": 2}},
]


def annotations(app: Litestar) -> list[Annotation]:
    with session_scope(make_session_factory(app.state.engine)) as s:
        return list(s.scalars(select(Annotation).order_by(Annotation.id)))


@pytest.fixture
def team(app: Litestar, client: TestClient[Litestar]) -> dict[str, dict[str, str]]:
    """A lead with project ``reviews`` (k=2, two items) and two annotator members."""
    commit_user(app, email="lee@example.test", role="lead")
    lead = make_token(app, "lee@example.test")
    assert client.post("/api/v1/projects/", json=PROJECT, headers=lead).status_code == 201
    items = client.post("/api/v1/projects/reviews/items", json=ITEMS, headers=lead)
    assert items.status_code == 201, items.text
    headers = {"lead": lead}
    for name in ("ann", "bob"):
        commit_user(app, email=f"{name}@example.test", role="annotator")
        added = client.post(
            "/api/v1/projects/reviews/members", json={"email": f"{name}@example.test"}, headers=lead
        )
        assert added.status_code == 201
        headers[name] = make_token(app, f"{name}@example.test")
    return headers


def next_task(client: TestClient[Litestar], headers: dict[str, str]) -> Any:
    return client.post("/api/v1/projects/reviews/tasks/next", headers=headers)


def test_an_annotator_labels_both_items_then_hears_nothing_is_left(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    # Given an annotator with a token
    # When they ask for work, they get the oldest item with the rule for its tag
    first = next_task(client, team["ann"])
    assert first.status_code == 200, first.text
    task = first.json()["task"]
    assert task["kind"] == "label" and task["spec_version"] == 1 and task["state"] == "leased"
    assert task["item"] == {
        "external_id": "r1",
        "text": "Oh great, another delay",
        "tags": ["sarcasm"],
        "metadata": {},
    }
    assert task["rules"] == [{"tag": "sarcasm", "text": "Label what the author means."}]
    # asking again while the lease is live returns the same task
    assert next_task(client, team["ann"]).json()["task"]["id"] == task["id"]

    # When they submit a value with a tag, the unclear flag and a comment
    submitted = client.post(
        f"/api/v1/tasks/{task['id']}/submit",
        json={
            "value": "neg",
            "tags": ["negation"],
            "unclear": True,
            "comment": "sarcasm rule?",
            "duration_ms": 4200,
        },
        headers=team["ann"],
    )
    assert submitted.status_code == 200, submitted.text
    annotation = submitted.json()["annotation"]
    assert annotation["value"] == "neg" and annotation["spec_version"] == 1
    assert annotation["tags"] == ["negation"] and annotation["unclear"] is True

    # Then the second item comes next (with its metadata), and after it nothing is left
    second = next_task(client, team["ann"]).json()["task"]
    assert second["item"]["external_id"] == "r2" and second["item"]["metadata"] == {"n": 2}
    done = client.post(
        f"/api/v1/tasks/{second['id']}/submit", json={"value": "pos"}, headers=team["ann"]
    )
    assert done.status_code == 200
    empty = next_task(client, team["ann"])
    assert empty.status_code == 204 and empty.content == b""

    # And the database holds both annotations, stamped with spec v1 and their durations
    rows = annotations(app)
    assert [(a.value, a.unclear, a.comment, a.duration_ms, a.source) for a in rows] == [
        ("neg", True, "sarcasm rule?", 4200, "api"),
        ("pos", False, "", None, "api"),
    ]


def test_a_value_outside_the_spec_is_422_and_records_nothing(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    task = next_task(client, team["ann"]).json()["task"]
    for body, field in (
        ({"value": "meh"}, "value"),
        ({"value": "pos", "tags": ["unknown_tag"]}, "tags"),
        ({"value": "pos", "duration_ms": -1}, "duration_ms"),
        ({"value": "pos", "comment": "x" * 2001}, "comment"),
    ):
        response = client.post(f"/api/v1/tasks/{task['id']}/submit", json=body, headers=team["ann"])
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input" and field in error["details"]["fields"]
    missing = client.post(f"/api/v1/tasks/{task['id']}/submit", json={}, headers=team["ann"])
    assert missing.status_code == 400 or missing.status_code == 422
    assert "error" in missing.json()
    assert annotations(app) == []
    # the lease is still live: a correct value is accepted afterwards
    ok = client.post(
        f"/api/v1/tasks/{task['id']}/submit", json={"value": "pos"}, headers=team["ann"]
    )
    assert ok.status_code == 200


def test_someone_elses_task_is_404_and_a_used_or_expired_lease_is_409(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    task = next_task(client, team["ann"]).json()["task"]
    url = f"/api/v1/tasks/{task['id']}"
    # Bob cannot see, submit or skip Ann's task
    stolen = client.post(f"{url}/submit", json={"value": "pos"}, headers=team["bob"])
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "not_found"
    assert client.post(f"{url}/skip", headers=team["bob"]).status_code == 404
    assert (
        client.post(
            "/api/v1/tasks/999999/submit", json={"value": "pos"}, headers=team["ann"]
        ).status_code
        == 404
    )
    # Submitting twice: the second is a 409 and records nothing more
    assert (
        client.post(f"{url}/submit", json={"value": "pos"}, headers=team["ann"]).status_code == 200
    )
    twice = client.post(f"{url}/submit", json={"value": "neg"}, headers=team["ann"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "lease_expired"
    # A lease that ran out cannot be submitted; the item went back to the queue
    second = next_task(client, team["ann"]).json()["task"]
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        s.execute(
            update(Assignment)
            .where(Assignment.id == second["id"])
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    late = client.post(
        f"/api/v1/tasks/{second['id']}/submit", json={"value": "pos"}, headers=team["ann"]
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "lease_expired"
    assert [a.value for a in annotations(app)] == ["pos"]
    assert next_task(client, team["bob"]).json()["task"]["item"]["external_id"] == "r1"


def test_skip_sends_the_item_to_someone_else(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    task = next_task(client, team["ann"]).json()["task"]
    skipped = client.post(
        f"/api/v1/tasks/{task['id']}/skip", json={"reason": "unreadable"}, headers=team["ann"]
    )
    assert skipped.status_code == 200
    assert skipped.json() == {
        "task": {"id": task["id"], "state": "skipped", "reason": "unreadable"}
    }
    # Ann never gets r1 back; Bob does
    assert next_task(client, team["ann"]).json()["task"]["item"]["external_id"] == "r2"
    assert next_task(client, team["bob"]).json()["task"]["item"]["external_id"] == "r1"
    with session_scope(make_session_factory(app.state.engine)) as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("assignment.skipped") == 1 and actions.count("assignment.leased") == 3


def test_a_new_spec_must_be_acknowledged_before_more_work(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    # Given Ann labeled under v1 and the lead publishes v2
    task = next_task(client, team["ann"]).json()["task"]
    client.post(f"/api/v1/tasks/{task['id']}/submit", json={"value": "pos"}, headers=team["ann"])
    draft = client.post(
        "/api/v1/projects/reviews/specs/",
        json={"changelog": "Sarcasm: label the literal words."},
        headers=team["lead"],
    )
    assert draft.status_code == 201, draft.text
    number = draft.json()["number"]
    published = client.post(
        f"/api/v1/projects/reviews/specs/{number}/publish", headers=team["lead"]
    )
    assert published.status_code == 200, published.text
    # When Ann asks for work, she must acknowledge v2 first
    blocked = next_task(client, team["ann"])
    assert blocked.status_code == 409
    error = blocked.json()["error"]
    assert error["code"] == "spec_acknowledgement_required"
    assert error["details"]["spec_version"] == number
    # acknowledging an older version is refused, the current one is accepted (twice is harmless)
    old = client.post("/api/v1/projects/reviews/specs/1/acknowledge", headers=team["ann"])
    assert old.status_code == 409 and old.json()["error"]["code"] == "spec_not_current"
    ack = client.post(f"/api/v1/projects/reviews/specs/{number}/acknowledge", headers=team["ann"])
    assert ack.status_code == 200 and ack.json()["new"] is True
    again = client.post(f"/api/v1/projects/reviews/specs/{number}/acknowledge", headers=team["ann"])
    assert again.status_code == 200 and again.json()["new"] is False
    # Then work resumes under v2; Bob, new to the project, never had to acknowledge
    resumed = next_task(client, team["ann"]).json()["task"]
    assert resumed["spec_version"] == number
    assert next_task(client, team["bob"]).status_code == 200


def test_tokens_need_the_work_scope_and_the_project(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    read_only = make_token(app, "ann@example.test", scopes=["projects:read"])
    refused = next_task(client, read_only)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    assert next_task(client, {}).status_code == 401
    # a token limited to another project sees neither the project nor its tasks
    task = next_task(client, team["ann"]).json()["task"]
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        make_project(s, slug="other")
    elsewhere = make_token(app, "ann@example.test", project_slugs=["other"])
    assert next_task(client, elsewhere).status_code == 404
    hidden = client.post(
        f"/api/v1/tasks/{task['id']}/submit", json={"value": "pos"}, headers=elsewhere
    )
    assert hidden.status_code == 404
    # an annotator who is not a member gets 404 for the project, not its work
    commit_user(app, email="eve@example.test", role="annotator")
    assert next_task(client, make_token(app, "eve@example.test")).status_code == 404


def lease_while_a_writer_holds(
    app: Litestar, team: dict[str, dict[str, str]], hold: Callable[[], Callable[[], None]]
) -> tuple[str, httpx.Response]:
    """Ask for ann's next task while another writer (``hold()`` starts it and returns its
    release) holds what the lease needs; meanwhile ask the server for its health, check the
    lease still waits, then release the writer. The health answer, and the lease's."""
    # The token was used just now: the guard has no last use to record.
    with session_scope(make_session_factory(app.state.engine)) as s:
        s.execute(update(ApiToken).values(last_used_at=utcnow()))
    release = hold()

    async def scenario() -> tuple[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as ac:
            leasing = asyncio.create_task(
                ac.post("/api/v1/projects/reviews/tasks/next", headers=team["ann"])
            )
            await asyncio.sleep(0.2)
            health = await ac.get("/healthz")  # answered while the lease waits
            assert not leasing.done()
            release()
            return f"health {health.status_code}", await leasing

    return run_async(scenario())


def test_a_lease_waiting_for_another_writer_does_not_hold_up_the_server(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]]
) -> None:
    # Given another writer holding what a lease needs: SQLite's writer lock (on SQLite the
    # labeling loop runs on the event loop), or the annotator's row (PostgreSQL)
    def hold() -> Callable[[], None]:
        holder = make_session_factory(app.state.engine, immediate=True)()
        holder.execute(
            select(User.id).where(User.email == "ann@example.test").with_for_update()
            if app.state.engine.dialect.name == "postgresql"
            else select(User.id).where(User.email == "ann@example.test")
        )
        return holder.close

    # When a lease waits for it, the server still answers, and the lease goes through after
    health, leased = lease_while_a_writer_holds(app, team, hold)
    assert health == "health 200"
    assert leased.status_code == 200, leased.text
    assert leased.json()["task"]["item"]["external_id"] == "r1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lease_waits_for_another_process_writing_to_sqlite_without_holding_up_the_server(
    app: Litestar, client: TestClient[Litestar], team: dict[str, dict[str, str]], database_url: str
) -> None:
    # Given another process (here: a connection outside the app's engine, so outside its
    # writer queue) holding SQLite's own write lock
    other = sqlite3.connect(
        database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )

    def hold() -> Callable[[], None]:
        other.execute("BEGIN IMMEDIATE")

        def release() -> None:
            other.execute("COMMIT")

        return release

    try:
        # When a lease waits for it, the server still answers, and the lease goes through after
        health, leased = lease_while_a_writer_holds(app, team, hold)
    finally:
        other.close()
    assert health == "health 200"
    assert leased.status_code == 200, leased.text
