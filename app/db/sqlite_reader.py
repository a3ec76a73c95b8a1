"""The child process behind SQLite bulk reads (see :mod:`app.db.bulk_read`).

``python -m app.db.sqlite_reader PATH`` opens the SQLite file read-only through ADBC and answers
queries, one per line of JSON on stdin (``{"sql": "..."}``), in one read transaction, so every
answer comes from the same committed state. Each answer on stdout is a status byte (``0``: an
Arrow IPC stream follows, ``1``: an error message follows), the payload's length as 8 bytes
(big-endian), then the payload. It imports nothing of Accord beyond this module, so it starts in
the time Polars and the driver take to load.
"""

from __future__ import annotations

import io
import json
import queue
import sys
import threading
from collections.abc import Iterable
from typing import Any, BinaryIO

import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl

BATCH_ROWS = 65_536
"""Rows per Arrow batch; the driver also infers each column's type from the first batch."""
OK, FAILED = b"\x00", b"\x01"
AHEAD = 8
MMAP_BYTES = 1 << 32


def answer(out: BinaryIO, status: bytes, payload: bytes) -> None:
    """Write one framed answer and flush it."""
    out.write(status + len(payload).to_bytes(8, "big") + payload)
    out.flush()


def serve(path: str, requests: Iterable[str], out: BinaryIO) -> None:
    """Answer each request line until stdin closes, in one read-only transaction.

    A thread writes the answers, so the queries run on while the parent is busy elsewhere and
    has not read the previous answer yet (requests sent ahead are answered ahead, up to
    :data:`AHEAD` answers).
    """
    answers: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=AHEAD)

    def write() -> None:
        gone = False
        while (item := answers.get()) is not None:
            if not gone:
                try:
                    answer(out, *item)
                except OSError:  # the parent is gone: keep draining until stdin ends
                    gone = True

    writer = threading.Thread(target=write, name="answers")
    writer.start()
    try:
        with adbc_sqlite.connect(f"file:{path}?mode=ro") as connection:
            with connection.cursor() as cursor:
                # Pages through a memory map rather than a read() call each.
                cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
                pl.DataFrame(cursor.fetch_arrow())
                batch = {"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)}
                cursor.adbc_statement.set_options(**batch)
                for line in requests:
                    answers.put(run(cursor, json.loads(line)["sql"]))
            connection.rollback()
    finally:
        answers.put(None)
        writer.join()


def run(cursor: Any, sql: str) -> tuple[bytes, bytes]:
    """One query's framed answer: its rows as an Arrow IPC stream, or the error."""
    try:
        cursor.execute(sql)
        frame = pl.DataFrame(cursor.fetch_arrow())
        buffer = io.BytesIO()
        frame.write_ipc_stream(buffer)
    except Exception as exc:  # noqa: BLE001 - the parent gets the message and decides
        return FAILED, f"{type(exc).__name__}: {exc}".encode()
    return OK, buffer.getvalue()


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin, sys.stdout.buffer)
