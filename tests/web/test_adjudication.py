"""A lead rules on an item from its page: recorded as a revision, validated, never overwritten."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from app.db.engine import make_session_factory, session_scope
from app.db.models import Adjudication
from app.domain.people import get_user_by_email
from tests.apps import commit_user, login, post_form
from tests.domain.test_assignment import add_items
from tests.factories import make_project


def _setup(app: Litestar) -> str:
    commit_user(app, email="lee@example.test", role="lead")
    with session_scope(make_session_factory(app.state.engine), immediate=True) as s:
        project = make_project(s, actor=get_user_by_email(s, "lee@example.test"), slug="shop")
        (item,) = add_items(s, project, 1)
        return f"/projects/shop/items/{item.external_id}"


def test_a_lead_rules_twice_and_both_rulings_are_kept(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    url = _setup(app)
    login(client, "lee@example.test")
    page = client.get(url)
    assert "No ruling yet." in page.text and "Record ruling" in page.text
    first = post_form(
        client,
        f"{url}/adjudicate",
        {"value": "negative", "rationale": "Sarcastic praise."},
        htmx=True,
    )
    assert first.status_code == 200 and first.headers["HX-Trigger"] == "item-adjudicated"
    assert "<html" not in first.text and "Ruling recorded." in first.text
    second = post_form(
        client, f"{url}/adjudicate", {"value": "neutral", "rationale": "On reflection."}
    )
    assert second.status_code == 303
    page = client.get(url)
    assert "revision 2" in page.text and "revision 1" in page.text
    with session_scope(make_session_factory(app.state.engine)) as s:
        rows = list(s.scalars(select(Adjudication).order_by(Adjudication.revision)))
        assert [(r.revision, r.value, r.rationale) for r in rows] == [
            (1, "negative", "Sarcastic praise."),
            (2, "neutral", "On reflection."),
        ]


def test_a_ruling_needs_a_known_label_and_a_rationale(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    url = _setup(app)
    login(client, "lee@example.test")
    bad = post_form(client, f"{url}/adjudicate", {"value": "meh", "rationale": " "}, htmx=True)
    assert bad.status_code == 422 and 'id="rulings"' in bad.text
    assert "unknown label &#39;meh&#39;" in bad.text and "say why" in bad.text
    with session_scope(make_session_factory(app.state.engine)) as s:
        assert s.scalar(select(Adjudication.id)) is None


def test_annotators_cannot_adjudicate(app: Litestar, client: TestClient[Litestar]) -> None:
    url = _setup(app)
    commit_user(app, email="ann@example.test", role="annotator")
    login(client, "ann@example.test")
    refused = post_form(client, f"{url}/adjudicate", {"value": "positive", "rationale": "x"})
    assert refused.status_code == 403
