"""The child process behind SQLite bulk reads (see :mod:`app.db.bulk_read`).

``python -m app.db.sqlite_reader PATH`` opens the SQLite file read-only through ADBC and answers
queries, one per line of JSON on stdin (``{"sql": "..."}``), in one read transaction, so every
answer comes from the same committed state. An answer on stdout is a series of parts, each a
status byte, the payload's length as 8 bytes (big-endian) and the payload: ``0`` for an Arrow
IPC stream of up to :data:`BATCH_ROWS` rows, then ``2`` (empty) for the end; or ``1`` with the
error message. Parts keep both processes' memory to a slice of the rows rather than the whole
answer twice over. The driver's batches go out as they come, written by nanoarrow: the process
imports nothing but the driver and nanoarrow, so it starts in a fifth of a second and stays
small.
"""

from __future__ import annotations

import io
import json
import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

import adbc_driver_manager as adbc
import adbc_driver_sqlite as adbc_sqlite
import nanoarrow as na
from nanoarrow.ipc import StreamWriter

BATCH_ROWS = 65_536
"""Rows per Arrow batch (and part); the driver infers each column's type from the first."""
OK, FAILED, END = b"\x00", b"\x01", b"\x02"
AHEAD = 16
"""Parts ready to send that the queries may run ahead of the parent by (~a range of reads)."""


def answer(out: BinaryIO, status: bytes, payload: bytes) -> None:
    """Write one part and flush it."""
    out.write(status + len(payload).to_bytes(8, "big") + payload)
    out.flush()


def serve(path: str, requests: Iterable[str], out: BinaryIO) -> None:
    """Answer each request line until stdin closes, in one read-only transaction.

    A thread writes the answers, so the queries run on while the parent is busy elsewhere and
    has not read the previous answer yet (requests sent ahead are answered ahead, up to
    :data:`AHEAD` parts).
    """
    parts: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=AHEAD)

    def write() -> None:
        gone = False
        while (part := parts.get()) is not None:
            if not gone:
                try:
                    answer(out, *part)
                except OSError:  # the parent is gone: keep draining until stdin ends
                    gone = True

    writer = threading.Thread(target=write, name="answers")
    writer.start()
    # The driver's own API: its DB-API layer would import Polars (time and memory) for nothing.
    database = adbc_sqlite.connect(f"file:{quote(path)}?mode=ro")  # a URI: escape the path
    connection = adbc.AdbcConnection(database)
    statement = adbc.AdbcStatement(connection)
    try:
        connection.set_autocommit(False)  # one transaction: one committed state for all reads
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        for line in requests:
            for part in run(statement, json.loads(line)["sql"]):
                parts.put(part)
        connection.rollback()
    finally:
        parts.put(None)
        writer.join()
        statement.close()
        connection.close()
        database.close()


def run(statement: Any, sql: str) -> Iterator[tuple[bytes, bytes]]:
    """One query's answer in parts, one per batch the driver makes: Arrow IPC streams, then
    the end; or the error."""
    try:
        statement.set_sql_query(sql)
        with na.ArrayStream(statement.execute_query()[0]) as stream:
            empty = True
            for batch in stream:
                empty = False
                yield OK, _ipc(_with_null_counts(batch))
            if empty:  # the schema alone
                yield OK, _ipc(stream)
    except Exception as exc:  # noqa: BLE001 - the parent gets the message and decides
        yield FAILED, f"{type(exc).__name__}: {exc}".encode()
        return
    yield END, b""


def _with_null_counts(batch: Any) -> Any:
    """``batch`` with its columns' null counts. The driver leaves them unknown (-1), which Arrow
    IPC cannot say: a reader then takes a column for one without nulls and reads a NULL as 0 or
    ''. They are counted from the validity bitmaps (SQLite's columns are flat)."""
    array = na.c_array(batch)
    view = array.view()
    columns = [
        na.c_array_from_buffers(
            column.schema,
            column.length,
            list(counted.buffers),
            null_count=counted.null_count,
            offset=column.offset,
        )
        for column, counted in zip(array.children, view.children, strict=True)
    ]
    return na.c_array_from_buffers(
        array.schema, array.length, list(view.buffers), null_count=0, children=columns
    )


def _ipc(arrays: Any) -> bytes:
    """A batch (or what is left of a stream) as one IPC stream."""
    out = io.BytesIO()
    with StreamWriter.from_writable(out) as writer:
        writer.write_stream(arrays)
    return out.getvalue()


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin, sys.stdout.buffer)
