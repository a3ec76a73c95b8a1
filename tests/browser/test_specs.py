"""A lead drafts, edits (HTMX, with inline validation), diffs and publishes a spec in Chromium."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.models import SpecVersion
from app.domain.people import get_user_by_email
from tests.browser.test_login import log_in
from tests.factories import make_project

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
PASSWORD = "correct horse battery"


def test_lead_drafts_fixes_a_mistake_diffs_and_publishes_a_spec(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given a lead and a project with spec v1 (labels positive/negative, a rule for sarcasm)
    live_server.create_user(email="lee@example.org", password=PASSWORD, role="lead")
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as s:
            lead = get_user_by_email(s, "lee@example.org")
            make_project(s, actor=lead, slug="sentiment", name="Sentiment")
            s.commit()
        base = live_server.url
        log_in(page, base, "lee@example.org", PASSWORD)

        # When the lead opens the spec versions and starts a draft
        page.goto(f"{base}/projects/sentiment")
        page.get_by_role("link", name="Spec versions").click()
        screenshot(page, "specs-list")
        page.get_by_role("button", name="New draft").click()
        expect(page.get_by_role("heading", name="Edit draft v2")).to_be_visible()

        # and saves a duplicate label key, the form says what is wrong and keeps the input
        page.get_by_label("Label 2 key").fill("positive")
        page.get_by_role("button", name="Save draft").first.click()
        expect(page.get_by_text("duplicate key 'positive'")).to_be_visible()
        expect(page.get_by_label("Label 2 key")).to_have_value("positive")
        screenshot(page, "specs-edit-invalid")

        # then fixes it, adds a rule for negation, rewrites the sarcasm rule and saves
        page.get_by_label("Label 2 key").fill("negative")
        page.get_by_label("Label 2 name").fill("Negative (any)")
        page.get_by_role("button", name="Add a rule row").click()
        expect(page.locator('input[name="rules-2-tag"]')).to_be_visible()
        page.locator('input[name="rules-1-tag"]').fill("negation")
        page.locator('textarea[name="rules-1-text"]').fill("A negated positive is negative.")
        page.locator('textarea[name="rules-0-text"]').fill("Label the literal words.")
        page.get_by_label("Changelog: what changed and why (annotators read this)").fill(
            "Negation rule; sarcasm is labelled literally."
        )
        page.get_by_label("Guidelines (Markdown)").fill(
            "Label the sentiment the author expresses.\n\nIgnore emoji."
        )
        page.get_by_role("button", name="Save draft").last.click()
        expect(page.get_by_text("Draft v2 saved.")).to_be_visible()
        screenshot(page, "specs-edit-saved")

        # Then the diff from v1 shows the rewritten rule
        page.get_by_role("link", name="Changes from v1").click()
        expect(page.get_by_text("Label the literal words.")).to_be_visible()
        screenshot(page, "specs-diff")

        # And publishing makes v2 the current version
        page.goto(f"{base}/projects/sentiment/specs/2/publish")
        screenshot(page, "specs-publish-confirm")
        page.get_by_role("button", name="Publish v2 now").click()
        expect(page.get_by_text("v2 is now the current spec version")).to_be_visible()
        screenshot(page, "specs-view")
        assert page.console_errors == []  # type: ignore[attr-defined]

        with Session(engine) as s:
            current = s.scalars(select(SpecVersion).where(SpecVersion.is_current)).one()
            assert (current.number, current.status) == (2, "published")
            assert current.changelog.startswith("Negation rule")
    finally:
        engine.dispose()
