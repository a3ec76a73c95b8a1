"""An annotator labels in Chromium with the keyboard alone, and every task kind renders.

The main test is the flow an annotator lives in all day: five items by keyboard (a tag toggled, an
"unclear" flag with a comment, a skip, an undo), then a look in the database at exactly what was
recorded. It fails on any console error or CSP violation on the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.models import Annotation, AnnotationTag, Assignment, SpecVersion, Tag
from app.domain.people import get_user_by_email
from app.domain.projects import LabelInput, add_member
from tests.browser.test_login import log_in
from tests.domain.test_assignment import add_items
from tests.factories import make_project

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
PASSWORD = "correct horse battery"
HOSTILE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    '<b hx-get="/admin/users" hx-trigger="load">bold?</b> **not markdown**\n'
    + "A long review. "
    * 6000
)


def _seed(live_server: LiveServer, **kinds: dict[str, Any]) -> None:
    """Projects (slug -> overrides) with items tagged sarcasm or not; the annotator on each."""
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as s:
            lead = get_user_by_email(s, "lee@example.org")
            ann = get_user_by_email(s, "ann@example.org")
            for slug, overrides in kinds.items():
                project = make_project(s, actor=lead, slug=slug, name=slug.title(), **overrides)
                tagged = add_items(s, project, 3, tags=("sarcasm",))
                tagged[0].text = HOSTILE
                add_items(s, project, 4, tags=("negation",))
                add_member(s, project, ann, actor_id=None)
            s.commit()
    finally:
        engine.dispose()


@pytest.fixture
def annotator(live_server: LiveServer) -> LiveServer:
    live_server.create_user(email="lee@example.org", password=PASSWORD, role="lead")
    live_server.create_user(email="ann@example.org", password=PASSWORD, role="annotator")
    return live_server


def _item_heading(page: Page) -> str:
    heading = page.get_by_role("heading", name=re.compile(r"^Item "))
    expect(heading).to_be_visible()
    return heading.inner_text()


def _next_item(page: Page, previous: str) -> str:
    expect(page.get_by_role("heading", name=previous)).to_have_count(0)
    return _item_heading(page)


def test_an_annotator_labels_five_items_with_the_keyboard_only(
    annotator: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given a sentiment project whose first item is hostile HTML and 90 KB long
    _seed(annotator, sentiment={"overlap": 2})
    log_in(page, annotator.url, "ann@example.org", PASSWORD)

    # When Ann presses Enter on "Start labeling" (focus it with the keyboard, no mouse)
    start = page.get_by_role("button", name="Start labeling")
    start.focus()
    page.keyboard.press("Enter")
    first = _item_heading(page)
    # the hostile item is shown as text: nothing ran, nothing loaded
    expect(page.get_by_text("<script>window.__pwned = 1</script>", exact=False)).to_be_visible()
    assert page.evaluate("window.__pwned") is None
    expect(page.get_by_text("Label the intended meaning, not the literal words.")).to_be_visible()
    screenshot(page, "labeling-single-choice")

    # Item 1: "2" (negative), Shift+1 toggles the first tag (negation), Enter submits
    page.keyboard.press("2")
    expect(page.get_by_role("radio", name=re.compile("Negative"))).to_be_checked()
    page.keyboard.press("Shift+Digit1")
    expect(page.get_by_role("checkbox", name=re.compile("negation"))).to_be_checked()
    page.keyboard.press("Enter")
    second = _next_item(page, first)
    expect(page.get_by_text(re.compile(r"Submitted negative"))).to_be_visible()

    # Item 2: "1", then "?" flags unclear and puts the cursor in the comment; Ctrl+Enter submits
    page.keyboard.press("1")
    page.keyboard.press("?")
    expect(page.get_by_role("checkbox", name=re.compile("spec is unclear"))).to_be_checked()
    page.keyboard.type("Is sarcasm the literal or the meant sentiment?")
    page.keyboard.press("Control+Enter")
    third = _next_item(page, second)

    # Item 3: skip it with a reason ("s", type, Enter)
    page.keyboard.press("s")
    page.keyboard.type("Cannot tell the language")
    page.keyboard.press("Enter")
    fourth = _next_item(page, third)
    expect(page.get_by_text("Skipped. It goes to someone else.")).to_be_visible()

    # Item 4: "3" then Enter, then "u" undoes it: the same item comes back; label it "1"
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    _next_item(page, fourth)
    page.keyboard.press("u")
    expect(page.get_by_role("heading", name=fourth)).to_be_visible()
    expect(page.get_by_text(re.compile("^Undone."))).to_be_visible()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    fifth = _next_item(page, fourth)

    # Item 5: the help overlay (h, Esc), then "3" and Enter
    page.keyboard.press("h")
    expect(page.get_by_role("dialog", name="Keyboard")).to_be_visible()
    screenshot(page, "labeling-help")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard")).to_be_hidden()
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    _next_item(page, fifth)
    expect(page.get_by_text(re.compile(r"In this project\s*4"))).to_be_visible()
    screenshot(page, "labeling-after-five")

    # Reloading shows the current item again, never resubmits
    page.reload()
    expect(page.get_by_text(re.compile(r"In this project\s*4"))).to_be_visible()
    assert page.console_errors == []  # type: ignore[attr-defined]

    # Then the database holds exactly what Ann did
    engine = make_engine(annotator.settings.database_url)
    try:
        with Session(engine) as s:
            v1 = s.scalars(select(SpecVersion.id).where(SpecVersion.number == 1)).one()
            rows = list(s.scalars(select(Annotation).order_by(Annotation.id)))
            live = [a for a in rows if a.retracted_at is None]
            assert [a.value for a in live] == ["negative", "positive", "positive", "neutral"]
            assert [a.value for a in rows if a.retracted_at is not None] == ["neutral"]
            assert all(a.spec_version_id == v1 and a.source == "browser" for a in rows)
            assert all(a.duration_ms is not None and a.duration_ms > 0 for a in rows)
            assert [(a.unclear, a.comment) for a in live][:2] == [
                (False, ""),
                (True, "Is sarcasm the literal or the meant sentiment?"),
            ]
            marked = s.execute(
                select(Tag.name)
                .join(AnnotationTag, AnnotationTag.tag_id == Tag.id)
                .where(AnnotationTag.annotation_id == live[0].id)
                .order_by(Tag.name)
            ).scalars()
            assert list(marked) == ["negation", "sarcasm"]
            skipped = s.scalars(select(Assignment).where(Assignment.state == "skipped")).one()
            assert skipped.skip_reason == "Cannot tell the language"
    finally:
        engine.dispose()


def test_every_task_kind_renders_and_takes_a_label(
    annotator: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given one project of each remaining kind
    _seed(
        annotator,
        topics={
            "kind": "multi_choice",
            "labels": [LabelInput("price", "Price"), LabelInput("service", "Service")],
        },
        stars={
            "kind": "ordinal",
            "labels": [LabelInput(str(n), f"{n} stars") for n in range(1, 6)],
        },
        toxicity={"kind": "numeric", "labels": [], "scale": {"min": 0, "max": 1, "step": 0.1}},
    )
    log_in(page, annotator.url, "ann@example.org", PASSWORD)
    for slug, keys, shot in (
        ("topics", ["1", "2"], "labeling-multi-choice"),
        ("stars", ["4"], "labeling-ordinal"),
        ("toxicity", [], "labeling-numeric"),
    ):
        page.goto(f"{annotator.url}/projects/{slug}/work")
        page.get_by_role("button", name="Start labeling").click()
        heading = _item_heading(page)
        if slug == "toxicity":
            page.get_by_role("spinbutton", name="Value").fill("0.7")
        for key in keys:
            page.keyboard.press(key)
        screenshot(page, shot)
        page.keyboard.press("Enter") if slug != "toxicity" else page.get_by_role(
            "button", name=re.compile("^Submit")
        ).click()
        _next_item(page, heading)
    assert page.console_errors == []  # type: ignore[attr-defined]
    engine = make_engine(annotator.settings.database_url)
    try:
        with Session(engine) as s:
            values = list(s.scalars(select(Annotation.value).order_by(Annotation.id)))
        assert values == [["price", "service"], "4", 0.7]
    finally:
        engine.dispose()
