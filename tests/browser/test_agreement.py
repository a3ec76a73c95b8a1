"""A lead goes from the overall alpha to the items behind the weakest tag, and rules on one."""

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
from app.db.models import Adjudication
from app.domain.demo import DEMO_SLUG, load_demo
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from tests.browser.test_login import log_in

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
PASSWORD = "correct horse battery"


def test_from_overall_alpha_to_the_items_behind_sarcasm_in_three_clicks(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given the demo project and a lead on it
    live_server.create_user(email="lee@example.org", password=PASSWORD, role="lead")
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as s:
            load_demo(s)
            add_member(
                s, get_project(s, DEMO_SLUG), get_user_by_email(s, "lee@example.org"), actor_id=None
            )
            s.commit()
        log_in(page, live_server.url, "lee@example.org", PASSWORD)
        page.goto(f"{live_server.url}/projects/{DEMO_SLUG}")

        # Click 1: the agreement overview shows alpha with its CI, a chart and tables
        page.get_by_role("link", name="Agreement").click()
        expect(
            page.get_by_role("heading", name=re.compile(r"^Overall: \u03b1 = 0\.\d{3}"))
        ).to_be_visible()
        expect(page.get_by_role("img", name="Agreement per edge-case tag")).to_be_visible()
        tag_table = page.get_by_role(
            "table", name="Agreement per edge-case tag (the chart's numbers)"
        )
        first_row = tag_table.locator("tbody tr").first
        expect(first_row.get_by_role("rowheader")).to_have_text("sarcasm")  # weakest first
        people = page.get_by_role("table", name=re.compile("each annotator's items"))
        expect(people.locator("tbody tr").first.get_by_role("rowheader")).to_have_text("farid")
        screenshot(page, "agreement-overview")

        # Click 2: the sarcasm drill-down, where Ana and Ben each keep to their own label
        first_row.get_by_role("link", name="sarcasm").click()
        expect(page.get_by_role("heading", name=re.compile("^Tag sarcasm"))).to_be_visible()
        expect(
            page.get_by_role("table", name=re.compile("per annotator and label"))
        ).to_be_visible()
        expect(
            page.get_by_role("heading", name=re.compile(r"^Disputed items \(\d+"))
        ).to_be_visible()
        screenshot(page, "agreement-tag-sarcasm")

        # Click 3: a disputed item, with every annotation side by side; the lead rules on it
        disputed = page.get_by_role("table", name=re.compile("differing labels"))
        item_link = disputed.locator("tbody tr").first.get_by_role("link")
        external_id = item_link.inner_text()
        item_link.click()
        expect(page.get_by_role("heading", name=f"Item {external_id}")).to_be_visible()
        page.get_by_role("radio", name="Negative").check()
        page.get_by_label("Rationale").fill("Praise said through gritted teeth: the intent counts.")
        page.get_by_role("button", name="Record ruling").click()
        expect(page.get_by_text("Ruling recorded.")).to_be_visible()
        screenshot(page, "item-adjudicated")
        assert page.console_errors == []  # type: ignore[attr-defined]

        with Session(engine) as s:
            ruling = s.scalars(select(Adjudication)).one()
            assert (ruling.value, ruling.revision) == ("negative", 1)
    finally:
        engine.dispose()
