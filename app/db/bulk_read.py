"""Bulk reads through ADBC: a large query's rows straight into Arrow, for :func:`read_frame`.

The plain path of :func:`~app.db.engine.read_frame` builds a Python object per cell (SQLite's
cursor) or handles a message per row (PostgreSQL's ``COPY``): about 2 µs a row, seconds for the
three million labels of a large export. ADBC drivers write the rows as Arrow columns in C:

* PostgreSQL: ``adbc_driver_postgresql`` (libpq, binary ``COPY``), in this process.
* SQLite: ``adbc_driver_sqlite`` links its own copy of SQLite, and two copies of SQLite in one
  process break each other's POSIX locks (closing a file through one drops the locks the other
  holds: "How To Corrupt An SQLite Database File", section 2.2.1). So its reads run in a child
  process (:mod:`app.db.sqlite_reader`) that answers over a pipe in Arrow's IPC format.

Every read of one :func:`bulk_reads` block shares one read-only transaction (``REPEATABLE READ``
on PostgreSQL, one WAL snapshot on SQLite): the export's tables come from one committed state.
The block is used only where it pays (``rows`` at least :data:`BULK_READ_MIN_ROWS`: starting the
child costs a few tenths of a second) and only before the session's transaction has written
anything, since another connection cannot see uncommitted rows; otherwise reads stay plain.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Select
from sqlalchemy.engine import URL
from sqlalchemy.exc import CompileError
from sqlalchemy.orm import Session

BULK_READ_MIN_ROWS = 200_000
"""Reads expected to return fewer rows than this stay on the plain path."""
BULK_READER = "accord_bulk_reader"
"""Where the session's open bulk reader lives (``session.info``)."""
WROTE = "accord_wrote"
"""Set in a connection's ``info`` by its first write of a transaction (see ``engine.py``)."""
_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)


class BulkReadFailed(RuntimeError):
    """The driver could not answer a query (the caller reads it the plain way)."""


class Reader(ABC):
    """One open read transaction that answers queries as Polars frames.

    :meth:`prefetch` starts a query ahead of its :meth:`read`, so the driver works while this
    thread builds what it read before. Answers come back in the order asked; one wanted before
    its turn keeps those ahead of it until they are read. Reading an answer drops the unread
    answers asked ahead of it: a caller that skipped them will not come back for them.
    """

    def __init__(self) -> None:
        self.failed = False
        """Whether a read failed (and was read the plain way): only the first is logged."""
        self.memo: dict[Any, Any] = {}
        """What callers worked out from this transaction's reads, by their own keys."""
        self._asked = 0
        self._pending: deque[tuple[int, str, Any]] = deque()
        self._ready: dict[str, tuple[int, pl.DataFrame | BulkReadFailed]] = {}

    def prefetch(self, sql: str) -> None:
        """Start on ``sql`` now."""
        self._asked += 1
        self._pending.append((self._asked, sql, self._start(sql)))

    def read(self, sql: str) -> pl.DataFrame:
        """The query's rows (columns as the driver typed them): prefetched, or asked for now."""
        if sql not in self._ready and any(ahead == sql for _, ahead, _ in self._pending):
            self._collect(until=sql)
        if sql not in self._ready:
            self._collect(until=None)  # answers come in order: those asked before come first
            return self._finish(self._start(sql))
        order, answer = self._ready.pop(sql)
        self._ready = {ahead: kept for ahead, kept in self._ready.items() if kept[0] > order}
        if isinstance(answer, BulkReadFailed):
            raise answer
        return answer

    def _collect(self, until: str | None) -> None:
        while self._pending:
            order, ahead, handle = self._pending.popleft()
            try:
                self._ready[ahead] = (order, self._finish(handle))
            except BulkReadFailed as exc:
                self._ready[ahead] = (order, exc)
            if ahead == until:
                return

    @abstractmethod
    def close(self) -> None:
        """End the transaction and release the connection or process."""

    @abstractmethod
    def _start(self, sql: str) -> Any:
        """Send ``sql`` to the driver; a handle for :meth:`_finish`."""

    @abstractmethod
    def _finish(self, handle: Any) -> pl.DataFrame:
        """The answer behind ``handle`` (raises :class:`BulkReadFailed`)."""


class PostgresReader(Reader):
    """ADBC's PostgreSQL driver in one ``REPEATABLE READ`` read-only transaction, driven by a
    thread of its own (the driver releases the GIL while it reads)."""

    _BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: URL) -> None:
        import adbc_driver_postgresql.dbapi as adbc_postgres

        super().__init__()
        uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection = adbc_postgres.connect(uri, autocommit=True)
        self._cursor = self._connection.cursor()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-read")
        try:
            self._thread.submit(self._cursor.execute, self._BEGIN).result()
        except BaseException:
            self._release()
            raise

    def _start(self, sql: str) -> Future[pl.DataFrame]:
        return self._thread.submit(self._run, sql)

    def _finish(self, handle: Future[pl.DataFrame]) -> pl.DataFrame:
        return handle.result()

    def _run(self, sql: str) -> pl.DataFrame:
        try:
            self._cursor.execute(sql)
            return pl.DataFrame(self._cursor.fetch_arrow())
        except Exception as exc:
            raise BulkReadFailed(str(exc)) from exc

    def close(self) -> None:
        """Roll back (nothing was written) and disconnect."""
        try:
            self._thread.submit(self._cursor.execute, "ROLLBACK").result()
        finally:
            self._release()

    def _release(self) -> None:
        self._thread.shutdown()
        self._cursor.close()
        self._connection.close()


class SqliteReader(Reader):
    """The SQLite file read by a child process (:mod:`app.db.sqlite_reader`), which answers
    in order and runs the queries sent ahead while this process works."""

    _MODULE = "app.db.sqlite_reader"

    def __init__(self, path: str) -> None:
        super().__init__()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
        }
        # A file, not a pipe: a full pipe would stall the child. Closed in close().
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        # Runs this interpreter on this package's module; the path is the configured database.
        self._child = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", self._MODULE, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            env=env,
        )

    def _start(self, sql: str) -> None:
        assert self._child.stdin is not None
        if self._child.poll() is not None:
            raise BulkReadFailed(f"the reader process has exited ({self._child.returncode})")
        try:
            self._child.stdin.write(json.dumps({"sql": sql}).encode() + b"\n")
            self._child.stdin.flush()
        except OSError as exc:
            raise BulkReadFailed(f"the reader process is gone: {exc}") from exc

    def _finish(self, handle: None) -> pl.DataFrame:
        assert self._child.stdout is not None
        parts: list[pl.DataFrame] = []
        while True:
            header = self._child.stdout.read(9)
            if len(header) < 9:
                raise BulkReadFailed(f"the reader process stopped: {self._stderr()}")
            payload = self._child.stdout.read(int.from_bytes(header[1:], "big"))
            if header[:1] == b"\x02":  # the end of the answer
                return pl.concat(parts, rechunk=False)
            if header[:1] != b"\x00":
                raise BulkReadFailed(payload.decode(errors="replace"))
            parts.append(pl.read_ipc_stream(payload))

    def close(self) -> None:
        """Close the child's stdin (it rolls back and exits) and reap it."""
        if self._child.stdin is not None:
            with suppress(OSError):  # the child may be gone already
                self._child.stdin.close()
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()
        self._errors.close()

    def _stderr(self) -> str:
        self._child.kill()
        self._child.wait()
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace").strip()[-2000:]


@contextmanager
def bulk_reads(session: Session, rows: int, *, despite_own_writes: bool = False) -> Iterator[None]:
    """Within the block, :func:`~app.db.engine.read_frame` reads through ADBC in one read
    transaction, if ``rows`` (the expected size of the block's reads) makes it pay and the
    session's transaction has not written (see the module docstring); else nothing changes.

    ``despite_own_writes``: the caller knows its transaction's writes so far touch nothing the
    block reads (a job's own status row), so the committed state is the one to read.
    """
    reader = _new_reader(session, rows, despite_own_writes)
    if reader is None:
        yield
        return
    session.info[BULK_READER] = reader
    try:
        yield
    finally:
        del session.info[BULK_READER]
        reader.close()


def _new_reader(session: Session, rows: int, despite_own_writes: bool) -> Reader | None:
    if rows < BULK_READ_MIN_ROWS or BULK_READER in session.info:
        return None
    connection = session.connection()
    url = connection.engine.url
    sqlite = url.get_backend_name() == "sqlite"
    wrote = connection.info.get(WROTE) and not despite_own_writes
    if wrote or (sqlite and url.database in (None, "", ":memory:")):
        return None
    try:
        return SqliteReader(str(url.database)) if sqlite else PostgresReader(url)
    except Exception as exc:  # noqa: BLE001 - whatever the driver raises, the plain way works
        log.warning("could not open a bulk reader, reading row by row instead: %s", exc)
        return None


def open_reader(session: Session) -> Reader | None:
    """The session's bulk reader while a :func:`bulk_reads` block is open."""
    reader: Reader | None = session.info.get(BULK_READER)
    return reader


def prefetch(session: Session, queries: Iterable[Select[*tuple[Any, ...]]]) -> None:
    """Inside a :func:`bulk_reads` block, have the reader start on ``queries`` (read them in
    this order with :func:`~app.db.engine.read_frame`); elsewhere, nothing."""
    reader = open_reader(session)
    if reader is None:
        return
    with suppress(BulkReadFailed, CompileError):  # the reads will say why
        for query in queries:
            reader.prefetch(_inlined(session, query))


def read_bulk(
    session: Session, reader: Reader, query: Select[*tuple[Any, ...]]
) -> pl.DataFrame | None:
    """``query`` through ``reader`` with its parameters inlined, or None if the driver failed
    (logged; the caller reads the plain way)."""
    try:
        return reader.read(_inlined(session, query))
    except (BulkReadFailed, CompileError) as exc:
        if not reader.failed:
            log.warning("bulk read failed, reading row by row instead: %s", exc)
        reader.failed = True
        return None


def _inlined(session: Session, query: Select[*tuple[Any, ...]]) -> str:
    dialect = session.get_bind().dialect
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
