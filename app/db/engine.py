"""Engine and session construction; SQLite is tuned for a multi-threaded web server.

SQLite gets WAL, a busy timeout, foreign keys, and SQLAlchemy's documented pysqlite fix so that
transactions really begin at ``BEGIN`` (pysqlite otherwise defers it). Work-claiming transactions
call :func:`begin_immediate` to take the write lock up front instead of failing on upgrade.
"""

from __future__ import annotations

import io
import sqlite3
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVarTuple, overload

import polars as pl
import psycopg
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    Text,
    cast,
    create_engine,
    event,
    func,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import TypedReturnsRows

from app.db.bulk_read import WROTE, open_reader, read_bulk
from app.db.driver import Rows, prepared, run_on_driver, run_prepared
from app.db.per_transaction import per_transaction
from app.db.process_lock import ProcessLock
from app.db.writers import SqliteWriters, WriterBusy, claimed, take_claimed

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_BATCH_ROWS = 65_536
"""Rows :func:`read_frame` takes from SQLite's cursor at a time."""
_BEGIN_OPTION = "accord_sqlite_begin"
WRITE_LOCK = "accord_write_lock"
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, SqliteWriters] = weakref.WeakKeyDictionary()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create an engine for SQLite (tuned as described above) or PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # The connection returned last goes out first. SQLite drops a connection's page cache
        # when another connection has committed since its last read, so handing out the last
        # committer's connection (the labeling loop's transactions follow one another) keeps
        # its cache: its statements took 20-40% less time than on the pool's oldest connection.
        kwargs.setdefault("pool_use_lifo", True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _tune_sqlite(engine)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
    _track_writes(engine)
    return engine


def _track_writes(engine: Engine) -> None:
    """Mark a connection's transaction once it writes (:data:`~app.db.bulk_read.WROTE`): bulk
    reads run on another connection, which would not see those rows yet."""

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip()[:6].upper() in _WRITES:
            conn.info[WROTE] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        conn.info.pop(WROTE, None)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info.pop(WROTE, None)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the documented pysqlite BEGIN fix).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # Writers of this process queue on a lock before SQLite's (app/db/writers.py), taken at
    # BEGIN IMMEDIATE (or taken over from the event loop's claim) and released when the
    # connection goes back to the pool, i.e. after COMMIT or ROLLBACK has completed (the
    # connection-level commit event fires before the COMMIT is sent). The timeout only bounds
    # the wait; past it SQLite's busy timeout still protects the data.
    writers = _WRITE_LOCKS[engine] = SqliteWriters(_process_lock(engine))

    # The event loop's claimed transaction must not wait for SQLite's lock either, which another
    # process (a second web process, a CLI command) may hold: it begins with SQLite's busy
    # timeout off, and WriterBusy sends its work to a thread, which may wait.
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        statement = conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN")
        taken_over = False
        if statement == "BEGIN IMMEDIATE" and not conn.info.get(WRITE_LOCK):
            taken_over = take_claimed(writers)
            conn.info[WRITE_LOCK] = taken_over or writers.acquire(
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
            )
        try:
            if taken_over:
                _begin_without_waiting(conn, statement)
            else:
                run_on_driver(conn, statement)
        except BaseException:
            _release_writer(conn.info)
            raise

    def _release_writer(info: dict[str, Any]) -> None:
        if info.pop(WRITE_LOCK, False):
            writers.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release_writer(record.info)


def _process_lock(engine: Engine) -> ProcessLock | None:
    """The lock shared with other processes on the same file: a file beside it (none for a
    database only this process can open)."""
    database = engine.url.database
    if sys.platform == "win32" or not database or database == ":memory:":
        return None  # no flock on Windows; an in-memory database is this process's alone
    if database.startswith("file:"):
        return None  # a URI filename: its path is SQLite's to parse
    return ProcessLock(f"{database}-writer.lock")


def _begin_without_waiting(conn: Any, statement: str) -> None:
    """Begin at once or raise WriterBusy (SQLite's lock is another process's)."""
    driver = conn.connection.driver_connection
    driver.execute("PRAGMA busy_timeout=0")
    try:
        run_on_driver(conn, statement)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
            raise
        raise WriterBusy("another process is writing to the SQLite file") from exc
    finally:
        driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def sqlite_write_lock(engine: Engine) -> SqliteWriters | None:
    """The lock this process's SQLite writers queue on (None for other databases)."""
    return _WRITE_LOCKS.get(engine)


def claim_sqlite_writer(engine: Engine) -> AbstractAsyncContextManager[bool]:
    """Wait on the event loop for this process's SQLite write lock, for one write transaction
    (see :func:`app.db.writers.claimed`; never taken for other databases)."""
    return claimed(sqlite_write_lock(engine), SQLITE_BUSY_TIMEOUT_MS / 1000)


def dialect_insert(session: Session) -> Callable[..., Any]:
    """The ``insert`` of the session's dialect, the one with ``ON CONFLICT`` clauses."""
    return sqlite_insert if is_sqlite(session) else postgresql_insert


_Ts = TypeVarTuple("_Ts")
_CONNECTION = per_transaction("accord_connection")
"""``session.info`` key: the innermost transaction of the session and its connection."""
_Params = Mapping[str, Any] | None


@overload
def execute_core(
    db: Session | Connection, statement: TypedReturnsRows[*_Ts], params: _Params = None
) -> Rows[*_Ts]: ...


@overload
def execute_core(
    db: Session | Connection, statement: Executable, params: _Params = None
) -> Rows[*tuple[Any, ...]]: ...


def execute_core(
    db: Session | Connection, statement: Executable, params: _Params = None
) -> Rows[*tuple[Any, ...]]:
    """Run a Core statement (tables and columns, no ORM entities) built once, in the session's
    transaction on its connection, or on a plain connection: what ``session.execute`` does for
    it without the ORM's execution layer (about 44 against 130 µs in process for a one-row
    read), and on SQLite without SQLAlchemy's execution either (:mod:`app.db.driver`; there a
    plain connection that has not begun a transaction runs it in SQLite's autocommit mode, a
    snapshot of its own). A session's pending changes are flushed first, as ``session.execute``
    would. The rows are fetched at once."""
    if isinstance(db, Session):
        db.flush()
        connection = _connection_of(db)
    else:
        connection = db
    params = params or {}
    if connection.dialect.name == "sqlite":
        statement_on_driver = prepared(statement, params, connection.dialect)
        if statement_on_driver is not None:
            return run_prepared(connection, statement_on_driver, params)
    result = connection.execute(statement, params)
    return Rows(result.all() if result.returns_rows else (), result.rowcount)


def _connection_of(session: Session) -> Connection:
    """The connection of the session's transaction: asked of the session once per transaction
    or savepoint (asking costs more than a one-row statement on SQLite), and by the session
    whenever a savepoint began or ended since (a savepoint begins on its first use)."""
    remembered: tuple[SessionTransaction | None, Connection] | None = session.info.get(_CONNECTION)
    if remembered is not None and remembered[0] is _innermost(session):
        return remembered[1]
    connection = session.connection()
    session.info[_CONNECTION] = (_innermost(session), connection)
    return connection


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    """True when the session or engine talks to SQLite."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "sqlite"


def begin_immediate(session: Session) -> None:
    """Start the session's transaction with SQLite's write lock taken (no-op elsewhere).

    Must be called before the session has issued any statement in this transaction.
    """
    if not is_sqlite(session):
        return
    if session.in_transaction():
        raise RuntimeError("begin_immediate() must be the first thing a transaction does")
    session.connection(execution_options={_BEGIN_OPTION: "BEGIN IMMEDIATE"})


def make_session_factory(engine: Engine, *, immediate: bool = False) -> sessionmaker[Session]:
    """A session factory that keeps loaded objects usable after commit.

    With ``immediate=True`` every SQLite transaction of its sessions begins with
    ``BEGIN IMMEDIATE`` (see :func:`begin_immediate`): the factory for requests that write.
    """
    bind = engine
    if immediate and engine.dialect.name == "sqlite":
        bind = engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        if engine in _WRITE_LOCKS:  # the same lock, looked up by the sessions' bind
            _WRITE_LOCKS[bind] = _WRITE_LOCKS[engine]
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, immediate: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    ``immediate=True`` takes SQLite's write lock up front (see :func:`begin_immediate`): use it
    for a transaction that reads and then writes while other writers may be active, or the
    upgrade from read to write lock can fail with "database is locked".
    """
    session = factory()
    try:
        if immediate:
            begin_immediate(session)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def json_as_text(session: Session, column: Any) -> Any:
    """A JSON column read as its JSON text (for :func:`read_frame`, decoded in bulk after):
    SQLite stores the text itself, PostgreSQL's JSONB is cast."""
    return type_coerce(column, Text) if is_sqlite(session) else cast(column, Text)


def decode_json(texts: pl.Series, dtype: Any) -> pl.Series:
    """JSON texts (from :func:`json_as_text`) decoded to ``dtype``, each distinct text once.

    Labels repeat (a few distinct values over millions of rows), and decoding is what costs:
    Polars' decoder takes about 100 bytes of working memory per row, so a million-row column
    decoded whole adds hundreds of MB; its distinct texts take next to nothing.
    """
    distinct = texts.unique()
    decoded = pl.DataFrame({"text": distinct, "value": distinct.str.json_decode(dtype=dtype)})
    looked_up = texts.to_frame("text").join(
        decoded, on="text", how="left", maintain_order="left", nulls_equal=True
    )
    return looked_up["value"].alias(texts.name)


def epoch_seconds(dialect: str, column: Any) -> Any:
    """A timestamp column as seconds since the Unix epoch (a float), in SQL."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


def read_frame(
    session: Session, query: Select[*tuple[Any, ...]], schema: dict[str, Any]
) -> pl.DataFrame:
    """All rows of a Core query as a Polars frame with ``schema``, in the session's transaction.

    For bulk reads (a million ratings), skipping SQLAlchemy's Row objects and result type
    processing, which cost more than the query itself: inside a
    :func:`~app.db.bulk_read.bulk_reads` block the rows come through ADBC as Arrow; otherwise
    PostgreSQL streams them as CSV through ``COPY ... TO STDOUT`` into Polars' CSV reader and
    SQLite's come straight from the driver's cursor. Columns arrive as the database gives them,
    so select JSON as text and decode it in bulk; ``pl.Datetime`` columns are read as naive UTC.
    """
    sqlite = is_sqlite(session)
    reader = open_reader(session)
    if reader is not None:
        frame = read_bulk(session, reader, query)
        if frame is not None:
            return _conform(frame, schema, sqlite)
    connection = session.connection()
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = {name: pl.String if _is_datetime(dtype) else dtype for name, dtype in schema.items()}
    driver = connection.connection.driver_connection
    if isinstance(driver, psycopg.Connection):
        buffer = io.BytesIO()
        sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)"
        with driver.cursor() as cursor, cursor.copy(sql, compiled.params) as copy:
            for chunk in copy:
                buffer.write(chunk)
        if not buffer.getvalue():
            return pl.DataFrame(schema=schema)
        buffer.seek(0)
        frame = pl.read_csv(buffer, has_header=False, new_columns=list(raw), schema=raw)
        return _conform(frame, schema, sqlite)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    sqlite_cursor = connection.connection.cursor()
    frames = []
    try:
        sqlite_cursor.execute(str(compiled), params)
        # A batch at a time: a million rows as Python tuples would take hundreds of MB at once.
        while rows := sqlite_cursor.fetchmany(READ_BATCH_ROWS):
            frames.append(pl.DataFrame(rows, schema=raw, orient="row"))
    finally:
        sqlite_cursor.close()
    if not frames:
        return pl.DataFrame(schema=schema)
    return _conform(pl.concat(frames, rechunk=True), schema, sqlite)


def _is_datetime(dtype: Any) -> bool:
    return dtype == pl.Datetime or isinstance(dtype, pl.Datetime)


def _conform(frame: pl.DataFrame, schema: dict[str, Any], sqlite: bool) -> pl.DataFrame:
    """``frame``'s columns named and typed as ``schema`` says (by position). Timestamps come
    as SQLite's UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``), PostgreSQL's text with its offset
    (``COPY``) or an Arrow timestamp in UTC (ADBC), and leave as naive UTC."""
    frame = frame.rename(dict(zip(frame.columns, schema, strict=True)))
    text = "%Y-%m-%d %H:%M:%S%.f" if sqlite else "%Y-%m-%d %H:%M:%S%.f%#z"
    parsed = [
        pl.col(name).str.to_datetime(text, time_unit="us")
        for name, dtype in schema.items()
        if _is_datetime(dtype) and frame.schema[name] == pl.String
    ]
    frame = frame.with_columns(parsed)
    in_utc = [
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return frame.with_columns(in_utc).cast(pl.Schema(schema))


def unindexed(column: Any) -> Any:
    """An integer column as an expression no index serves (``column + 0``).

    For a condition that narrows little next to a selective one (the project, next to a range of
    ids): a planner without statistics (SQLite's, on a database never ANALYZEd) otherwise
    prefers the equality's index and walks the whole project for every range.
    """
    return column + 0


def unindexed_on_sqlite(column: Any) -> Any:
    """:func:`unindexed` on SQLite; elsewhere the column itself.

    For range reads: PostgreSQL's planner, which has statistics, walks the id range anyway, and
    ``+ 0`` would only spoil its estimate of the rows, for a parallel plan whose workers cost
    more than they save (measured on the export's label ranges).
    """
    return _UnindexedOnSqlite(column)


class _UnindexedOnSqlite(FunctionElement[int]):
    type = Integer()
    inherit_cache = True


@compiles(_UnindexedOnSqlite)
def _column_itself(element: _UnindexedOnSqlite, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(_UnindexedOnSqlite, "sqlite")
def _column_plus_zero(element: _UnindexedOnSqlite, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(next(iter(element.clauses)), **kw)} + 0)"


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
