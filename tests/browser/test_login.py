"""Logging in and out in a real browser, the way an annotator does it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

EMAIL = "ada@example.org"
NAME = "Ada Lovelace"
PASSWORD = "correct horse battery staple"
ON_LOGIN_PAGE = re.compile(r"/login(\?.*)?$")

Screenshot = Callable[[Page, str], Path]


def log_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Open the login page and submit the form with these credentials."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_annotator_logs_in_sees_their_projects_and_logs_out(
    live_server: LiveServer, page: Page, screenshot: Screenshot
) -> None:
    # Given an annotator with a password
    live_server.create_user(email=EMAIL, name=NAME, password=PASSWORD, role="annotator")

    # When they open the login page and log in
    page.goto(f"{live_server.url}/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    screenshot(page, "login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # Then they land on the home page, with their projects and who they are in the header
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name=re.compile("Your projects"))).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text(re.compile(f"{NAME}|{re.escape(EMAIL)}"))
    screenshot(page, "home-annotator")

    # When they log out
    page.get_by_role("button", name="Log out").click()

    # Then they are back on the login page, and the home page is closed to them
    expect(page).to_have_url(ON_LOGIN_PAGE)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(ON_LOGIN_PAGE)
    expect(page.get_by_label("Password", exact=True)).to_be_visible()

    assert page.console_errors == []  # type: ignore[attr-defined]


def test_wrong_password_is_refused_with_an_alert_and_no_session(
    live_server: LiveServer, page: Page
) -> None:
    # Given an annotator with a password
    live_server.create_user(email=EMAIL, name=NAME, password=PASSWORD, role="annotator")

    # When they log in with the wrong password
    log_in(page, live_server.url, EMAIL, "not the password at all")

    # Then the login page says so in an alert, keeps the email they typed, and lets no one in
    expect(page.get_by_role("alert")).to_contain_text("email or password is wrong")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_have_value(EMAIL)
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(ON_LOGIN_PAGE)

    assert page.console_errors == []  # type: ignore[attr-defined]
