"""Form parsing shared by the page controllers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

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
