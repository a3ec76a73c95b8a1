"""The loop no other tool closes, in a real browser on the demo: the scan flags sarcasm as a
spec ambiguity, the lead drafts v2 from the hotspot, previews the impact and publishes; an
annotator acknowledges what changed and re-labels; the campaign page follows it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.models import Assignment, SpecAcknowledgement, User
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.people import get_user_by_email, set_password
from app.domain.projects import add_member, get_project
from tests.browser.test_login import log_in

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
PASSWORD = "correct horse battery"
NEW_RULE = "Label what the author **means**: praise said sarcastically is negative."
SLOW = 30_000  # ms: background jobs (scan, campaign) run in the embedded worker


def test_from_hotspot_to_fix_to_relabeling(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given the demo, a lead on it, and Ana (who labeled under v1) able to log in
    live_server.create_user(email="lee@example.org", password=PASSWORD, role="lead")
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as s:
            load_demo(s)
            project = get_project(s, DEMO_SLUG)
            add_member(s, project, get_user_by_email(s, "lee@example.org"), actor_id=None)
            ana = s.scalars(select(User).where(User.handle == "ana")).one()
            set_password(s, ana.id, PASSWORD, actor_id=None)
            ana_email, ana_id = ana.email, ana.id
            s.commit()
        base = f"{live_server.url}/projects/{DEMO_SLUG}"

        # The lead scans for hotspots: sarcasm is a spec ambiguity, farid is noise
        log_in(page, live_server.url, "lee@example.org", PASSWORD)
        page.goto(f"{base}/hotspots/")
        page.get_by_role("button", name="Scan now").click()
        table = page.get_by_role("table", name="Hotspots, strongest first")
        sarcasm_row = table.locator("tbody tr").filter(has_text="sarcasm")
        expect(sarcasm_row).to_contain_text("spec ambiguity", timeout=SLOW)
        expect(table.locator("tbody tr").filter(has_text="farid")).to_contain_text(
            "annotator noise"
        )
        screenshot(page, "hotspots")

        # Its evidence, then "Draft a spec fix": the draft opens with the sarcasm rule in focus
        sarcasm_row.get_by_role("link").click()
        expect(page.get_by_role("heading", name=re.compile("^Tag sarcasm"))).to_be_visible()
        expect(page.get_by_role("table", name=re.compile("Annotator by label"))).to_be_visible()
        screenshot(page, "hotspot-sarcasm")
        page.get_by_role("button", name="Draft a spec fix").click()
        expect(page.get_by_role("heading", name="Edit draft v2")).to_be_visible()
        rule = page.locator("#rule-sarcasm textarea")
        expect(rule).to_be_focused()
        rule.fill(NEW_RULE)
        page.get_by_role("button", name="Save draft").last.click()
        expect(page.get_by_text("Draft v2 saved.")).to_be_visible()
        impact = page.locator("#impact")
        expect(impact).to_contain_text("go back for re-labeling")
        expect(impact).to_contain_text("rule:sarcasm")

        # Review and publish: the impact is on the confirmation page too
        page.get_by_role("link", name="Review and publish…").click()
        expect(page.get_by_text("annotator-hours")).to_be_visible()
        screenshot(page, "publish-impact")
        page.get_by_role("button", name="Publish v2 now").click()
        page.get_by_role("link", name="follow the campaign").click()
        expect(page.get_by_role("heading", name="Re-label campaign for spec v2")).to_be_visible()
        expect(
            page.get_by_text(re.compile(r"0 of \d+ re-label assignments submitted"))
        ).to_be_visible(timeout=SLOW)
        screenshot(page, "campaign-started")

        # Ana must acknowledge v2 (the changed rule first) before she gets re-label work
        page.context.clear_cookies()
        log_in(page, live_server.url, ana_email, PASSWORD)
        page.goto(f"{base}/work")
        expect(page.get_by_role("heading", name="Spec v2 changed the rules")).to_be_visible()
        expect(page.get_by_text("praise said sarcastically is negative")).to_be_visible()
        screenshot(page, "acknowledge-v2")
        page.get_by_role("button", name=re.compile("I have read what changed")).click()
        negative = page.get_by_role("radio", name=re.compile("Negative"))
        expect(negative).to_be_visible()  # the re-label task came straight after
        expect(page.get_by_text("praise said sarcastically is negative")).to_be_visible()
        page.keyboard.press("2")
        expect(negative).to_be_checked()
        page.keyboard.press("Enter")
        expect(page.get_by_text(re.compile("Submitted"))).to_be_visible()
        assert page.console_errors == []  # type: ignore[attr-defined]

        with Session(engine) as s:
            acknowledged = s.scalar(
                select(SpecAcknowledgement.id).where(SpecAcknowledgement.user_id == ana_id)
            )
            assert acknowledged is not None
            done = s.scalars(
                select(Assignment)
                .where(Assignment.user_id == ana_id, Assignment.state == "submitted")
                .order_by(Assignment.id.desc())
            ).first()
            assert done is not None and (done.kind, done.label_round) == ("relabel", 2)

        # The lead sees the campaign move and the before/after table
        page.context.clear_cookies()
        log_in(page, live_server.url, "lee@example.org", PASSWORD)
        page.goto(f"{base}/campaigns/2")
        expect(
            page.get_by_text(re.compile(r"^1 of \d+ re-label assignments submitted"))
        ).to_be_visible()
        expect(page.get_by_role("table", name=re.compile("before and after"))).to_contain_text(
            "sarcasm"
        )
        screenshot(page, "campaign-progress")
    finally:
        engine.dispose()
