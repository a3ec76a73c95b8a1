"""The labeling page: plain form posts with redirects, the htmx region swaps, undo, skip, leases,
acknowledging a new spec, the empty queue, and that nobody reaches someone else's task."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from app.db.base import utcnow
from app.db.engine import make_session_factory, session_scope
from app.db.models import Annotation, Assignment, AuditEvent
from app.domain.errors import InvalidInput
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from app.domain.specs import create_draft, publish_spec, update_draft
from tests.apps import commit_user, login, post_form
from tests.domain.test_assignment import add_items
from tests.factories import make_project

WORK = "/projects/shop/work"
HOSTILE = '<script>alert(1)</script><b hx-get="/admin/users" hx-trigger="load">x</b>\n  **md**'


def factory(app: Litestar) -> Any:
    return make_session_factory(app.state.engine)


@pytest.fixture
def shop(app: Litestar) -> None:
    """Project ``shop`` (k=2, rule for sarcasm) with three items; Ann and Bob are members."""
    lead = commit_user(app, email="lee@example.test", role="lead")
    commit_user(app, email="ann@example.test", role="annotator")
    commit_user(app, email="bob@example.test", role="annotator")
    with session_scope(factory(app), immediate=True) as s:
        project = make_project(
            s, actor=get_user_by_email(s, lead.email), slug="shop", name="Shop", overlap=2
        )
        items = add_items(s, project, 2, tags=("sarcasm",))
        items[0].text = HOSTILE
        add_items(s, project, 1)
        for email in ("ann@example.test", "bob@example.test"):
            add_member(s, project, get_user_by_email(s, email), actor_id=None)


@pytest.fixture
def ann(client: TestClient[Litestar], shop: None) -> TestClient[Litestar]:
    login(client, "ann@example.test")
    return client


def task_id(location: str) -> int:
    match = re.fullmatch(r"/projects/shop/work/(\d+)(\?.*)?", location)
    assert match, location
    return int(match.group(1))


def start(client: TestClient[Litestar]) -> int:
    response = post_form(client, f"{WORK}/next")
    assert response.status_code == 303, response.text
    return task_id(response.headers["location"])


def annotations(app: Litestar) -> list[Annotation]:
    with session_scope(factory(app)) as s:
        return list(s.scalars(select(Annotation).order_by(Annotation.id)))


def test_the_page_shows_the_item_inert_with_its_rule_keys_and_progress(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    # Given Ann starts labeling from the home page's button
    home = ann.get("/")
    assert f'action="{WORK}/next"' in home.text
    task = start(ann)
    # When she opens the task
    page = ann.get(f"{WORK}/{task}")
    assert page.status_code == 200
    text = page.text
    # Then the item text is escaped, inert (hx-disable) and keeps its whitespace
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'hx-disable tabindex="0" aria-label="Item text">&lt;script&gt;' in text
    assert "\n  **md**</div>" in text
    # the rule for exactly its tag, the labels with keys, the tag toggles and the progress strip
    assert "Label the intended meaning, not the literal words." in text
    assert 'data-hotkey="1"' in text and "<kbd>1</kbd>" in text and ">Positive<" in text
    assert 'name="tags" value="sarcasm" data-tag-key="1"' in text and "checked" in text
    assert "Queue <strong>2</strong> items left for you" in text
    assert 'data-lease data-expires="' in text and "/renew" in text
    assert 'id="help"' in text and "<kbd>?</kbd>" in text
    # and the page carries the CSP and htmx's safety settings
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert "allowEval&#34;: false" in text and "allowScriptTags&#34;: false" in text


def test_plain_form_labeling_redirects_and_never_resubmits(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    first = start(ann)
    # When Ann submits without JavaScript
    response = post_form(
        ann,
        f"{WORK}/{first}/submit",
        {
            "value": "negative",
            "tags": ["sarcasm"],
            "unclear": "1",
            "comment": "sarcasm or not?",
            "duration_ms": "3100",
        },
    )
    # Then she is redirected to the next task with an undo offer
    assert response.status_code == 303
    location = response.headers["location"]
    second = task_id(location)
    assert second != first and "?undo=" in location
    page = ann.get(location)
    assert "Submitted <strong>negative</strong> (flagged unclear)" in page.text
    assert f'action="{WORK}/undo/' in page.text
    # And going back to the first task shows it is done; posting again records nothing
    back = ann.get(f"{WORK}/{first}")
    assert back.status_code == 200 and "You already labeled this item." in back.text
    again = post_form(ann, f"{WORK}/{first}/submit", {"value": "positive"})
    assert again.status_code == 409 and "Nothing was recorded" in again.text
    rows = annotations(app)
    assert [(a.value, a.unclear, a.comment, a.duration_ms, a.source) for a in rows] == [
        ("negative", True, "sarcasm or not?", 3100, "browser")
    ]


def test_htmx_submit_swaps_in_the_next_task_and_pushes_its_url(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    first = start(ann)
    response = post_form(ann, f"{WORK}/{first}/submit", {"value": "positive"}, htmx=True)
    assert response.status_code == 200
    assert "<html" not in response.text and 'id="workspace"' in response.text
    assert response.headers["Vary"] == "HX-Request"
    pushed = response.headers["HX-Push-Url"]
    assert task_id(pushed) != first
    assert "Submitted <strong>positive</strong>" in response.text
    assert "In this project <strong>1</strong>" in response.text


def test_a_missing_or_unknown_label_comes_back_with_422_and_keeps_the_input(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    task = start(ann)
    empty = post_form(
        ann, f"{WORK}/{task}/submit", {"comment": "keep me", "unclear": "1"}, htmx=True
    )
    assert empty.status_code == 422 and "choose a label (press its key)" in empty.text
    assert "keep me</textarea>" in empty.text and "data-unclear checked" in empty.text
    unknown = post_form(ann, f"{WORK}/{task}/submit", {"value": "meh"})
    assert unknown.status_code == 422 and "<html" in unknown.text
    assert "unknown label &#39;meh&#39;" in unknown.text
    assert annotations(app) == []


def test_undo_gives_the_same_item_back_and_keeps_the_history(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    first = start(ann)
    post_form(ann, f"{WORK}/{first}/submit", {"value": "positive"})
    (done,) = annotations(app)
    # When Ann undoes from the next page
    response = post_form(ann, f"{WORK}/undo/{done.id}", htmx=True)
    assert response.status_code == 200 and "Undone." in response.text
    again = task_id(response.headers["HX-Push-Url"])
    assert again not in (first,)
    with session_scope(factory(app)) as s:
        old, moved_on, new = (
            s.get(Assignment, first),
            s.scalars(select(Assignment).where(Assignment.id > first, Assignment.id < again)).one(),
            s.get(Assignment, again),
        )
        assert old is not None and new is not None
        # the item comes back in the same slot; the lease she had moved on to is given back
        assert (new.item_id, new.slot, new.state) == (old.item_id, old.slot, "leased")
        assert old.state == "cancelled" and moved_on.state == "cancelled"
        actions = list(s.scalars(select(AuditEvent.action)))
        assert "assignment.undone" in actions
    (kept,) = annotations(app)
    assert kept.retracted_at is not None  # kept for history, no longer counted
    # Then she labels it again; the old answer stays, retracted
    post_form(ann, f"{WORK}/{again}/submit", {"value": "negative"})
    assert [(a.value, a.retracted_at is None) for a in annotations(app)] == [
        ("positive", False),
        ("negative", True),
    ]
    # and undoing twice is refused with a clear notice
    twice = post_form(ann, f"{WORK}/undo/{done.id}", htmx=True)
    assert "can no longer be undone" in twice.text


def test_skip_sends_the_item_to_someone_else(app: Litestar, ann: TestClient[Litestar]) -> None:
    task = start(ann)
    response = post_form(ann, f"{WORK}/{task}/skip", {"reason": "cannot read it"}, htmx=True)
    assert response.status_code == 200 and "Skipped. It goes to someone else." in response.text
    # without htmx the redirect carries the same notice (only known notices, never URL text)
    second = task_id(response.headers["HX-Push-Url"])
    plain = post_form(ann, f"{WORK}/{second}/skip", {})
    assert plain.status_code == 303 and "notice=skipped" in plain.headers["location"]
    assert "Skipped. It goes to someone else." in ann.get(plain.headers["location"]).text
    forged = ann.get(f"{plain.headers['location'].split('?')[0]}?notice=<b>hi</b>")
    assert "<b>hi</b>" not in forged.text and "&lt;b&gt;" not in forged.text
    with session_scope(factory(app)) as s:
        skipped = s.get(Assignment, task)
        assert skipped is not None
        assert (skipped.state, skipped.skip_reason) == ("skipped", "cannot read it")


def test_an_expired_lease_says_so_and_records_nothing(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    task = start(ann)
    with session_scope(factory(app), immediate=True) as s:
        s.execute(
            update(Assignment)
            .where(Assignment.id == task)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    response = post_form(ann, f"{WORK}/{task}/submit", {"value": "positive"}, htmx=True)
    assert response.status_code == 200
    assert "Nothing was recorded: the lease on this task expired" in response.text
    assert "Next item" in response.text
    assert annotations(app) == []
    # and renewing does not bring it back either
    renew = post_form(ann, f"{WORK}/{task}/renew", htmx=True)
    assert renew.status_code == 200 and 'id="lease"' in renew.text


def test_renewing_extends_a_live_lease(app: Litestar, ann: TestClient[Litestar]) -> None:
    task = start(ann)
    with session_scope(factory(app), immediate=True) as s:
        s.execute(
            update(Assignment)
            .where(Assignment.id == task)
            .values(lease_expires_at=utcnow() + timedelta(seconds=40))
        )
    response = post_form(ann, f"{WORK}/{task}/renew", htmx=True)
    assert response.status_code == 200 and "<html" not in response.text
    with session_scope(factory(app)) as s:
        lease = s.get(Assignment, task)
        assert lease is not None
        assert lease.lease_expires_at > utcnow() + timedelta(minutes=10)


def test_other_peoples_tasks_are_404_everywhere(
    app: Litestar, client: TestClient[Litestar], shop: None
) -> None:
    login(client, "ann@example.test")
    task = start(client)
    post_form(client, "/logout")
    login(client, "bob@example.test")
    assert client.get(f"{WORK}/{task}").status_code == 404
    for action in ("submit", "skip", "renew"):
        response = post_form(client, f"{WORK}/{task}/{action}", {"value": "positive"})
        assert response.status_code == 404, action
    assert client.get(f"{WORK}/999999").status_code == 404
    assert annotations(app) == []


def test_the_empty_queue_offers_other_projects(
    app: Litestar, client: TestClient[Litestar], shop: None
) -> None:
    with session_scope(factory(app), immediate=True) as s:
        other = make_project(s, slug="cafe", name="Cafe reviews")
        add_items(s, other, 4)
        add_member(s, other, get_user_by_email(s, "ann@example.test"), actor_id=None)
    login(client, "ann@example.test")
    for _ in range(3):
        task = start(client)
        post_form(client, f"{WORK}/{task}/submit", {"value": "neutral"})
    done = post_form(client, f"{WORK}/next")
    assert done.headers["location"] == WORK
    page = client.get(WORK)
    assert "Nothing left for you in Shop" in page.text
    assert "Label Cafe reviews" in page.text and "4 items left" in page.text


def test_a_new_spec_version_is_acknowledged_before_more_work(
    app: Litestar, ann: TestClient[Litestar]
) -> None:
    task = start(ann)
    post_form(ann, f"{WORK}/{task}/submit", {"value": "positive"})
    with session_scope(factory(app), immediate=True) as s:
        project, lead = get_project(s, "shop"), get_user_by_email(s, "lee@example.test")
        draft = create_draft(s, project, actor=lead)
        changes = {"changelog": "Sarcasm: label the **literal** words now."}
        update_draft(s, project, 2, changes, expected_edit_version=draft.edit_version, actor=lead)
        publish_spec(s, project, 2, actor=lead)
    # the live lease under v1 is dropped; asking for work shows what changed
    response = post_form(ann, f"{WORK}/next")
    assert response.headers["location"] == WORK
    page = ann.get(WORK)
    assert "Spec v2 changed the rules" in page.text
    assert "<strong>literal</strong>" in page.text and "/specs/1/diff/2" in page.text
    acknowledged = post_form(ann, f"{WORK}/acknowledge/2")
    assert acknowledged.status_code == 303
    next_page = ann.get(acknowledged.headers["location"])
    assert "spec v2" in next_page.text and 'id="label-form"' in next_page.text


def test_pages_need_a_login_and_posts_need_csrf(
    app: Litestar, client: TestClient[Litestar], shop: None
) -> None:
    assert client.get(WORK, follow_redirects=False).status_code == 303
    login(client, "ann@example.test")
    forged = client.post(f"{WORK}/next", follow_redirects=False)
    assert forged.status_code == 403
    with session_scope(factory(app)) as s:
        assert s.scalar(select(Assignment.id)) is None


def test_auto_submit_is_for_single_choice_projects(
    app: Litestar, client: TestClient[Litestar], shop: None
) -> None:
    with session_scope(factory(app), immediate=True) as s:
        project = make_project(s, slug="quick", name="Quick", auto_submit=True)
        add_items(s, project, 1)
        add_member(s, project, get_user_by_email(s, "ann@example.test"), actor_id=None)
        with pytest.raises(InvalidInput) as refused:
            make_project(s, slug="multi", kind="multi_choice", auto_submit=True)
        assert "auto_submit" in refused.value.field_errors
    login(client, "ann@example.test")
    page = client.get(post_form(client, "/projects/quick/work/next").headers["location"])
    assert 'id="label-form"' in page.text and "data-auto-submit" in page.text
    assert "choose and submit" in page.text
    shop_page = client.get(f"{WORK}/{start(client)}")
    assert "data-auto-submit" not in shop_page.text
