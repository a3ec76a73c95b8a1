"""Every error, mapped in one place: JSON under /api, an HTML page (or fragment) elsewhere.

JSON errors always have the shape ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app.domain.errors import DomainError, InvalidInput
from app.web.auth import LoginRequired
from app.web.htmx import is_htmx, redirect_after_post

log = logging.getLogger("accord.web")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}
TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
}


def is_api(request: Request[Any, Any, Any]) -> bool:
    """True for requests to the JSON API."""
    return request.url.path.startswith("/api/")


def json_error(status: int, code: str, message: str, details: Any = None) -> Response[Any]:
    """The API's one error shape."""
    return Response(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        media_type=MediaType.JSON,
    )


def _html_error(
    request: Request[Any, Any, Any],
    status: int,
    message: str,
    fields: dict[str, str] | None = None,
) -> Response[Any]:
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message,
        "fields": fields or {},
    }
    name = "errors/_error.html" if is_htmx(request) else "errors/page.html"
    return Template(template_name=name, context=context, status_code=status)


def _login_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    target = "/login"
    if request.method == "GET" and request.url.path not in {"/", "/login"}:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(path, safe="/")
    return redirect_after_post(request, target)


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Map a DomainError to JSON, a login redirect, or an error page."""
    if is_api(request):
        return json_error(exc.status_code, exc.code, exc.message, exc.details)
    if isinstance(exc, LoginRequired):
        return _login_redirect(request)
    fields = exc.field_errors if isinstance(exc, InvalidInput) else None
    return _html_error(request, exc.status_code, exc.message, fields)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Map Litestar's own HTTP errors (404, 405, 413, CSRF 403, body validation)."""
    status = exc.status_code
    message = exc.detail or TITLES.get(status, "Error")
    details: Any = getattr(exc, "extra", None)
    if isinstance(exc, ValidationException):
        status = 422
        message = "the request is not valid: " + (exc.detail or "see details")
    if "CSRF" in message:
        message = "the form's security token is missing or stale; reload the page and try again"
    if is_api(request):
        return json_error(status, HTTP_CODES.get(status, "error"), message, details)
    return _html_error(request, status, message)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Log the traceback and answer 500 without leaking internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = "an unexpected error occurred; it has been logged"
    if is_api(request):
        return json_error(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", message)
    return _html_error(request, 500, message)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

__all__ = ["EXCEPTION_HANDLERS", "InvalidInput", "json_error"]
