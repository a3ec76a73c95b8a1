"""Every route declares who may use it; unauthenticated callers are turned away."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import TestClient

from app.web.auth import RULES, rule_of


def all_handlers(app: Litestar) -> list[tuple[str, str, object]]:
    handlers = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", {"WS"})):
                if method != "OPTIONS":  # Litestar's automatic Allow-listing handlers
                    handlers.append((method, route.path, handler))
    return handlers


def test_every_route_has_an_authorization_rule(app: Litestar) -> None:
    handlers = all_handlers(app)
    assert len(handlers) > 15
    missing = [f"{m} {p}" for m, p, h in handlers if rule_of(h) not in RULES]  # type: ignore[arg-type]
    assert missing == []


def test_only_login_health_static_and_schema_are_public(app: Litestar) -> None:
    public = {p for _, p, h in all_handlers(app) if rule_of(h) == "public"}  # type: ignore[arg-type]
    allowed = re.compile(r"^(/login|/healthz|/invites/\{token:str\}|/static.*|/api/v1/schema.*)$")
    assert public and all(allowed.match(p) for p in public), public


def test_api_routes_use_tokens_and_pages_use_sessions(app: Litestar) -> None:
    for _, path, handler in all_handlers(app):
        rule = rule_of(handler)  # type: ignore[arg-type]
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/schema"):
            assert rule == "token", path
        elif not path.startswith("/api/"):
            assert rule != "token", path


def test_anonymous_requests_are_refused_everywhere(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    for method, path, handler in all_handlers(app):
        rule = rule_of(handler)  # type: ignore[arg-type]
        if rule == "public" or method in {"HEAD", "OPTIONS"}:
            continue
        url = re.sub(r"\{(\w+):int\}", "1", path)
        url = re.sub(r"\{(\w+):str\}", "x", url)
        response = client.request(
            method,
            url,
            follow_redirects=False,
            headers={"x-csrftoken": "x"} if method != "GET" else {},
        )
        if rule == "token":
            assert response.status_code == 401, (method, url)
            assert response.json()["error"]["code"] == "missing_token"
        elif method == "GET":
            assert response.status_code == 303, (method, url)
        else:
            assert response.status_code in (303, 403), (method, url)
