"""Writing an export's rows as JSONL, CSV or Parquet bytes.

JSONL and CSV come in chunks of ``CHUNK_ROWS`` rows (the response streams them); CSV writes
nested values (tags, annotators, rule versions, label sets) as JSON text and prefixes cells that
a spreadsheet would run as formulas (``= + - @``, tab, carriage return) with ``'``. Parquet is
written whole, with the frame's own typed schema.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl

CHUNK_ROWS = 10_000
_FORMULA = r"^[=+\-@\t\r]"


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns as JSON text, and text cells a spreadsheet would run made inert."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        nested = dtype.is_nested()
        if nested:
            # JSON-encode through a one-field struct, then keep the field's value.
            column = pl.struct(name).struct.json_encode().str.slice(len(name) + 4).str.head(-1)
        if nested or dtype == pl.String:
            column = (
                pl.when(column.str.contains(_FORMULA)).then(pl.lit("'") + column).otherwise(column)
            )
        columns.append(column.alias(name))
    return frame.select(columns)


def serialize(frame: pl.DataFrame, fmt: str, *, header: bool = True) -> Iterator[bytes]:
    """The export's bytes in chunks (Parquet in one piece; ``header``: CSV's first line)."""
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        yield buffer.getvalue()
        return
    if fmt == "csv":
        ready = _csv_ready(frame)
        for start in range(0, max(ready.height, 1), CHUNK_ROWS):
            buffer = io.BytesIO()  # bytes as written: a str would be encoded again
            ready.slice(start, CHUNK_ROWS).write_csv(buffer, include_header=header and start == 0)
            yield buffer.getvalue()
        return
    for start in range(0, frame.height, CHUNK_ROWS):
        buffer = io.BytesIO()
        frame.slice(start, CHUNK_ROWS).write_ndjson(buffer)
        yield buffer.getvalue()
