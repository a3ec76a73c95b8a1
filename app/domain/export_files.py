"""Writing an export's rows as JSONL, CSV or Parquet bytes.

JSONL and CSV come in chunks of ``CHUNK_ROWS`` rows (the response streams them); CSV writes
nested values (tags, annotators, rule versions, label sets) as JSON text and prefixes cells that
a spreadsheet would run as formulas (``= + - @``, tab, carriage return) with ``'``. Parquet is
written whole, with the frame's own typed schema.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import polars as pl

CHUNK_ROWS = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralized(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns as JSON text, for CSV."""
    columns = []
    for name, dtype in frame.schema.items():
        if dtype.is_nested():
            columns.append(pl.col(name).map_elements(_to_json, return_dtype=pl.String).alias(name))
        else:
            columns.append(pl.col(name))
    return frame.select(columns)


def _to_json(value: Any) -> str:
    return json.dumps(value.to_list() if hasattr(value, "to_list") else value, sort_keys=True)


def serialize(frame: pl.DataFrame, fmt: str) -> Iterator[bytes]:
    """The export's bytes in chunks (Parquet in one piece)."""
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        yield buffer.getvalue()
        return
    if fmt == "csv":
        flat = _flat(frame)
        flat = flat.select(
            [
                pl.col(name).map_elements(_neutralized, return_dtype=pl.String)
                if dtype == pl.String
                else pl.col(name)
                for name, dtype in flat.schema.items()
            ]
        )
        for start in range(0, max(flat.height, 1), CHUNK_ROWS):
            chunk = flat.slice(start, CHUNK_ROWS)
            yield chunk.write_csv(include_header=start == 0).encode()
        return
    for start in range(0, frame.height, CHUNK_ROWS):
        yield frame.slice(start, CHUNK_ROWS).write_ndjson().encode()
