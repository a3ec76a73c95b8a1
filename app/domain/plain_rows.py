"""Writing one row with a plain INSERT or UPDATE while keeping its ORM object in step.

The labeling loop adds an assignment per lease and an annotation per submission and moves the
assignment on. Through the unit of work (``session.add`` or an attribute change, then ``flush``)
each such write costs several times the statement itself. Here the statement is sent directly,
and the object the caller holds (or gets back) is exactly as if the session had loaded it after
the write: persistent, clean, every column set, so reading it issues no query and later changes
to it flush as usual. Pending changes are flushed first, so writes keep their order.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Table, insert, inspect, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.db.base import Base

M = TypeVar("M", bound=Base)


def insert_object(session: Session, model: type[M], **values: Any) -> M:
    """Insert a ``model`` row with ``values`` (the columns' defaults fill the rest) and return
    it as a persistent object of the session. Constraint violations raise here, as a flush's."""
    session.flush()
    mapper = inspect(model)
    table = cast(Table, mapper.local_table)
    row = session.execute(insert(table).values(**values).returning(*table.c)).one()
    instance = model(
        **{mapper.get_property_by_column(column).key: row[n] for n, column in enumerate(table.c)}
    )
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def update_object(session: Session, instance: Base, **values: Any) -> None:
    """Set ``values`` on the row of a persistent object and on the object itself (as committed,
    so the session has nothing left to flush for them)."""
    session.flush()
    state = inspect(instance)
    mapper = state.mapper
    table = cast(Table, mapper.local_table)
    key = dict(zip(mapper.primary_key, state.identity or (), strict=True))
    session.execute(
        update(table).where(*(column == value for column, value in key.items())).values(**values)
    )
    for name, value in values.items():
        set_committed_value(instance, name, value)
