"""Migration in: a Label Studio JSON export (its documented format) becomes items, annotators
and annotations, all or nothing, with a report."""

from __future__ import annotations

import json
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Annotation, Item, User
from app.domain.people import get_user_by_email
from tests.apps import commit_user, make_token
from tests.factories import make_project

EXPORT = Path(__file__).resolve().parents[1] / "data" / "label_studio_export.json"


def given_a_project(app: Litestar) -> tuple[str, dict[str, str]]:
    commit_user(app, email="lee@example.test", role="lead")
    with session_scope(make_session_factory(app.state.engine, immediate=True), immediate=True) as s:
        slug = make_project(s, actor=get_user_by_email(s, "lee@example.test")).slug
    return slug, make_token(app, "lee@example.test")


def test_a_label_studio_export_is_imported_with_a_report(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, lead = given_a_project(app)
    url = f"/api/v1/projects/{slug}/import/label-studio"
    response = client.post(url, content=EXPORT.read_bytes(), headers=lead)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "tasks": 3,
        "items_created": 3,
        "items_unchanged": 0,
        "annotations_created": 3,
        "annotators_created": ["maria", "ls-user-9"],
        "skipped_cancelled": 1,
        "skipped_without_choices": 0,
    }
    with session_scope(make_session_factory(app.state.engine)) as s:
        texts = dict(s.execute(select(Item.external_id, Item.text)).all())
        assert texts["ls-101"].startswith("Oh great")
        values = sorted(
            (external_id, handle, value)
            for external_id, handle, value in s.execute(
                select(Item.external_id, User.handle, Annotation.value)
                .join(Item, Item.id == Annotation.item_id)
                .join(User, User.id == Annotation.user_id)
            )
        )
        assert values == [
            ("ls-101", "ls-user-9", "positive"),
            ("ls-101", "maria", "negative"),
            ("ls-102", "maria", "positive"),
        ]


def test_a_bad_export_writes_nothing_and_names_the_task(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    slug, lead = given_a_project(app)
    url = f"/api/v1/projects/{slug}/import/label-studio"
    tasks = json.loads(EXPORT.read_text())
    tasks[1]["annotations"][0]["result"][0]["value"]["choices"] = ["Ecstatic"]
    refused = client.post(url, content=json.dumps(tasks).encode(), headers=lead)
    assert refused.status_code == 422
    assert "Ecstatic" in refused.json()["error"]["details"]["fields"]["task 2"]
    assert client.post(url, content=b"{not json", headers=lead).status_code == 422
    with session_scope(make_session_factory(app.state.engine)) as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 0
