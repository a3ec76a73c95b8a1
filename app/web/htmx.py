"""One helper decides between a full page and the partial an HTMX request swaps in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.response import Redirect, Response, Template


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """True for an HTMX request that expects a fragment (not a history restore)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def page_or_partial(
    request: Request[Any, Any, Any],
    page: str,
    partial: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    trigger: str | None = None,
) -> Template:
    """Render ``partial`` for HTMX requests and ``page`` (which includes it) otherwise."""
    headers = {"Vary": "HX-Request"}
    if trigger:
        headers["HX-Trigger"] = trigger
    return Template(
        template_name=partial if is_htmx(request) else page,
        context=dict(context),
        status_code=status_code,
        headers=headers,
    )


def redirect_after_post(request: Request[Any, Any, Any], target: str) -> Response[Any]:
    """Go to ``target`` after a change: ``HX-Redirect`` for HTMX, a 303 for a plain form."""
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)
