"""Form parsing shared by the page controllers."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

from app.db.models import Project
from app.domain.errors import DomainError, InvalidInput

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def field(form: dict[str, Any], name: str, default: str = "") -> str:
    """One text field, trimmed; the first value if the field was sent twice."""
    value = form.get(name, default)
    if isinstance(value, list):
        value = value[0] if value else default
    return str(value).strip()


def many(form: dict[str, Any], name: str) -> list[str]:
    """Every non-empty value of a repeated field (checkboxes, multi-selects)."""
    value = form.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values if str(v).strip()]


def text_block(form: dict[str, Any], name: str) -> str:
    """A multi-line text field (rationale, explanation, comment) with browser line ends
    normalized; kept as typed otherwise."""
    return str(form.get(name, "")).replace("\r\n", "\n")


def task_value(project: Project, form: dict[str, Any], name: str) -> Any:
    """A value field in the task kind's shape: label keys for multi-choice, a number for
    numeric (a bad number stays text for the domain to name), else one label key."""
    if project.kind == "multi_choice":
        return many(form, name)
    raw: Any = field(form, name)
    if project.kind == "numeric" and raw:
        with suppress(ValueError):
            raw = float(raw)
    return raw


def field_errors(exc: DomainError, field_name: str) -> dict[str, str]:
    """The per-field problems of a refused form: InvalidInput's own, the fields a Conflict
    names in its details, else the message against ``field_name``."""
    if isinstance(exc, InvalidInput):
        return exc.field_errors
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    return dict(fields) if fields else {field_name: exc.message}
