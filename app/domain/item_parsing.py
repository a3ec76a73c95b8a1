"""Import rows (items and annotations): checking raw records field by field, and the limits.

Pure functions over :mod:`app.domain.import_files` records; problems raise :class:`InvalidInput`
naming the row (``line N`` for JSONL and CSV, ``row N`` for JSON arrays) and field. Checks that
need the database (known tags, existing items, spec labels) happen in the importers. The limits
below are part of the public contract (README, "Import limits"); the whole request is also capped
by ``Settings.max_body_bytes`` (``request_max_body_size``, 413).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from app.db.models.items import SPLITS
from app.domain.errors import InvalidInput
from app.domain.import_files import (
    CSV_LIST_SEPARATORS,
    Record,
    RowErrors,
    loads,
    read_records,
    type_name,
)
from app.domain.people import normalize_email
from app.domain.projects import TAG_RE

MAX_ROWS_PER_REQUEST = 100_000
"""Most rows one import request may carry."""
MAX_TEXT_CHARS = 100_000
"""Longest item text, in characters."""
MAX_EXTERNAL_ID_CHARS = 200
"""Longest ``external_id``, in characters (the column's width)."""
MAX_METADATA_DEPTH = 5
"""Deepest nesting of an item's metadata; the metadata object itself is depth 1."""
MAX_METADATA_BYTES = 16_384
"""Largest item metadata, as compact UTF-8 JSON."""
MAX_TAGS_PER_ROW = 50
"""Most edge-case tags one row may carry."""
MAX_COMMENT_CHARS = 5_000
"""Longest imported annotation comment, in characters."""
ITEM_FIELDS = ("external_id", "text", "tags", "split", "metadata")
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def check_unknown_fields(record: Record, allowed: Sequence[str], errors: RowErrors) -> None:
    """Note every field of a JSON row that is not one of ``allowed`` (typos lose data)."""
    for name in record.fields:
        if name not in allowed:
            errors.add(record, name, f"is not a field; the fields are {', '.join(allowed)}")


def blank(value: Any) -> bool:
    """True for a field that was left out: missing, null, or an empty CSV cell."""
    return value is None or (isinstance(value, str) and not value.strip())


def required_string(record: Record, name: str, errors: RowErrors, *, max_chars: int) -> str | None:
    """A required, non-blank string field of at most ``max_chars`` characters."""
    value = record.fields.get(name)
    if blank(value):
        errors.add(record, name, "is missing")
        return None
    if not isinstance(value, str):
        errors.add(record, name, f"must be a string, not {type_name(value)}")
        return None
    if len(value) > max_chars:
        errors.add(record, name, f"is {len(value)} characters long; at most {max_chars} allowed")
        return None
    if "\x00" in value:
        errors.add(record, name, "contains a NUL character")
        return None
    return value


def tag_list(record: Record, errors: RowErrors, name: str = "tags") -> tuple[str, ...]:
    """Tag names: a JSON list of strings, or one CSV cell separated by ``;`` or ``|``."""
    value = record.fields.get(name)
    if blank(value):
        return ()
    if record.from_csv and isinstance(value, str):
        names = [part.strip() for part in CSV_LIST_SEPARATORS.split(value) if part.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value]
    else:
        errors.add(record, name, f"must be a list of tag names, not {type_name(value)}")
        return ()
    if len(names) > MAX_TAGS_PER_ROW:
        errors.add(record, name, f"has {len(names)} tags; at most {MAX_TAGS_PER_ROW} allowed")
        return ()
    bad = [n for n in names if not TAG_RE.match(n)]
    if bad:
        errors.add(
            record,
            name,
            f"{bad[0]!r} is not a tag name (lower-case letters, digits, _ and -, at most 64)",
        )
        return ()
    return tuple(dict.fromkeys(names))


def metadata_depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0, ``{}`` is 1)."""
    if isinstance(value, dict):
        return 1 + max((metadata_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((metadata_depth(v) for v in value), default=0)
    return 0


def _metadata(record: Record, errors: RowErrors) -> dict[str, Any]:
    value = record.fields.get("metadata")
    if blank(value):
        return {}
    if record.from_csv and isinstance(value, str):
        try:
            value = loads(value)
        except ValueError as exc:
            errors.add(record, "metadata", f"is not a JSON object ({exc})")
            return {}
    if not isinstance(value, dict):
        errors.add(record, "metadata", f"must be a JSON object, not {type_name(value)}")
        return {}
    depth = metadata_depth(value)
    if depth > MAX_METADATA_DEPTH:
        errors.add(record, "metadata", f"nests {depth} levels deep; at most {MAX_METADATA_DEPTH}")
        return {}
    compact = _COMPACT.encode(value)
    # Every backslash in JSON output starts an escape, so with escaped backslashes gone a
    # remaining \u0000 is a real NUL (which PostgreSQL's JSONB refuses).
    if "\\u0000" in compact.replace("\\\\", ""):
        errors.add(record, "metadata", "contains a NUL character")
        return {}
    size = len(compact.encode())
    if size > MAX_METADATA_BYTES:
        errors.add(record, "metadata", f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES}")
        return {}
    return value


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One validated item row, ready to import."""

    record: Record
    external_id: str
    text: str
    tags: tuple[str, ...] = ()
    split: str = "train"
    metadata: dict[str, Any] = dataclass_field(default_factory=dict)

    @property
    def where(self) -> str:
        """How errors name this row (``line N`` or ``row N``)."""
        return self.record.where


def item_row(record: Record, errors: RowErrors) -> ItemRow | None:
    """Validate one raw record as an item row; problems go to ``errors``."""
    before = len(errors.problems)
    if not record.from_csv:
        check_unknown_fields(record, ITEM_FIELDS, errors)
    external_id = required_string(record, "external_id", errors, max_chars=MAX_EXTERNAL_ID_CHARS)
    text = required_string(record, "text", errors, max_chars=MAX_TEXT_CHARS)
    tags = tag_list(record, errors)
    split = record.fields.get("split")
    if blank(split):
        split = "train"
    elif not isinstance(split, str) or split.strip() not in SPLITS:
        shown = repr(split) if isinstance(split, str) else type_name(split)
        errors.add(record, "split", f"is {shown}; must be one of {', '.join(SPLITS)}")
    metadata = _metadata(record, errors)
    if len(errors.problems) > before or external_id is None or text is None:
        return None
    return ItemRow(record, external_id, text, tags, str(split).strip(), metadata)


def duplicate_ids(rows: Sequence[ItemRow], errors: RowErrors) -> None:
    """Note every row whose external_id an earlier row of the same request already used."""
    first: dict[str, ItemRow] = {}
    for row in rows:
        earlier = first.setdefault(row.external_id, row)
        if earlier is not row:
            errors.add(
                row.record,
                "external_id",
                f"{row.external_id!r} is also used by {earlier.where}; ids must be unique",
            )


def parse_item_rows(
    body: bytes, fmt: str, *, max_rows: int = MAX_ROWS_PER_REQUEST
) -> list[ItemRow]:
    """Parse and validate an items file; any problem raises InvalidInput naming row and field."""
    records = read_records(
        body, fmt, columns=ITEM_FIELDS, required=("external_id", "text"), max_rows=max_rows
    )
    errors = RowErrors()
    rows = []
    for record in records:
        row = item_row(record, errors)
        if row is not None:
            rows.append(row)
        if errors.full:
            break
    duplicate_ids(rows, errors)
    errors.raise_if_any("the items were not imported")
    return rows


ANNOTATION_FIELDS = (
    "external_id",
    "annotator",
    "value",
    "spec_version",
    "tags",
    "created_at",
    "comment",
    "unclear",
    "duration_ms",
)
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


@dataclass(frozen=True, slots=True)
class AnnotationRow:
    """One annotation row, checked for shape (not yet against the project)."""

    record: Record
    external_id: str
    annotator: str
    value: Any
    spec_version: int | None = None
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None
    comment: str = ""
    unclear: bool = False
    duration_ms: int | None = None


def _annotator(record: Record, errors: RowErrors) -> str | None:
    raw = required_string(record, "annotator", errors, max_chars=320)
    if raw is None:
        return None
    raw = raw.strip()
    if "@" in raw:
        try:
            return normalize_email(raw)
        except InvalidInput:
            errors.add(record, "annotator", f"{raw!r} is not an email address")
            return None
    handle = raw.lower()
    if not HANDLE_RE.match(handle):
        errors.add(record, "annotator", f"{raw!r} is neither an email nor a handle (a-z 0-9 . _ -)")
        return None
    return handle


def _whole_number(record: Record, name: str, errors: RowErrors) -> int | None:
    value = record.fields.get(name)
    if blank(value):
        return None
    if record.from_csv and isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    errors.add(record, name, f"must be a whole number >= 0, not {value!r}")
    return None


def _created_at(record: Record, errors: RowErrors) -> datetime | None:
    value = record.fields.get("created_at")
    if blank(value):
        return None
    if not isinstance(value, str):
        errors.add(record, "created_at", f"must be an ISO-8601 string, not {type_name(value)}")
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.add(record, "created_at", f"{value!r} is not an ISO-8601 date and time")
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _unclear(record: Record, errors: RowErrors) -> bool:
    value = record.fields.get("unclear")
    if value is None or isinstance(value, bool):
        return bool(value)
    if record.from_csv and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    errors.add(record, "unclear", f"must be true or false, not {value!r}")
    return False


def _comment(record: Record, errors: RowErrors) -> str:
    value = record.fields.get("comment")
    if blank(value):
        return ""
    return required_string(record, "comment", errors, max_chars=MAX_COMMENT_CHARS) or ""


def annotation_row(record: Record, errors: RowErrors) -> AnnotationRow | None:
    """Check one raw record's shape as an annotation row; problems go to ``errors``."""
    before = len(errors.problems)
    if not record.from_csv:
        check_unknown_fields(record, ANNOTATION_FIELDS, errors)
    external_id = required_string(record, "external_id", errors, max_chars=MAX_EXTERNAL_ID_CHARS)
    annotator = _annotator(record, errors)
    value = record.fields.get("value")
    if blank(value):
        errors.add(record, "value", "is missing")
    row = AnnotationRow(
        record,
        external_id or "",
        annotator or "",
        value,
        spec_version=_whole_number(record, "spec_version", errors),
        tags=tag_list(record, errors),
        created_at=_created_at(record, errors),
        comment=_comment(record, errors),
        unclear=_unclear(record, errors),
        duration_ms=_whole_number(record, "duration_ms", errors),
    )
    return row if len(errors.problems) == before else None


def parse_annotation_rows(
    body: bytes, fmt: str, *, max_rows: int = MAX_ROWS_PER_REQUEST
) -> list[AnnotationRow]:
    """Parse an annotations file; any problem raises InvalidInput naming row and field."""
    records = read_records(
        body,
        fmt,
        columns=ANNOTATION_FIELDS,
        required=("external_id", "annotator", "value"),
        max_rows=max_rows,
    )
    errors = RowErrors()
    rows = []
    for record in records:
        row = annotation_row(record, errors)
        if row is not None:
            rows.append(row)
        if errors.full:
            break
    errors.raise_if_any("the annotations were not imported")
    return rows


def csv_value(kind: str, value: Any) -> Any:
    """A CSV cell as the value the task kind expects (JSON rows already carry typed values)."""
    text = str(value).strip()
    if kind == "multi_choice":
        return [part.strip() for part in CSV_LIST_SEPARATORS.split(text) if part.strip()]
    if kind == "numeric":
        try:
            return float(text)
        except ValueError:
            return text
    return text
