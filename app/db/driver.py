"""Core statements run on SQLite's own driver: compiled once, executed on the transaction's
DBAPI connection.

SQLAlchemy's execution of an already compiled statement (its cache key, execution context,
events and result metadata) costs several times what SQLite's driver call itself does, and the
labeling loop runs about 25 statements per next + submit. On SQLite a statement built once
(at module level or by a cached builder) is compiled here once per set of parameter names and
run straight on the session's connection, with SQLAlchemy's own bind and result processors,
the columns' Python-side defaults, and SQLAlchemy's exception classes, so callers cannot tell
the difference, except that no engine events fire for these statements (``echo`` does not
log them, ``before_cursor_execute`` listeners do not see them; the one the engine relies on,
marking a connection that wrote, is done here). What this does not cover (an ``IN`` list or a
literal-execute parameter given at execution, a column default that reads the execution
context, a non-positional dialect) takes SQLAlchemy's path, as does every other database.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, TypeVarTuple, cast

from sqlalchemy import Column
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

from app.db.bulk_read import WROTE

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_Processor = Callable[[Any], Any]
_Source = tuple[int, Any] | None

_PARAM, _FIXED, _CALL = range(3)
"""How a bound value is found: the caller's parameter, a value fixed in the statement (or a
column's scalar default), or a callable to call (a column's Python-side default)."""


class Rows(Generic[*_Ts]):
    """A statement's rows, all fetched, and its row count: the part of SQLAlchemy's result API
    the domain uses (``all``, ``one``, ``first``, ``scalar``, ``scalars``, iteration)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: Sequence[tuple[*_Ts]], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[tuple[*_Ts]]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple[*_Ts]]:
        return iter(self._rows)

    def first(self) -> tuple[*_Ts] | None:
        return self._rows[0] if self._rows else None

    def one(self) -> tuple[*_Ts]:
        if len(self._rows) == 1:
            return self._rows[0]
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        raise MultipleResultsFound("Multiple rows were found when exactly one was required")

    def scalar(self: Rows[_T, *tuple[Any, ...]]) -> _T | None:
        return self._rows[0][0] if self._rows else None

    def scalars(self: Rows[_T, *tuple[Any, ...]]) -> list[_T]:
        return [row[0] for row in self._rows]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled for one set of parameter names: its SQL, where each positional
    value comes from with its bind processor, the result columns' processors, and whether it
    writes."""

    sql: str
    binds: tuple[tuple[int, Any, _Processor | None], ...]
    results: tuple[_Processor | None, ...]
    writes: bool

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for how, source, processor in self.binds:
            value = params[source] if how == _PARAM else source() if how == _CALL else source
            out.append(value if processor is None else processor(value))
        return tuple(out)

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            value if processor is None or value is None else processor(value)
            for value, processor in zip(raw, self.results, strict=True)
        )


_UNPREPARED = object()
"""Marks a statement this module leaves to SQLAlchemy."""
_PREPARED: weakref.WeakKeyDictionary[Executable, dict[frozenset[str], Any]] = (
    weakref.WeakKeyDictionary()
)


def _bind_source(
    compiled: SQLCompiler,
    bind: BindParameter[Any],
    keys: frozenset[str],
    defaulted: Mapping[str, Column[Any]],
) -> _Source:
    """Where a bound value comes from, as SQLAlchemy's ``construct_params`` and execution-time
    column defaults (``defaulted``: the columns whose Python-side default fills a parameter, by
    key) would have it; None if this module cannot tell."""
    if bind.key in keys:
        return _PARAM, bind.key
    column = defaulted.get(bind.key)
    if column is not None:
        default = column.default if compiled.isinsert else column.onupdate
        if default is None or not (default.is_scalar or default.is_callable):
            return None
        if default.is_scalar:
            return _FIXED, default.arg  # type: ignore[attr-defined]
        # SQLAlchemy wraps an argument-less default (``utcnow``, ``dict``) to take the
        # execution context; one that reads the context is left to SQLAlchemy.
        function = getattr(default.arg, "__wrapped__", None)  # type: ignore[attr-defined]
        return (_CALL, function) if _takes_no_arguments(function) else None
    if bind.callable is not None:
        return _CALL, bind.callable
    return _FIXED, bind.value


def _takes_no_arguments(function: Any) -> bool:
    """Whether SQLAlchemy would call ``function`` without the context: it takes no required
    argument, or (a builtin such as ``dict``) cannot be inspected."""
    if not callable(function):
        return False
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )


def _prepare(statement: Executable, keys: frozenset[str], dialect: Dialect) -> Any:
    if not isinstance(statement, ClauseElement):
        return _UNPREPARED
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    if not isinstance(compiled, SQLCompiler) or not compiled.positional:
        return _UNPREPARED
    if any(
        bind.key in keys
        for bind in (*compiled.post_compile_params, *compiled.literal_execute_params)
    ):
        return _UNPREPARED  # an IN list given at execution: its SQL depends on the values
    # Lists fixed in the statement (``column.in_((...))``) are rendered once, here; a missing
    # parameter raises here as SQLAlchemy's execution would.
    expanded = compiled.construct_expanded_state(dict.fromkeys(keys), escape_names=False)
    if expanded.positiontup is None:
        return _UNPREPARED
    defaulted = {c.key: c for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    binds = []
    for name in expanded.positiontup:
        bind = compiled.binds.get(name)
        source = (
            (_FIXED, expanded.parameters[name])  # an item of a list fixed in the statement
            if bind is None
            else _bind_source(compiled, bind, keys, defaulted)
        )
        processor = expanded.processors.get(name) or compiled._bind_processors.get(name)
        if source is None or not (processor is None or callable(processor)):
            return _UNPREPARED  # a default this module cannot compute, a tuple IN's processors
        binds.append((*source, cast(_Processor | None, processor)))
    results = tuple(
        column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
    )
    writes = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
    return _Prepared(expanded.statement, tuple(binds), results, writes)


def prepared(
    statement: Executable, params: Mapping[str, Any], dialect: Dialect
) -> _Prepared | None:
    """The statement compiled for these parameter names (once), or None to leave it to
    SQLAlchemy."""
    keys = frozenset(params)
    by_keys = _PREPARED.setdefault(statement, {})
    found = by_keys.get(keys)
    if found is None:
        found = by_keys[keys] = _prepare(statement, keys, dialect)
    return None if found is _UNPREPARED else found


def run_prepared(
    connection: Connection, statement: _Prepared, params: Mapping[str, Any]
) -> Rows[*tuple[Any, ...]]:
    """Run a prepared statement on the connection's DBAPI connection, in its transaction."""
    if statement.writes:
        connection.info[WROTE] = True  # as the engine's before_cursor_execute listener marks
    cursor = run_on_driver(connection, statement.sql, statement.values(params))
    if not statement.results:
        return Rows((), cursor.rowcount)
    rows = [statement.row(row) for row in cursor.fetchall()]
    return Rows(rows, len(rows))


def run_on_driver(connection: Connection, sql: str, values: Sequence[Any] = ()) -> Any:
    """Execute ``sql`` on the connection's DBAPI connection (no SQLAlchemy events, no
    autobegin) and return the driver's cursor; the driver's errors are raised as SQLAlchemy's
    exception classes (``OperationalError``, ``IntegrityError``, ...), as its execution would."""
    driver = connection.connection.driver_connection
    assert driver is not None
    error = connection.dialect.loaded_dbapi.Error
    try:
        return driver.execute(sql, values)
    except error as exc:
        raise DBAPIError.instance(sql, values, exc, error, dialect=connection.dialect) from exc
