"""Reading import files: every format, every limit at the limit and one past it, and errors that
name the line or row and the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.errors import InvalidInput
from app.domain.import_files import MAX_REPORTED_ERRORS, format_for_filename, format_for_media_type
from app.domain.item_parsing import (
    MAX_COMMENT_CHARS,
    MAX_EXTERNAL_ID_CHARS,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_ROWS_PER_REQUEST,
    MAX_TAGS_PER_ROW,
    MAX_TEXT_CHARS,
    parse_annotation_rows,
    parse_item_rows,
)


def jsonl(*rows: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def refused(body: bytes, fmt: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_item_rows(body, fmt)
    return caught.value


# ---- the three formats ----------------------------------------------------------------------


def test_a_json_array_becomes_rows_with_defaults() -> None:
    body = json.dumps(
        [
            {"external_id": "a", "text": "Great phone"},
            {
                "external_id": "b",
                "text": "Meh",
                "tags": ["sarcasm"],
                "split": "eval",
                "metadata": {"source": "app", "stars": 3},
            },
        ]
    ).encode()
    rows = parse_item_rows(body, "json")
    assert [(r.external_id, r.text, r.tags, r.split, r.metadata) for r in rows] == [
        ("a", "Great phone", (), "train", {}),
        ("b", "Meh", ("sarcasm",), "eval", {"source": "app", "stars": 3}),
    ]
    assert rows[1].where == "row 2"


def test_jsonl_skips_blank_lines_and_counts_physical_lines() -> None:
    body = b'{"external_id": "a", "text": "one"}\n\n{"external_id": "b", "text": "two"}\r\n'
    rows = parse_item_rows(body, "jsonl")
    assert [(r.external_id, r.where) for r in rows] == [("a", "line 1"), ("b", "line 3")]


def test_csv_splits_tags_on_semicolon_or_pipe_and_reads_metadata_json() -> None:
    body = (
        b"external_id,text,tags,split,metadata\n"
        b'r1,"Hello, world",sarcasm;negation,holdout,"{""lang"": ""en""}"\n'
        b'r2,"two\nlines",a|b,,\n'
        b"r3,plain,,,\n"
    )
    rows = parse_item_rows(body, "csv")
    assert [(r.external_id, r.text, r.tags, r.split, r.metadata) for r in rows] == [
        ("r1", "Hello, world", ("sarcasm", "negation"), "holdout", {"lang": "en"}),
        ("r2", "two\nlines", ("a", "b"), "train", {}),
        ("r3", "plain", (), "train", {}),
    ]
    # r3 starts on line 5 because r2's text spans two lines
    assert rows[2].where == "line 5"


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    rows = parse_item_rows(b"\xef\xbb\xbfexternal_id,text\nx,caf\xc3\xa9\n", "csv")
    assert rows[0].text == "café"


def test_formats_come_from_the_content_type_or_the_file_name() -> None:
    assert format_for_media_type("application/json; charset=utf-8") == "json"
    assert format_for_media_type("application/x-ndjson") == "jsonl"
    assert format_for_media_type("text/csv") == "csv"
    assert format_for_media_type("text/plain") is None
    assert format_for_filename("items.JSONL", b"") == "jsonl"
    assert format_for_filename("items.csv", b"[") == "csv"
    assert format_for_filename("upload", b"  [{}]") == "json"
    assert format_for_filename("upload", b'{"a": 1}') == "jsonl"
    assert format_for_filename("upload", b"external_id,text") == "csv"


# ---- syntax errors name the place -----------------------------------------------------------


def test_invalid_utf8_names_the_line_and_byte_offset() -> None:
    body = b"external_id,text\nok,fine\nbad,caf\xe9 au lait\n"
    error = refused(body, "csv")
    assert error.code == "invalid_encoding"
    assert "line 3" in error.message and "not valid UTF-8" in error.message
    assert error.details["byte_offset"] == body.index(b"\xe9")


def test_truncated_jsonl_names_the_last_line() -> None:
    body = jsonl({"external_id": "a", "text": "one"}, {"external_id": "b", "text": "two"})
    error = refused(body[:-5], "jsonl")
    assert error.message.startswith("line 2 is truncated")
    assert error.details["line"] == 2


def test_a_broken_jsonl_line_in_the_middle_is_named() -> None:
    body = b'{"external_id": "a", "text": "one"}\n{"external_id": "b" "text": "x"}\n{}\n'
    error = refused(body, "jsonl")
    assert error.message.startswith("line 2 is not valid JSON")
    assert "column" in error.message


def test_a_jsonl_line_that_is_not_an_object_is_named() -> None:
    assert refused(b'{"external_id": "a", "text": "x"}\n[1]\n', "jsonl").message.startswith(
        "line 2 must be a JSON object"
    )


def test_invalid_json_array_names_line_and_column() -> None:
    error = refused(b'[\n  {"external_id": "a", "text": "x"},\n  {"external_id": }\n]', "json")
    assert error.message.startswith("line 3: invalid JSON at column")
    assert error.details["line"] == 3


def test_a_json_body_that_is_not_an_array_is_refused() -> None:
    assert "JSON array" in refused(b'{"external_id": "a"}', "json").message


def test_nan_is_not_json() -> None:
    assert (
        "NaN"
        in refused(b'[{"external_id": "a", "text": "x", "metadata": {"v": NaN}}]', "json").message
    )


def test_unbalanced_csv_quotes_name_the_line_where_the_field_opens() -> None:
    body = b'external_id,text\nr1,fine\nr2,"never closed\nr3,swallowed\n'
    error = refused(body, "csv")
    assert error.message == "line 3: a quoted field is never closed (unbalanced quotes)"


def test_csv_header_problems_are_named() -> None:
    assert "unknown column(s) 'txt'" in refused(b"external_id,txt\n", "csv").message
    assert "unknown column(s) 'label'" in refused(b"external_id,text,label\n", "csv").message
    assert "no 'text' column" in refused(b"external_id,split\nx,train\n", "csv").message
    assert "appear twice" in refused(b"external_id,text,text\n", "csv").message
    assert (
        "line 3 has 3 fields; the header has 2"
        in refused(b"external_id,text\na,b\nc,d,e\n", "csv").message
    )


def test_an_empty_file_has_no_rows() -> None:
    assert refused(b"[]", "json").code == "no_rows"
    assert refused(b"\n\n", "jsonl").code == "no_rows"
    assert refused(b"external_id,text\n", "csv").code == "no_rows"


# ---- field errors name row and field --------------------------------------------------------


def test_a_missing_field_names_row_and_field() -> None:
    error = refused(jsonl({"external_id": "a", "text": "x"}, {"external_id": "b"}), "jsonl")
    assert error.message == "the items were not imported: line 2: text is missing"
    assert error.field_errors == {"line 2.text": "is missing"}


def test_wrong_types_name_row_and_field() -> None:
    body = json.dumps(
        [
            {"external_id": 7, "text": "x"},
            {"external_id": "b", "text": "x", "tags": "sarcasm"},
            {"external_id": "c", "text": "x", "metadata": [1]},
            {"external_id": "d", "text": "x", "split": "test"},
        ]
    ).encode()
    error = refused(body, "json")
    assert error.field_errors == {
        "row 1.external_id": "must be a string, not a number",
        "row 2.tags": "must be a list of tag names, not a string",
        "row 3.metadata": "must be a JSON object, not a list",
        "row 4.split": "is 'test'; must be one of train, eval, holdout",
    }
    assert error.message.endswith("(and 3 more)")


def test_unknown_fields_in_json_rows_are_refused_not_dropped() -> None:
    error = refused(jsonl({"external_id": "a", "text": "x", "label": "pos"}), "jsonl")
    assert "line 1.label" in error.field_errors


def test_bad_tag_names_and_bad_csv_metadata_are_named() -> None:
    body = b"external_id,text,tags,metadata\na,x,Sarcasm,\nb,x,,{not json}\n"
    error = refused(body, "csv")
    assert "'Sarcasm' is not a tag name" in error.field_errors["line 2.tags"]
    assert error.field_errors["line 3.metadata"].startswith("is not a JSON object")


def test_nul_characters_are_refused() -> None:
    error = refused(jsonl({"external_id": "a", "text": "x\u0000y"}), "jsonl")
    assert error.field_errors == {"line 1.text": "contains a NUL character"}


def test_duplicate_external_ids_name_both_rows() -> None:
    body = b"external_id,text\na,one\nb,two\na,three\n"
    error = refused(body, "csv")
    assert error.field_errors == {
        "line 4.external_id": "'a' is also used by line 2; ids must be unique"
    }


def test_at_most_the_first_problems_are_listed() -> None:
    body = jsonl(*({"external_id": f"r{i}"} for i in range(100)))
    error = refused(body, "jsonl")
    assert len(error.details["errors"]) == MAX_REPORTED_ERRORS
    assert error.message.startswith("the items were not imported: line 1: text is missing")


# ---- limits: at the limit and one past it ---------------------------------------------------


def test_rows_per_request_limit() -> None:
    header = b"external_id,text\n"
    at_limit = header + b"".join(b"%d,t\n" % i for i in range(MAX_ROWS_PER_REQUEST))
    assert len(parse_item_rows(at_limit, "csv")) == MAX_ROWS_PER_REQUEST
    error = refused(at_limit + b"extra,t\n", "csv")
    assert error.code == "too_many_rows" and f"at most {MAX_ROWS_PER_REQUEST} rows" in error.message


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_rows_per_request_limit_in_json_formats(fmt: str) -> None:
    rows = [{"external_id": str(i), "text": "t"} for i in range(MAX_ROWS_PER_REQUEST + 1)]
    body = jsonl(*rows) if fmt == "jsonl" else json.dumps(rows).encode()
    assert refused(body, fmt).code == "too_many_rows"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_length_limit(fmt: str) -> None:
    def body(n: int) -> bytes:
        if fmt == "csv":
            return b"external_id,text\na," + b"x" * n + b"\n"
        return jsonl({"external_id": "a", "text": "x" * n})

    assert len(parse_item_rows(body(MAX_TEXT_CHARS), fmt)[0].text) == MAX_TEXT_CHARS
    error = refused(body(MAX_TEXT_CHARS + 1), fmt)
    where = "line 2" if fmt == "csv" else "line 1"
    expected = f"is {MAX_TEXT_CHARS + 1} characters long; at most {MAX_TEXT_CHARS} allowed"
    assert error.field_errors == {f"{where}.text": expected}


def test_external_id_length_limit() -> None:
    ok = "é" * MAX_EXTERNAL_ID_CHARS  # characters, not bytes
    assert parse_item_rows(jsonl({"external_id": ok, "text": "x"}), "jsonl")[0].external_id == ok
    error = refused(jsonl({"external_id": ok + "e", "text": "x"}), "jsonl")
    assert "line 1.external_id" in error.field_errors


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_metadata_depth_limit() -> None:
    at_limit = nested(MAX_METADATA_DEPTH)
    rows = parse_item_rows(jsonl({"external_id": "a", "text": "x", "metadata": at_limit}), "jsonl")
    assert rows[0].metadata == at_limit
    error = refused(
        jsonl({"external_id": "a", "text": "x", "metadata": nested(MAX_METADATA_DEPTH + 1)}),
        "jsonl",
    )
    expected = f"nests {MAX_METADATA_DEPTH + 1} levels deep; at most {MAX_METADATA_DEPTH}"
    assert error.field_errors == {"line 1.metadata": expected}
    # lists count as a level too
    five = {"external_id": "a", "text": "x", "metadata": {"a": [[[[1]]]]}}
    assert parse_item_rows(jsonl(five), "jsonl")[0].metadata == {"a": [[[[1]]]]}
    six = {"external_id": "a", "text": "x", "metadata": {"a": [[[[[1]]]]]}}
    assert "line 1.metadata" in refused(jsonl(six), "jsonl").field_errors


def test_metadata_size_limit() -> None:
    def sized(n: int) -> dict[str, str]:
        # {"v":"..."} is 8 bytes of syntax around the value
        return {"v": "x" * (n - 8)}

    assert len(json.dumps(sized(MAX_METADATA_BYTES), separators=(",", ":"))) == MAX_METADATA_BYTES
    parse_item_rows(
        jsonl({"external_id": "a", "text": "x", "metadata": sized(MAX_METADATA_BYTES)}), "jsonl"
    )
    error = refused(
        jsonl({"external_id": "a", "text": "x", "metadata": sized(MAX_METADATA_BYTES + 1)}),
        "jsonl",
    )
    assert f"at most {MAX_METADATA_BYTES}" in error.field_errors["line 1.metadata"]


def test_tags_per_row_limit() -> None:
    tags = [f"t{i}" for i in range(MAX_TAGS_PER_ROW)]
    rows = parse_item_rows(jsonl({"external_id": "a", "text": "x", "tags": tags}), "jsonl")
    assert len(rows[0].tags) == MAX_TAGS_PER_ROW
    error = refused(jsonl({"external_id": "a", "text": "x", "tags": [*tags, "one_more"]}), "jsonl")
    assert "line 1.tags" in error.field_errors


# ---- annotation rows ------------------------------------------------------------------------


def test_annotation_rows_in_csv_are_normalized() -> None:
    body = (
        b"external_id,annotator,value,spec_version,tags,created_at,comment,unclear,duration_ms\n"
        b"a,Vendor.Ann@Example.TEST,positive,2,sarcasm,2026-03-01T10:00:00,hmm,yes,1500\n"
        b"b,VendorBob,negative,,,2026-03-01T12:00:00+02:00,,,\n"
    )
    first, second = parse_annotation_rows(body, "csv")
    assert first.annotator == "vendor.ann@example.test" and second.annotator == "vendorbob"
    assert (first.value, first.spec_version, first.tags) == ("positive", 2, ("sarcasm",))
    assert first.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)  # naive means UTC
    assert second.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert (first.comment, first.unclear, first.duration_ms) == ("hmm", True, 1500)
    assert (second.spec_version, second.unclear, second.duration_ms) == (None, False, None)


def test_bad_annotation_rows_name_row_and_field() -> None:
    body = json.dumps(
        [
            {"external_id": "a", "annotator": "not an email@", "value": "x"},
            {"external_id": "b", "annotator": "Has Space", "value": "x"},
            {"external_id": "c", "annotator": "ok", "value": None},
            {"external_id": "d", "annotator": "ok", "value": "x", "created_at": "yesterday"},
            {"external_id": "e", "annotator": "ok", "value": "x", "spec_version": "2"},
            {"external_id": "f", "annotator": "ok", "value": "x", "duration_ms": -5},
            {"external_id": "g", "annotator": "ok", "value": "x", "unclear": "maybe"},
            {
                "external_id": "h",
                "annotator": "ok",
                "value": "x",
                "comment": "c" * (MAX_COMMENT_CHARS + 1),
            },
        ]
    ).encode()
    with pytest.raises(InvalidInput) as caught:
        parse_annotation_rows(body, "json")
    assert set(caught.value.field_errors) == {
        "row 1.annotator",
        "row 2.annotator",
        "row 3.value",
        "row 4.created_at",
        "row 5.spec_version",
        "row 6.duration_ms",
        "row 7.unclear",
        "row 8.comment",
    }
    assert caught.value.message.startswith("the annotations were not imported: row 1: annotator")
