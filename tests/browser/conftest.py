"""Browser-test harness: a live Accord server per test and Debian's headless Chromium.

``live_server`` runs the real app (migrated SQLite file, embedded job worker) under uvicorn on a
free 127.0.0.1 port in a background thread. ``browser`` is one Chromium per session, launched
from ``/usr/bin/chromium`` (never a downloaded browser); without it the tests skip locally and
fail under ``CI=true``. ``page`` is a fresh browser context per test whose console errors,
uncaught exceptions and CSP violations land in ``page.console_errors``. ``screenshot(page, name)``
keeps a PNG under ``tests/browser/artifacts/`` (git-ignored) for reviewers.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright
from sqlalchemy.orm import Session

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.domain.people import create_user
from app.settings import Settings

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 30.0
ANSWER_TYPES = {"document", "xhr", "fetch"}  # what the user's action asked for, not sub-resources
HTTP_4XX_NOTE = "Failed to load resource: the server responded with a status of 4"
# Reports CSP violations to the test; init scripts and bindings are not subject to the page's CSP.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__accordCspViolation(
    `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
    ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`
  );
});
"""


@dataclass(frozen=True)
class BrowserUser:
    """A user created for a test, with the password it logs in with."""

    id: int
    email: str
    name: str
    role: str
    password: str


@dataclass(frozen=True)
class LiveServer:
    """A running Accord: its base URL and the settings it was built with."""

    url: str
    settings: Settings

    def create_user(
        self,
        *,
        email: str,
        password: str,
        role: str = "annotator",
        name: str = "",
    ) -> BrowserUser:
        """Create and commit a user straight in the server's database (not through the UI)."""
        engine = make_engine(self.settings.database_url)
        try:
            with Session(engine) as session:
                user, _ = create_user(session, email=email, role=role, name=name, password=password)
                session.commit()
                return BrowserUser(user.id, user.email or email, user.name, user.role, password)
        finally:
            engine.dispose()


def _free_socket() -> socket.socket:
    """A socket already bound to a free loopback port, so no other process can take the port
    between choosing it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    """The real app on a fresh, migrated SQLite file, served by uvicorn in a thread."""
    from app.web.app import create_app  # imported here so a broken app fails only these tests

    db_path = tmp_path / "accord.db"
    shutil.copy(sqlite_template, db_path)
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{db_path}",
        broker_url="embedded",
        load_demo=False,
        data_dir=str(tmp_path),
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)  # the template is at head already; this keeps the fixture honest if not
    engine.dispose()

    app = create_app(settings)
    sock = _free_socket()
    host, port = sock.getsockname()
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="accord-live-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            sock.close()
            pytest.fail("the live server stopped during start-up (its log is above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the live server did not start within {SERVER_START_TIMEOUT_S:.0f}s")
        time.sleep(0.02)  # polling for readiness, not timing anything
    try:
        yield LiveServer(url=f"http://{host}:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, one per test session."""
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: install the Debian packages chromium and chromium-driver "
            "(./scripts/test does so when run as root)"
        )
        if IN_CI:
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    except BaseException:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the test item so ``page`` can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context (no shared cookies) that records console errors,
    uncaught exceptions and CSP violations in ``page.console_errors``.

    A 4xx answer to a page load or an htmx request (401 for a wrong password, 422 for a form
    with errors) is behaviour the test checks on the page, so Chromium's "Failed to load
    resource" note about it is not recorded. Any 5xx, and a 4xx for a script, stylesheet,
    image or favicon, is.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    errors: list[str] = []
    answered_4xx: set[str] = set()

    def on_response(response: Response) -> None:
        if 400 <= response.status < 500 and response.request.resource_type in ANSWER_TYPES:
            answered_4xx.add(response.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if message.text.startswith(HTTP_4XX_NOTE) and where in answered_4xx:
            return
        errors.append(f"console error: {message.text} ({where})")

    def on_csp_violation(description: str) -> None:
        errors.append(description)

    context.expose_function("__accordCspViolation", on_csp_violation)
    context.add_init_script(CSP_LISTENER)
    new_page = context.new_page()
    new_page.on("response", on_response)
    new_page.on("console", on_console)
    new_page.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    new_page.console_errors = errors  # type: ignore[attr-defined]
    yield new_page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed and not new_page.is_closed():
        _save_screenshot(new_page, f"FAILED-{request.node.name}")
    context.close()


def _save_screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    path = ARTIFACTS / (safe if safe.endswith(".png") else f"{safe}.png")
    page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, "login")`` saves ``tests/browser/artifacts/login.png`` (full page)."""
    return _save_screenshot
