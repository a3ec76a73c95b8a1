"""A lead and an admin at work in a real browser: counts via a background job, people, tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.domain.demo import load_demo
from app.domain.people import get_user_by_email
from app.domain.projects import add_member, get_project
from tests.browser.test_login import log_in

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser
Screenshot = Callable[[Page, str], Path]
PASSWORD = "correct horse battery staple"


def load_demo_into(live_server: LiveServer, member_email: str) -> None:
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            load_demo(session)
            add_member(
                session,
                get_project(session, "demo-sentiment"),
                get_user_by_email(session, member_email),
                actor_id=None,
            )
            session.commit()
    finally:
        engine.dispose()


def test_lead_recounts_a_project_through_the_job_queue(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given the demo project and a lead on it
    live_server.create_user(
        email="lee@example.org", name="Lee Lead", password=PASSWORD, role="lead"
    )
    load_demo_into(live_server, "lee@example.org")
    log_in(page, live_server.url, "lee@example.org", PASSWORD)
    # When the lead opens the project and asks for a recount
    page.get_by_role("link", name="Product review sentiment").click()
    expect(page.get_by_role("heading", name="Rules per edge-case tag")).to_be_visible()
    expect(page.get_by_text("sarcasm", exact=True)).to_be_visible()
    page.get_by_role("button", name="Recount now").click()
    # Then the counts panel fills in once the background job has run (HTMX polling)
    stats = page.locator("#project-stats")
    expect(stats.get_by_text("Annotations")).to_be_visible(timeout=20_000)
    expect(stats.locator("dd").first).to_have_text("300")
    screenshot(page, "project-lead")
    # And the home page table shows the same counts
    page.get_by_role("link", name="Projects").click()
    row = page.get_by_role("row", name=re.compile("Product review sentiment"))
    expect(row).to_contain_text("300")
    screenshot(page, "home-lead")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_admin_adds_a_person_and_issues_a_token(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given an admin
    live_server.create_user(
        email="root@example.org", name="Root Admin", password=PASSWORD, role="admin"
    )
    log_in(page, live_server.url, "root@example.org", PASSWORD)
    # When they add someone who already exists, they see what is wrong next to the field
    page.get_by_role("link", name="People").click()
    form = page.locator("#user-form")
    form.get_by_label("Email").fill("root@example.org")
    form.get_by_role("button", name="Add person").click()
    expect(page.locator("#user-form").get_by_text("already exists")).to_be_visible()
    # When they fix it, the person appears in the table with a one-time password
    page.locator("#user-form").get_by_label("Email").fill("new.lead@example.org")
    page.locator("#user-form").get_by_label("Role").select_option("lead")
    page.locator("#user-form").get_by_role("button", name="Add person").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("new.lead@example.org"))).to_be_visible()
    screenshot(page, "admin-people")
    # When they issue a token for that person, the secret is shown once
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Owner's email").fill("new.lead@example.org")
    page.get_by_label("Token name").fill("nightly-training")
    page.get_by_role("button", name="Issue token").click()
    expect(page.locator("code.secret")).to_have_text(re.compile(r"^acc_"))
    expect(page.get_by_role("row", name=re.compile("nightly-training"))).to_be_visible()
    screenshot(page, "admin-tokens")
    # And the jobs page shows the broker's state
    page.get_by_role("link", name="Jobs").click()
    expect(page.get_by_text("reachable")).to_be_visible()
    screenshot(page, "admin-jobs")
    assert page.console_errors == []  # type: ignore[attr-defined]
