"""Statements built once run on SQLite's driver (app/db/driver.py) exactly as SQLAlchemy would
run them: the same values in and out, the same defaults, errors and row counts."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import cast

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.bulk_read import WROTE
from app.db.engine import execute_core
from app.db.models import AuditEvent, Item, Project
from app.domain.plain_rows import all_columns, insert_object, object_for_row
from tests.factories import make_project, statements_through_sqlalchemy

_ITEMS = cast(Table, Item.__table__)
_ITEM_ROWS = (
    select(*all_columns(Item))
    .where(Item.project_id == bindparam("project_id"), Item.split.in_(("train", "eval")))
    .order_by(Item.id)
)
_STORED = text("SELECT created_at, metadata, split FROM items WHERE project_id = :p ORDER BY id")
_RENAME = update(_ITEMS).where(_ITEMS.c.project_id == bindparam("in_project")).values(split="eval")
_ADD_ITEM = insert(_ITEMS).returning(_ITEMS.c.id, _ITEMS.c.metadata, _ITEMS.c.created_at)
_BY_IDS = select(_ITEMS.c.id).where(_ITEMS.c.id.in_(bindparam("ids", expanding=True)))
_NEEDS_X = select(_ITEMS.c.id).where(_ITEMS.c.id == bindparam("x"))


def _add_items(session: Session, project: Project, *, on_driver: bool = True) -> list[int]:
    moment = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
    ids = []
    for n, metadata in enumerate([{"source": "a", "nested": [1, 2]}, {}]):
        run = partial(execute_core, session) if on_driver else session.execute
        row = run(
            _ADD_ITEM,
            {
                "project_id": project.id,
                "external_id": f"e{n}",
                "text": f"text {n}",
                "text_hash": f"h{n}",
                "metadata": metadata,
                "created_at": moment,
            },
        ).one()
        assert tuple(row[1:]) == (metadata, moment)
        ids.append(row[0])
    return ids


def test_rows_read_on_the_driver_are_the_rows_sqlalchemy_reads(session: Session) -> None:
    # Given items with JSON metadata, aware timestamps, booleans and column defaults
    project = make_project(session)
    _add_items(session, project)
    # When the same statement is run both ways
    with statements_through_sqlalchemy(session) as sent:
        ours = execute_core(session, _ITEM_ROWS, {"project_id": project.id}).all()
    if session.get_bind().dialect.name == "sqlite":
        assert sent == []  # it did not go through SQLAlchemy's execution
    theirs = [tuple(row) for row in session.execute(_ITEM_ROWS, {"project_id": project.id})]
    # Then every value is equal and of the same type (defaults filled: split, priority, ...)
    assert ours == theirs and len(ours) == 2
    assert [[type(value) for value in row] for row in ours] == [
        [type(value) for value in row] for row in theirs
    ]
    assert ours[0][all_columns(Item).index(_ITEMS.c.created_at)].tzinfo is not None


def test_values_written_on_the_driver_are_stored_as_sqlalchemy_stores_them(
    session: Session,
) -> None:
    ours, theirs = make_project(session), make_project(session)
    _add_items(session, ours)
    _add_items(session, theirs, on_driver=False)
    stored = [session.execute(_STORED, {"p": p.id}).all() for p in (ours, theirs)]
    assert stored[0] == stored[1] and len(stored[0]) == 2


def test_writes_on_the_driver_count_rows_mark_the_connection_and_raise_sqlalchemys_errors(
    session: Session,
) -> None:
    project = make_project(session)
    ids = _add_items(session, project)
    # A write marks the connection, so bulk reads know to read through it
    assert session.connection().info.get(WROTE)
    # Row counts are the driver's
    assert execute_core(session, _RENAME, {"in_project": project.id}).rowcount == 2
    assert execute_core(session, _RENAME, {"in_project": project.id + 999}).rowcount == 0
    # Python-side column defaults are computed per execution
    event_row = insert_object(session, AuditEvent, action="test.driver", project_id=project.id)
    assert event_row.details == {} and event_row.subject_type == ""
    assert abs((datetime.now(UTC) - event_row.at).total_seconds()) < 60
    # A constraint violation is SQLAlchemy's IntegrityError, and a savepoint recovers from it
    with pytest.raises(IntegrityError), session.begin_nested():
        execute_core(
            session,
            _ADD_ITEM,
            {"project_id": project.id, "external_id": "e0", "text": "t", "text_hash": "h"},
        )
    # Statements the driver path leaves alone still run (an expanding IN list)
    assert sorted(execute_core(session, _BY_IDS, {"ids": ids}).scalars()) == sorted(ids)
    # A missing parameter is named
    with pytest.raises(SQLAlchemyError, match="'x'"):
        execute_core(session, _NEEDS_X, {})


def test_objects_made_from_rows_are_the_sessions_own(session: Session) -> None:
    project = make_project(session)
    session.flush()
    columns = select(*all_columns(Project)).where(Project.id == project.id)
    # A row of an object the session holds gives that object, unchanged unless refreshed
    project.name = "changed in the session"
    row = execute_core(session, columns).one()  # flushed first: the row has the change
    assert object_for_row(session, Project, row) is project
    session.expunge(project)
    # Otherwise a new persistent object, clean, that later changes flush as usual
    fresh = object_for_row(session, Project, row)
    assert fresh is not project and fresh.name == "changed in the session"
    assert fresh in session and not session.dirty
    fresh.name = "renamed"
    session.flush()
    session.expire_all()
    assert session.scalar(select(Project.name).where(Project.id == project.id)) == "renamed"
    # refresh=True puts the row's values into the held object, as populate_existing would
    fresh.name = "pending"
    object_for_row(session, Project, row, refresh=True)
    assert fresh.name == "changed in the session"


def test_a_default_that_reads_the_execution_context_is_left_to_sqlalchemy(
    session: Session,
) -> None:
    # Given a table whose column default reads the statement's own parameters
    probe = Table(
        "driver_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("n", Integer),
        Column("twice", Integer, default=lambda ctx: ctx.get_current_parameters()["n"] * 2),
        Column("made", Integer, default=lambda: 7),
    )
    probe.create(session.connection())
    # When a row is inserted through execute_core, the default gets its context
    adding = insert(probe).returning(probe.c.twice, probe.c.made)
    with statements_through_sqlalchemy(session) as sent:
        assert execute_core(session, adding, {"n": 21}).one() == (42, 7)
    assert len(sent) == 1  # on SQLAlchemy's path, on every database
