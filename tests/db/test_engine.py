"""SQLite writers of one process queue on a lock that every way of ending a transaction frees."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite

from app.db.engine import (
    make_engine,
    make_session_factory,
    sqlite_write_lock,
    unindexed_on_sqlite,
)
from app.db.models import Item


def test_the_write_lock_is_freed_however_a_write_transaction_ends(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'accord.db'}")
    writers, readers = make_session_factory(engine, immediate=True), make_session_factory(engine)
    lock = sqlite_write_lock(engine)
    assert lock is not None
    try:
        session = writers()
        session.execute(text("SELECT 1"))
        assert lock.locked()  # held from BEGIN IMMEDIATE on
        session.commit()
        assert not lock.locked()
        session.execute(text("SELECT 1"))
        session.rollback()
        assert not lock.locked()
        session.execute(text("SELECT 1"))
        session.close()
        assert not lock.locked()
        forgotten = writers()
        forgotten.execute(text("SELECT 1"))
        del forgotten  # never closed: the connection goes back to the pool on collection
        gc.collect()
        assert not lock.locked()
        # readers never take it
        reader = readers()
        reader.execute(text("SELECT 1"))
        assert not lock.locked()
        reader.close()
    finally:
        engine.dispose()


def test_a_second_writer_waits_for_the_first_instead_of_failing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'accord.db'}")
    factory = make_session_factory(engine, immediate=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(50):
                with factory() as session, session.begin():
                    n = session.scalar(text("SELECT n FROM counter"))
                    session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT n FROM counter")) == 400  # no lost update, no error
    assert errors == []
    engine.dispose()


def test_postgresql_engines_have_no_process_lock() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert sqlite_write_lock(engine) is None
    engine.dispose()


def test_range_reads_keep_sqlite_off_the_project_index_and_postgresql_on_its_estimates() -> None:
    query = select(Item.id).where(unindexed_on_sqlite(Item.project_id) == 3)
    on = {
        name: str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect()))
    }
    assert "(items.project_id + 0) = 3" in on["sqlite"]
    assert "items.project_id = 3" in on["postgresql"] and "+ 0" not in on["postgresql"]


def test_sqlite_hands_out_the_connection_returned_last(tmp_path: Path) -> None:
    # SQLite keeps a connection's page cache only while no other connection commits: the
    # next transaction should get the connection the last one used
    engine = make_engine(f"sqlite:///{tmp_path / 'accord.db'}")
    try:
        first, second = engine.raw_connection(), engine.raw_connection()
        drivers = first.driver_connection, second.driver_connection
        first.close()
        second.close()  # returned last
        again = engine.raw_connection()
        assert again.driver_connection is drivers[1]
        again.close()
    finally:
        engine.dispose()
