"""Reading import files (JSON array, JSONL, CSV) into raw records, with errors naming the place.

Pure functions: bytes in, :class:`Record` s out, or :class:`InvalidInput` naming the line (JSONL,
CSV) or row (JSON array) and column. What the fields of a record must be is the importers'
business (:mod:`app.domain.item_parsing`, :mod:`app.domain.annotation_import`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.domain.errors import InvalidInput

MAX_REPORTED_ERRORS = 20
"""An error response lists at most this many problems (the first one is in the message)."""

FORMATS = ("json", "jsonl", "csv")
MEDIA_TYPES = {
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
}
CSV_LIST_SEPARATORS = re.compile(r"[;|]")
# Far above any field limit of the importers, so an over-long text reaches their check (and its
# message) rather than the csv module's "field larger than field limit".
_CSV_FIELD_LIMIT = 2_000_000


def format_for_media_type(media_type: str) -> str | None:
    """The import format for a Content-Type (parameters ignored), or None if unsupported."""
    return MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())


def format_for_filename(filename: str, body: bytes) -> str:
    """The import format of an uploaded file: by extension, else by sniffing its first byte."""
    name = filename.lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json")):
        if name.endswith(suffix):
            return fmt
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "jsonl"
    return "csv"


@dataclass(frozen=True, slots=True)
class Record:
    """One raw row: its 1-based position, its first physical line (JSONL, CSV) and its fields."""

    row: int
    line: int | None
    fields: dict[str, Any]
    from_csv: bool = False

    @property
    def where(self) -> str:
        """How an error names this row: ``line N`` for JSONL and CSV, ``row N`` for arrays."""
        return f"line {self.line}" if self.line is not None else f"row {self.row}"


class RowErrors:
    """Collects problems per row and field, then raises one InvalidInput naming them."""

    def __init__(self) -> None:
        self.problems: list[tuple[Record | None, str, str]] = []

    def add(self, record: Record | None, field: str, problem: str) -> None:
        """Note that ``field`` of ``record`` (None: the whole file) has ``problem``."""
        self.problems.append((record, field, problem))

    def __bool__(self) -> bool:
        return bool(self.problems)

    @property
    def full(self) -> bool:
        """True once enough problems are known that looking for more is pointless."""
        return len(self.problems) >= MAX_REPORTED_ERRORS

    def raise_if_any(self, summary: str) -> None:
        """Raise InvalidInput (message names the first problem) if anything was noted."""
        if not self.problems:
            return
        shown = self.problems[:MAX_REPORTED_ERRORS]
        fields: dict[str, str] = {}
        listed = []
        for record, field, problem in shown:
            where = record.where if record is not None else "file"
            fields.setdefault(f"{where}.{field}" if field else where, problem)
            listed.append(
                {
                    "row": record.row if record else None,
                    "line": record.line if record else None,
                    "field": field,
                    "message": problem,
                }
            )
        record, field, problem = shown[0]
        first = f"{record.where}: " if record is not None else ""
        first += f"{field} {problem}" if field else problem
        more = len(self.problems) - 1
        message = f"{summary}: {first}" + (f" (and {more} more)" if more else "")
        raise InvalidInput(
            message, field_errors=fields, details={"fields": fields, "errors": listed}
        )


def fail(
    message: str, field: str = "body", *, code: str | None = None, **details: Any
) -> InvalidInput:
    """An InvalidInput about the whole file (or one named field), with extra details."""
    return InvalidInput(
        message,
        field_errors={field: message},
        details={"fields": {field: message}, **details},
        code=code,
    )


def decode_utf8(body: bytes) -> str:
    """The body as text (a UTF-8 BOM is dropped), or InvalidInput naming the bad byte's line."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        raise fail(
            f"line {line}: the file is not valid UTF-8 (byte offset {exc.start}, "
            f"column {column}); save it as UTF-8 and try again",
            code="invalid_encoding",
            line=line,
            byte_offset=exc.start,
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every row: json.loads with options would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def loads(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity (not JSON, and not storable in JSONB)."""
    return _DECODER.decode(text)


def _too_many(max_rows: int) -> InvalidInput:
    return fail(
        f"at most {max_rows} rows per request and this file has more; split it",
        field="rows",
        code="too_many_rows",
    )


def _json_records(text: str, max_rows: int) -> list[Record]:
    try:
        data = loads(text)
    except json.JSONDecodeError as exc:
        raise fail(
            f"line {exc.lineno}: invalid JSON at column {exc.colno}: {exc.msg}",
            code="invalid_json",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except ValueError as exc:
        raise fail(f"invalid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, list):
        raise fail("expected a JSON array of rows", code="invalid_json")
    if len(data) > max_rows:
        raise _too_many(max_rows)
    records = []
    errors = RowErrors()
    for index, element in enumerate(data, start=1):
        record = Record(index, None, element if isinstance(element, dict) else {})
        if not isinstance(element, dict):
            errors.add(record, "", f"must be a JSON object, not {type_name(element)}")
        records.append(record)
    errors.raise_if_any("the file has rows that are not objects")
    return records


def _jsonl_records(text: str, max_rows: int) -> list[Record]:
    lines = text.split("\n")
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(lines, start=1)]
    numbered = [(n, line) for n, line in numbered if line.strip()]
    if len(numbered) > max_rows:
        raise _too_many(max_rows)
    records = []
    last_line = len(lines)
    for index, (line_no, line) in enumerate(numbered, start=1):
        try:
            data = loads(line)
        except json.JSONDecodeError as exc:
            truncated = line_no == last_line and (
                exc.msg.startswith("Unterminated") or exc.pos >= len(line.rstrip())
            )
            what = "is truncated" if truncated else "is not valid JSON"
            raise fail(
                f"line {line_no} {what} (column {exc.colno}: {exc.msg})",
                code="invalid_json",
                line=line_no,
                column=exc.colno,
            ) from None
        except ValueError as exc:
            raise fail(f"line {line_no}: {exc}", code="invalid_json", line=line_no) from None
        if not isinstance(data, dict):
            raise fail(
                f"line {line_no} must be a JSON object, not {type_name(data)}",
                code="invalid_json",
                line=line_no,
            )
        records.append(Record(index, line_no, data))
    return records


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = str(exc)
            if "unexpected end of data" in problem or "EOF" in problem:
                problem = "a quoted field is never closed (unbalanced quotes)"
            raise fail(f"line {start}: {problem}", code="invalid_csv", line=start) from None
        if values:
            yield start, values


def _csv_records(
    text: str, max_rows: int, columns: Sequence[str], required: Sequence[str]
) -> list[Record]:
    rows = _csv_rows(text)
    try:
        _, header = next(rows)
    except StopIteration:
        raise fail(
            "the CSV file is empty; its first line names the columns", code="invalid_csv"
        ) from None
    header = [name.strip().lower() for name in header]
    unknown = [name for name in header if name not in columns]
    if unknown:
        raise fail(
            f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the columns are {', '.join(columns)}",
            code="invalid_csv",
            line=1,
        )
    missing = [name for name in required if name not in header]
    if missing:
        raise fail(
            f"line 1: the header has no {', '.join(map(repr, missing))} column",
            code="invalid_csv",
            line=1,
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise fail(
            f"line 1: column(s) {', '.join(map(repr, duplicated))} appear twice",
            code="invalid_csv",
            line=1,
        )
    records = []
    for index, (line_no, values) in enumerate(rows, start=1):
        if index > max_rows:
            raise _too_many(max_rows)
        if len(values) != len(header):
            raise fail(
                f"line {line_no} has {len(values)} fields; the header has {len(header)}",
                code="invalid_csv",
                line=line_no,
            )
        records.append(
            Record(index, line_no, dict(zip(header, values, strict=True)), from_csv=True)
        )
    return records


def read_records(
    body: bytes,
    fmt: str,
    *,
    columns: Sequence[str],
    required: Sequence[str],
    max_rows: int,
) -> list[Record]:
    """Split a body into raw rows; syntax errors name the line (and column)."""
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
    text = decode_utf8(body)
    if fmt == "json":
        records = _json_records(text, max_rows)
    elif fmt == "jsonl":
        records = _jsonl_records(text, max_rows)
    else:
        records = _csv_records(text, max_rows, columns, required)
    if not records:
        raise fail("the file has no rows", field="rows", code="no_rows")
    return records


def type_name(value: Any) -> str:
    """How an error message names the JSON type of ``value`` ("a string", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
