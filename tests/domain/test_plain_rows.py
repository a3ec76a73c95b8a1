"""Plain INSERT/UPDATE of one row with its ORM object kept in step (the labeling loop's writes)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Assignment
from app.domain.plain_rows import insert_object, update_object
from app.domain.projects import current_spec
from tests.domain.test_assignment import add_items, team
from tests.factories import make_project, make_user


def _lease(session: Session) -> Assignment:
    """A project with one item and one annotator, and that annotator's assignment on it,
    inserted plainly with the columns that have defaults left out."""
    project = make_project(session, overlap=2)
    (item,) = add_items(session, project, 1)
    (annotator,) = team(session, project, 1)
    return insert_object(
        session,
        Assignment,
        project_id=project.id,
        item_id=item.id,
        user_id=annotator.id,
        spec_version_id=current_spec(session, project).id,
        lease_expires_at=utcnow(),
    )


def test_an_inserted_row_comes_back_as_a_clean_loaded_object(session: Session) -> None:
    # Given an assignment inserted plainly, leaving columns with defaults out
    assignment = _lease(session)
    # Then it is the session's persistent object, clean, with the defaults the row got
    state = inspect(assignment)
    assert state.persistent and not session.dirty and not session.new
    assert not state.unloaded & set(state.mapper.columns.keys())  # reading needs no query
    assert (assignment.state, assignment.slot, assignment.kind, assignment.skip_reason) == (
        "leased",
        1,
        "label",
        "",
    )
    assert assignment.finished_at is None
    assert session.get(Assignment, assignment.id) is assignment
    # And a later change flushes as usual
    assignment.skip_reason = "unclear"
    session.flush()
    session.expire_all()
    assert session.scalar(select(Assignment.skip_reason)) == "unclear"


def test_an_update_lands_in_the_row_and_the_object_alike(session: Session) -> None:
    assignment = _lease(session)
    now = utcnow()
    update_object(session, assignment, state="submitted", finished_at=now)
    assert (assignment.state, assignment.finished_at) == ("submitted", now)
    assert not session.dirty
    assert session.execute(select(Assignment.state, Assignment.finished_at)).one() == (
        "submitted",
        now,
    )


def test_a_constraint_violation_raises_at_the_insert(session: Session) -> None:
    first = _lease(session)
    columns = ("project_id", "item_id", "spec_version_id", "lease_expires_at")
    values = {name: getattr(first, name) for name in columns}
    with pytest.raises(IntegrityError), session.begin_nested():  # slot 1 is taken
        insert_object(session, Assignment, user_id=make_user(session).id, **values)


def test_rows_of_one_table_may_name_different_columns(session: Session) -> None:
    # Given one table's rows inserted with different sets of columns (its statement is built
    # once; what each call names must still be what lands)
    first = _lease(session)
    second = insert_object(
        session,
        Assignment,
        project_id=first.project_id,
        item_id=first.item_id,
        user_id=make_user(session).id,
        spec_version_id=first.spec_version_id,
        lease_expires_at=utcnow(),
        slot=2,
        skip_reason="named",
    )
    # When each is updated with other columns again
    update_object(session, first, state="cancelled")
    update_object(session, second, state="skipped", skip_reason="changed", finished_at=utcnow())
    # Then every row holds exactly its own values, defaults where a call named nothing
    session.expire_all()
    rows = session.execute(
        select(
            Assignment.slot, Assignment.state, Assignment.skip_reason, Assignment.finished_at
        ).order_by(Assignment.id)
    ).all()
    assert [row[:3] for row in rows] == [(1, "cancelled", ""), (2, "skipped", "changed")]
    assert rows[0].finished_at is None and rows[1].finished_at is not None


def test_objects_are_made_in_a_process_that_has_run_no_orm_query_yet() -> None:
    # Given a fresh interpreter whose first use of the models is a plain row (as a CLI command
    # or a benchmark reading a project first), with no query that would configure the mappers
    program = (
        "from app.db.models import User\n"
        "from app.domain.plain_rows import all_columns, detached_object\n"
        "row = [None] * len(all_columns(User))\n"
        "row[[c.key for c in all_columns(User)].index('id')] = 7\n"
        "print(detached_object(User, row).id)\n"
    )
    # When it makes an object from the row
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    # Then the object is made
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"
