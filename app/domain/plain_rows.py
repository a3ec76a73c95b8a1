"""Reading or writing one row with a plain statement while keeping its ORM object in step.

The labeling loop adds an assignment per lease and an annotation per submission and moves the
assignment on. Through the unit of work (``session.add`` or an attribute change, then ``flush``)
each such write costs several times the statement itself. Here the statement is sent directly,
and the object the caller holds (or gets back) is exactly as if the session had loaded it after
the write: persistent, clean, every column set, so reading it issues no query and later changes
to it flush as usual. Pending changes are flushed first, so writes keep their order.

Reading works the same way: :func:`object_for_row` makes the session's object from a row of every
column (:func:`all_columns`) read with :func:`app.db.engine.execute_core`, as a query of the
entity would, without the ORM's loading machinery (about a third of the cost of such a query).

Each table's two statements are built once and executed with the values as parameters: building
a statement per call (``insert(table).values(...)``) cost about as much as sending it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Insert, Table, Update, and_, bindparam, insert, inspect, update
from sqlalchemy.orm import Mapper, Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.db.base import Base
from app.db.engine import execute_core

M = TypeVar("M", bound=Base)
_KEY_PREFIX = "plain_rows_key_"
"""Parameter names of an update's primary key (apart from the columns it sets)."""


@cache
def _inserting(table: Table) -> Insert:
    """INSERT INTO table (the columns given at execution) RETURNING every column."""
    return insert(table).returning(*table.c)


@cache
def _updating(table: Table) -> Update:
    """UPDATE table SET (the columns given at execution) WHERE the primary key matches."""
    return update(table).where(
        and_(*(column == bindparam(f"{_KEY_PREFIX}{column.key}") for column in table.primary_key))
    )


@dataclass(frozen=True)
class _Shape:
    """What making ``model``'s objects from rows needs, worked out once per model: its mapper,
    its table's columns in order, the attribute each one sets, and where the primary key is."""

    mapper: Mapper[Any]
    columns: tuple[Column[Any], ...]
    names: tuple[str, ...]
    key: tuple[int, ...]


@cache
def _shape(model: type[Base]) -> _Shape:
    # A process whose first read is a plain one has not configured its mappers yet, and an
    # unconfigured mapper's attributes cannot make an object (no query has configured them).
    configure_mappers()
    mapper = inspect(model)
    columns = tuple(cast(Table, mapper.local_table).c)
    names = tuple(mapper.get_property_by_column(column).key for column in columns)
    key = tuple(n for n, column in enumerate(columns) if column.primary_key)
    return _Shape(mapper, columns, names, key)


def all_columns(model: type[Base]) -> tuple[Column[Any], ...]:
    """Every column of ``model``'s table, in the order :func:`object_for_row` reads them."""
    return _shape(model).columns


def object_for_row(
    session: Session, model: type[M], row: Sequence[Any], *, refresh: bool = False
) -> M:
    """The session's persistent object for ``row`` (every column of ``model``'s table, in the
    table's order): the one the session already holds, its values refreshed from the row when
    ``refresh`` (as ``populate_existing`` would), else a new one, clean, every column set."""
    shape = _shape(model)
    key = shape.mapper.identity_key_from_primary_key(tuple(row[n] for n in shape.key))
    held = session.identity_map.get(key)
    if held is not None:
        if refresh:
            for name, value in zip(shape.names, row, strict=True):
                set_committed_value(held, name, value)
        return cast(M, held)
    instance = detached_object(model, row)
    session.add(instance)
    return instance


def joined_object(session: Session, model: type[M], row: Sequence[Any]) -> M | None:
    """:func:`object_for_row` for the ``model`` part of an outer join's row, or None where the
    join found no ``model`` row (its primary key is null)."""
    if all(row[n] is None for n in _shape(model).key):
        return None
    return object_for_row(session, model, row)


def detached_object(model: type[M], row: Sequence[Any]) -> M:
    """An object for ``row`` (every column of ``model``'s table, in order) as if loaded by a
    session since closed. Made as the ORM loads one: without ``__init__``, the columns put in
    its ``__dict__`` (setting them through ``__init__`` cost several times more)."""
    shape = _shape(model)
    instance = cast(M, shape.mapper.class_manager.new_instance())
    instance.__dict__.update(zip(shape.names, row, strict=True))
    make_transient_to_detached(instance)
    return instance


def insert_object(session: Session, model: type[M], **values: Any) -> M:
    """Insert a ``model`` row with ``values`` (the columns' defaults fill the rest) and return
    it as a persistent object of the session. Constraint violations raise here, as a flush's."""
    table = cast(Table, _shape(model).mapper.local_table)
    return object_for_row(session, model, execute_core(session, _inserting(table), values).one())


def update_object(session: Session, instance: Base, **values: Any) -> None:
    """Set ``values`` on the row of a persistent object and on the object itself (as committed,
    so the session has nothing left to flush for them)."""
    state = inspect(instance)
    mapper = state.mapper
    table = cast(Table, mapper.local_table)
    key = {
        f"{_KEY_PREFIX}{column.key}": value
        for column, value in zip(mapper.primary_key, state.identity or (), strict=True)
    }
    execute_core(session, _updating(table), key | values)
    for name, value in values.items():
        set_committed_value(instance, name, value)
