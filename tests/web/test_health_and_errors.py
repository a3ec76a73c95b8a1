"""Health endpoint, error pages, Markdown sanitizing and the OpenAPI schema."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

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
