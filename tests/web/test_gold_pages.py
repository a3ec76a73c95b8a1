"""Gold and qualification in the browser: the lead's gold page, promoting a ruling, the
annotator's test (fail with explanations, then pass), and a gold check's labeling page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from app.db.engine import make_session_factory, session_scope
from app.db.models import GoldItem, Project
from app.domain.adjudication import adjudicate_item
from app.domain.gold import add_gold
from app.domain.item_queries import item_detail
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from tests.apps import commit_user, login, post_form
from tests.domain.test_assignment import add_items
from tests.factories import make_project

GOLD = "/projects/shop/gold"
QUAL = "/projects/shop/qualification"
SECRET = "SECRET-EXPLANATION <b>irony</b>"


def factory(app: Litestar) -> Any:
    return make_session_factory(app.state.engine, immediate=True)


@pytest.fixture
def shop(app: Litestar) -> list[str]:
    """Project ``shop`` (k=1) with four items (external ids returned); lee@ leads, ann@ works."""
    commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test")
    with session_scope(factory(app), immediate=True) as s:
        lead = get_user_by_email(s, "lee@example.test")
        project = make_project(s, actor=lead, slug="shop", name="Shop", overlap=1)
        items = add_items(s, project, 4, tags=("sarcasm",))
        add_member(s, project, get_user_by_email(s, "ann@example.test"), actor_id=None)
        return [item.external_id for item in items]


def set_rules(app: Litestar, **values: Any) -> None:
    with session_scope(factory(app), immediate=True) as s:
        s.execute(update(Project).where(Project.slug == "shop").values(**values))


def make_gold(app: Litestar, external_id: str, value: str, purpose: str) -> None:
    with session_scope(factory(app), immediate=True) as s:
        lead = get_user_by_email(s, "lee@example.test")
        add_gold(s, get_project(s, "shop"), external_id, value, SECRET, purpose, actor=lead)


def test_a_lead_adds_lists_and_retires_gold(
    app: Litestar, client: TestClient[Litestar], shop: list[str]
) -> None:
    set_rules(app, requires_qualification=True)
    login(client, "lee@example.test")
    page = client.get(f"{GOLD}/")
    assert page.status_code == 200
    assert "has no qualification questions" in page.text and "No gold items yet" in page.text
    # A bad value re-renders the form naming the field (htmx swaps only the form)
    bad = post_form(client, f"{GOLD}/", {"external_id": shop[0], "value": "sunny"}, htmx=True)
    assert bad.status_code == 422 and 'id="gold-form"' in bad.text
    assert "unknown label" in bad.text and "<h1>" not in bad.text
    form = {"external_id": shop[0], "value": "negative", "explanation": SECRET}
    added = post_form(client, f"{GOLD}/", form | {"purpose": "qualification"})
    assert added.status_code == 303 and added.headers["location"] == f"{GOLD}/"
    listed = client.get(f"{GOLD}/")
    assert shop[0] in listed.text and "SECRET-EXPLANATION &lt;b&gt;irony&lt;/b&gt;" in listed.text
    assert "has no qualification questions" not in listed.text
    retired = post_form(client, f"{GOLD}/{shop[0]}/retire")
    assert retired.status_code == 303
    assert "No gold items yet" in client.get(f"{GOLD}/").text


def test_annotators_never_reach_the_gold_page(
    app: Litestar, client: TestClient[Litestar], shop: list[str]
) -> None:
    login(client, "ann@example.test")
    assert client.get(f"{GOLD}/").status_code == 403
    assert (
        post_form(client, f"{GOLD}/", {"external_id": shop[0], "value": "positive"}).status_code
        == 403
    )
    assert post_form(client, f"{GOLD}/{shop[0]}/promote").status_code == 403


def test_an_adjudicated_item_is_promoted_from_its_page(
    app: Litestar, client: TestClient[Litestar], shop: list[str]
) -> None:
    login(client, "lee@example.test")
    item_url = f"/projects/shop/items/{shop[1]}"
    assert "Promote to gold" not in client.get(item_url).text
    with session_scope(factory(app), immediate=True) as s:
        project = get_project(s, "shop")
        lead = get_user_by_email(s, "lee@example.test")
        item = item_detail(s, project, shop[1]).item
        adjudicate_item(s, project, item, value="neutral", rationale="Mixed feelings.", actor=lead)
    assert "Promote to gold" in client.get(item_url).text
    promoted = post_form(client, f"{GOLD}/{shop[1]}/promote", {"purpose": "check"})
    assert promoted.status_code == 303
    with session_scope(factory(app)) as s:
        gold = s.scalar(select(GoldItem))
        assert gold is not None
        assert (gold.value, gold.explanation, gold.source) == (
            "neutral",
            "Mixed feelings.",
            "adjudication",
        )
    # Once gold, the page says so instead of offering to promote it again.
    page = client.get(item_url).text
    assert "Promote to gold" not in page and "Known answer <strong>neutral</strong>" in page


def test_an_annotator_fails_sees_why_then_passes_and_may_work(
    app: Litestar, client: TestClient[Litestar], shop: list[str]
) -> None:
    set_rules(
        app,
        requires_qualification=True,
        qualification_size=1,
        qualification_pass=1.0,
        qualification_cooldown_minutes=0,
    )
    login(client, "ann@example.test")
    assert "The test is not ready yet" in client.get(f"{QUAL}/").text
    make_gold(app, shop[0], "negative", "qualification")
    assert "Start the test" in client.get(f"{QUAL}/").text
    assert post_form(client, f"{QUAL}/start").status_code == 303
    test = client.get(f"{QUAL}/")
    assert "Question 1 of 1" in test.text and 'name="q1"' in test.text
    assert "Label the intended meaning" in test.text  # the rule for its tag
    assert SECRET not in test.text and "irony" not in test.text
    # Nothing chosen: the form comes back naming the question
    empty = post_form(client, f"{QUAL}/", {}, htmx=True)
    assert empty.status_code == 422 and "no answer" in empty.text
    # A wrong answer: the result page shows the right label and the explanation, escaped
    failed = post_form(client, f"{QUAL}/", {"q1": "positive"})
    assert failed.status_code == 303
    assert re.fullmatch(rf"{QUAL}/attempts/\d+", failed.headers["location"])
    result = client.get(failed.headers["location"])
    assert "did not pass" in result.text and "<code>negative</code>" in result.text
    assert "SECRET-EXPLANATION &lt;b&gt;irony&lt;/b&gt;" in result.text
    # The retry is open at once here (no cool-down); a right answer qualifies
    assert post_form(client, f"{QUAL}/start").status_code == 303
    passed = post_form(client, f"{QUAL}/", {"q1": "negative"})
    page = client.get(passed.headers["location"])
    assert (
        "You qualified; start labeling" in page.text and 'href="/projects/shop/work"' in page.text
    )
    assert "You qualified for this project" in client.get(f"{QUAL}/").text


def test_a_failed_test_waits_for_the_cool_down(
    app: Litestar, client: TestClient[Litestar], shop: list[str]
) -> None:
    set_rules(app, requires_qualification=True, qualification_size=1, qualification_pass=1.0)
    make_gold(app, shop[0], "negative", "qualification")
    login(client, "ann@example.test")
    post_form(client, f"{QUAL}/start")
    result = client.get(post_form(client, f"{QUAL}/", {"q1": "positive"}).headers["location"])
    assert "You can try again from" in result.text
    assert "You can take the test again from" in client.get(f"{QUAL}/").text
    assert post_form(client, f"{QUAL}/start").status_code == 409


def test_the_labeling_page_of_a_gold_check_looks_like_normal_work(
    app: Litestar, client: TestClient[Litestar], shop: list[str]
) -> None:
    make_gold(app, shop[0], "negative", "check")
    set_rules(app, gold_share=1.0)
    login(client, "ann@example.test")
    leased = post_form(client, "/projects/shop/work/next")
    assert leased.status_code == 303
    page = client.get(leased.headers["location"])
    assert page.status_code == 200 and shop[0] in page.text
    assert "SECRET" not in page.text and "gold" not in page.text.lower()
