"""Health endpoint, error pages, Markdown sanitizing and the OpenAPI schema."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from litestar import Litestar
from litestar.testing import TestClient

from app.web.app import REQUEST_THREADS
from app.web.markdown import render_markdown


def test_healthz_reports_database_and_broker(client: TestClient[Litestar]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_unknown_page_is_a_friendly_404_and_unknown_api_path_is_json(
    client: TestClient[Litestar],
) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "Not found" in page.text and "<html" in page.text
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_openapi_schema_is_served_and_lists_the_api(client: TestClient[Litestar]) -> None:
    schema = client.get("/api/v1/schema/openapi.json").json()
    assert schema["info"]["title"] == "Accord API"
    assert "/api/v1/projects" in schema["paths"]
    assert "/api/v1/jobs/{job_id}" in schema["paths"]
    assert "BearerToken" in schema["components"]["securitySchemes"]


def test_markdown_is_sanitized() -> None:
    html = str(
        render_markdown(
            "# Rule\n<script>alert(1)</script>\n[x](javascript:alert(1))\n"
            "<img src=x onerror=alert(1)> **ok**"
        )
    )
    assert "<h1>Rule</h1>" in html and "<strong>ok</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html


def test_every_answer_says_how_long_the_server_took(client: TestClient[Litestar]) -> None:
    for path in ("/healthz", "/login", "/api/v1/projects/"):
        timing = client.get(path).headers["server-timing"]
        assert timing.startswith("app;dur="), path
        assert float(timing.removeprefix("app;dur=")) >= 0


def test_the_sqlite_pool_keeps_a_connection_for_every_request_thread(
    client: TestClient[Litestar],
) -> None:
    async def thread_limit() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    # In a thread of its own: other tests (the browser's) may leave a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        limit = pool.submit(anyio.run, thread_limit).result()
    assert limit == REQUEST_THREADS  # the limit the pool is sized for
    engine = client.app.state.engine
    if engine.dialect.name == "sqlite":
        assert engine.pool.size() == REQUEST_THREADS
