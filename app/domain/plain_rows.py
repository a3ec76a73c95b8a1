"""Writing one row with a plain INSERT or UPDATE while keeping its ORM object in step.

The labeling loop adds an assignment per lease and an annotation per submission and moves the
assignment on. Through the unit of work (``session.add`` or an attribute change, then ``flush``)
each such write costs several times the statement itself. Here the statement is sent directly,
and the object the caller holds (or gets back) is exactly as if the session had loaded it after
the write: persistent, clean, every column set, so reading it issues no query and later changes
to it flush as usual. Pending changes are flushed first, so writes keep their order.

Each table's two statements are built once and executed with the values as parameters: building
a statement per call (``insert(table).values(...)``) cost about as much as sending it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table, Update, and_, bindparam, insert, inspect, update
from sqlalchemy.orm import Session, make_transient_to_detached
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


def insert_object(session: Session, model: type[M], **values: Any) -> M:
    """Insert a ``model`` row with ``values`` (the columns' defaults fill the rest) and return
    it as a persistent object of the session. Constraint violations raise here, as a flush's."""
    mapper = inspect(model)
    table = cast(Table, mapper.local_table)
    row = execute_core(session, _inserting(table), values).one()
    instance = model(
        **{mapper.get_property_by_column(column).key: row[n] for n, column in enumerate(table.c)}
    )
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


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
