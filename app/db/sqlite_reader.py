"""The child process behind SQLite bulk reads (see :mod:`app.db.bulk_read`).

``python -m app.db.sqlite_reader PATH`` opens the SQLite file read-only through ADBC and answers
queries, one per line of JSON on stdin (``{"sql": "..."}``), in one read transaction, so every
answer comes from the same committed state. An answer on stdout is a series of parts, each a
status byte, the payload's length as 8 bytes (big-endian) and the payload: ``0`` for an Arrow
IPC stream of up to :data:`PART_ROWS` rows, then ``2`` (empty) for the end; or ``1`` with the
error message. Parts keep both processes' memory to a slice of the rows rather than the whole
answer twice over. It imports nothing of Accord beyond this module, so it starts in the time
Polars and the driver take to load.
"""

from __future__ import annotations

import io
import json
import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl

BATCH_ROWS = 65_536
"""Rows per Arrow batch; the driver also infers each column's type from the first batch."""
PART_ROWS = 65_536
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
    try:
        with adbc_sqlite.connect(f"file:{path}?mode=ro") as connection:
            with connection.cursor() as cursor:
                batch = {"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)}
                cursor.adbc_statement.set_options(**batch)
                for line in requests:
                    for part in run(cursor, json.loads(line)["sql"]):
                        parts.put(part)
            connection.rollback()
    finally:
        parts.put(None)
        writer.join()


def run(cursor: Any, sql: str) -> Iterator[tuple[bytes, bytes]]:
    """One query's answer in parts: its rows as Arrow IPC streams, then the end; or the error."""
    try:
        cursor.execute(sql)
        frame = pl.DataFrame(cursor.fetch_arrow())
    except Exception as exc:  # noqa: BLE001 - the parent gets the message and decides
        yield FAILED, f"{type(exc).__name__}: {exc}".encode()
        return
    for start in range(0, max(frame.height, 1), PART_ROWS):
        buffer = io.BytesIO()
        frame.slice(start, PART_ROWS).write_ipc_stream(buffer)
        yield OK, buffer.getvalue()
    yield END, b""


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin, sys.stdout.buffer)
