"""From invite to productive work without a terminal: a lead invites an annotator, who accepts,
fails the qualification test (and sees why), passes it, labels, is paused by gold accuracy and
is reinstated by the lead from the workforce page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.models import Membership, QualificationAttempt, User
from app.domain.gold import add_gold
from app.domain.people import get_user_by_email
from tests.browser.test_login import log_in
from tests.domain.test_assignment import add_items
from tests.factories import make_project

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser
Screenshot = Callable[[Page, str], Path]
PASSWORD = "correct horse battery staple"
LEAD = "lee@example.org"
NEWCOMER = "nia@example.org"
QUESTIONS = {
    "Oh great, another update that deletes my files.": ("negative", "Sarcasm: praise means blame."),
    "Works exactly as described, five stars.": ("positive", "Plain praise is positive."),
}


def _set_up_project(live_server: LiveServer) -> None:
    """A project that asks for qualification (2 questions, all right to pass, no cool-down) and
    makes every lease a gold check while any is left (paused below 75% after 2 checks)."""
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            lead = get_user_by_email(session, LEAD)
            project = make_project(
                session, actor=lead, slug="onboard", name="Onboarding", overlap=1
            )
            for name, value in {
                "requires_qualification": True,
                "qualification_size": 2,
                "qualification_pass": 1.0,
                "qualification_cooldown_minutes": 0,
                "gold_share": 1.0,
                "gold_min_checks": 2,
                "gold_accuracy_bar": 0.75,
            }.items():
                setattr(project, name, value)
            items = add_items(session, project, 2 + 3 + 4)
            for item, (text, (answer, why)) in zip(items, QUESTIONS.items(), strict=False):
                item.text = text
                add_gold(
                    session, project, item.external_id, answer, why, "qualification", actor=lead
                )
            for item in items[2:5]:
                add_gold(session, project, item.external_id, "positive", "", "check", actor=lead)
            session.commit()
    finally:
        engine.dispose()


def _answer_test(page: Page, *, right: bool) -> None:
    for text, (answer, _) in QUESTIONS.items():
        question = page.locator("article").filter(has_text=text)
        choice = answer if right else "neutral"
        question.get_by_role("radio", name=re.compile(f"^{choice}", re.IGNORECASE)).check()
    page.get_by_role("button", name="Submit my answers").click()


def test_a_newcomer_is_invited_qualifies_is_paused_by_gold_and_reinstated(
    live_server: LiveServer, page: Page, browser: Browser, screenshot: Screenshot
) -> None:
    live_server.create_user(email=LEAD, name="Lee Lead", password=PASSWORD, role="lead")
    _set_up_project(live_server)
    lead_context = browser.new_context(viewport={"width": 1280, "height": 900})
    lead = lead_context.new_page()
    try:
        # The lead invites Nia from the project's People page and copies the link.
        log_in(lead, live_server.url, LEAD, PASSWORD)
        lead.goto(f"{live_server.url}/projects/onboard")
        lead.get_by_role("link", name="People").click()
        lead.get_by_label("Email").fill(NEWCOMER)
        lead.get_by_role("button", name="Create invite link").click()
        link = lead.get_by_label(re.compile("^Invite link")).input_value()
        assert link.startswith(f"{live_server.url}/invites/")
        screenshot(lead, "people-invite")

        # Nia opens it, chooses a password and lands on the project, logged in.
        page.goto(link)
        expect(page.get_by_role("heading", name="Join Onboarding")).to_be_visible()
        page.get_by_label("Your name").fill("Nia New")
        page.get_by_label("Choose a password").fill(PASSWORD)
        page.get_by_label("Confirm the password").fill(PASSWORD)
        page.get_by_role("button", name="Set password and join").click()
        expect(page.get_by_role("heading", name="Onboarding")).to_be_visible()

        # Work waits for the qualification test; she fails it and sees why.
        page.get_by_role("button", name="Start labeling").click()
        expect(page.get_by_role("heading", name="Qualify first")).to_be_visible()
        page.get_by_role("link", name="Take the qualification test").click()
        page.get_by_role("button", name="Start the test").click()
        _answer_test(page, right=False)
        expect(page.get_by_text(re.compile("You did not pass this time"))).to_be_visible()
        expect(page.get_by_text("Sarcasm: praise means blame.")).to_be_visible()
        screenshot(page, "qualification-failed")

        # She tries again (no cool-down here) and passes.
        page.get_by_role("link", name="Back to the test page").click()
        page.get_by_role("button", name="Start the test").click()
        _answer_test(page, right=True)
        expect(page.get_by_text("You qualified; start labeling.")).to_be_visible()
        page.get_by_role("link", name="Start labeling").click()

        # Two gold checks answered wrong (blind: the page never says gold) pause her.
        page.get_by_role("button", name="Start labeling").click()
        for _ in range(2):
            heading = page.get_by_role("heading", name=re.compile(r"^Item "))
            expect(heading).to_be_visible()
            assert "gold" not in page.content().lower()
            previous = heading.inner_text()
            # The item may have come as a whole page (a redirect): keys typed before htmx has
            # taken over the form would post it without htmx, which lands on the home page.
            page.wait_for_load_state()
            page.keyboard.press("3")
            expect(page.get_by_role("radio").nth(2)).to_be_checked()
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name=previous)).to_have_count(0)
        expect(page.get_by_role("heading", name="You are paused on this project")).to_be_visible()
        expect(page.get_by_text(re.compile(r"gold accuracy 0% \(0 of 2\)"))).to_be_visible()

        # The lead sees the notice on the workforce page and reinstates her.
        lead.goto(f"{live_server.url}/projects/onboard/workforce/")
        expect(lead.get_by_role("heading", name="Notices")).to_be_visible()
        expect(lead.get_by_text(re.compile("was paused automatically"))).to_be_visible()
        screenshot(lead, "workforce-notice")
        lead.get_by_role("button", name=re.compile("^Reinstate")).click()
        expect(lead.get_by_role("heading", name="Notices")).to_have_count(0)

        # Nia is back at work.
        page.goto(f"{live_server.url}/projects/onboard")
        page.get_by_role("button", name="Start labeling").click()
        expect(page.get_by_role("heading", name=re.compile(r"^Item "))).to_be_visible()
        assert page.console_errors == []  # type: ignore[attr-defined]
    finally:
        lead_context.close()

    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            nia = session.scalar(select(User).where(User.email == NEWCOMER))
            assert nia is not None and nia.name == "Nia New"
            membership = session.scalar(select(Membership).where(Membership.user_id == nia.id))
            assert membership is not None and membership.status == "active"
            assert membership.qualified_at is not None and membership.reinstated_at is not None
            attempts = session.scalars(
                select(QualificationAttempt.passed)
                .where(QualificationAttempt.user_id == nia.id)
                .order_by(QualificationAttempt.id)
            ).all()
            assert attempts == [False, True]
    finally:
        engine.dispose()
