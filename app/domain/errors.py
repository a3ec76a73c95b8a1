"""The one error tree the domain raises; the web layer maps it to pages, partials and JSON."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base for every expected failure. ``code`` is stable and machine-readable."""

    code = "error"
    status_code = 400

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""

    code = "not_found"
    status_code = 404


class Conflict(DomainError):
    """The request clashes with the current state (stale version, duplicate, expired lease)."""

    code = "conflict"
    status_code = 409


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    code = "forbidden"
    status_code = 403


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code = "unauthenticated"
    status_code = 401


class RateLimited(DomainError):
    """Too many attempts; try again later."""

    code = "rate_limited"
    status_code = 429


class InvalidInput(DomainError):
    """Input failed validation; ``field_errors`` maps each field to what is wrong with it."""

    code = "invalid_input"
    status_code = 422

    def __init__(
        self,
        message: str,
        *,
        field_errors: dict[str, str] | None = None,
        details: Any = None,
        code: str | None = None,
    ) -> None:
        self.field_errors = dict(field_errors or {})
        super().__init__(
            message,
            details=details if details is not None else {"fields": self.field_errors},
            code=code,
        )
