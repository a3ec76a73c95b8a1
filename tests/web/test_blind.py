"""Blind by design: an annotator never sees another person's label, comment or name on the item
in front of them, and every page or API answer that would show labels is for leads only."""

from __future__ import annotations

import json

from litestar import Litestar
from litestar.testing import TestClient

from app.db.engine import make_session_factory, session_scope
from app.domain.people import get_user_by_email
from app.domain.projects import add_member
from tests.apps import commit_user, login, make_token
from tests.domain.test_assignment import add_items, lease, submit
from tests.factories import make_project

SECRET = "ANN-THINKS-THIS-IS-SARCASM"


def _item_labeled_by_ann(app: Litestar) -> str:
    """A k=2 project with one item that Ann labeled (with a comment and a flag)."""
    commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test", role="annotator", name="Ann Annotator")
    commit_user(app, email="bob@example.test", role="annotator", name="Bob")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        lead = get_user_by_email(s, "lee@example.test")
        project = make_project(s, actor=lead, slug="blind", overlap=2)
        (item,) = add_items(s, project, 1, tags=("sarcasm",))
        ann, bob = (
            get_user_by_email(s, "ann@example.test"),
            get_user_by_email(s, "bob@example.test"),
        )
        for person in (ann, bob):
            add_member(s, project, person, actor_id=lead.id)
        submit(
            s,
            lease(s, project, ann),
            ann,
            value="negative",
            comment=SECRET,
            unclear=True,
            tags=["sarcasm"],
        )
        return item.external_id


def test_the_next_annotator_sees_nothing_of_the_first(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    external_id = _item_labeled_by_ann(app)
    headers = make_token(app, "bob@example.test")
    answer = client.post("/api/v1/projects/blind/tasks/next", headers=headers)
    assert answer.status_code == 200
    task = answer.json()["task"]
    assert task["item"]["external_id"] == external_id
    assert set(task) == {
        *("id", "kind", "project", "spec_version", "state", "lease_expires_at", "item", "rules")
    }
    assert set(task["item"]) == {"external_id", "text", "tags", "metadata"}
    raw = json.dumps(answer.json())
    for trace in (SECRET, "ann@example.test", "Ann Annotator", '"negative"', "unclear"):
        assert trace not in raw
    login(client, "bob@example.test")
    page = client.get(f"/projects/blind/work/{task['id']}").text
    assert external_id in page
    for trace in (SECRET, "ann@example.test", "Ann Annotator", "Submitted"):
        assert trace not in page


def test_pages_and_answers_that_show_labels_are_for_leads(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    external_id = _item_labeled_by_ann(app)
    headers = make_token(app, "bob@example.test")
    for path in (
        "/api/v1/projects/blind/items",
        "/api/v1/projects/blind/agreement",
        "/api/v1/projects/blind/hotspots",
        "/api/v1/projects/blind/export?format=jsonl",
        "/api/v1/projects/blind/workforce",
        "/api/v1/projects/blind/gold",
    ):
        assert client.get(path, headers=headers).status_code == 403, path
    login(client, "bob@example.test")
    for path in (
        f"/projects/blind/items/{external_id}",
        "/projects/blind/items/",
        "/projects/blind/agreement/",
        "/projects/blind/workforce/",
        "/projects/blind/gold/",
        "/projects/blind/people/",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert SECRET not in response.text
    project_page = client.get("/projects/blind").text
    assert SECRET not in project_page and "Ann Annotator" not in project_page
