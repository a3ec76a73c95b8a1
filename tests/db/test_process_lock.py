"""Writers of several processes on one SQLite file queue on a shared lock file: a waiter gets
it the moment it is released, a wait can be given up without leaving the lock taken, the event
loop awaits it without blocking, and real processes writing at once lose nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from pathlib import Path

from sqlalchemy import Engine, text

from app.db.engine import make_engine, make_session_factory, session_scope
from app.db.process_lock import ProcessLock
from app.db.writers import SqliteWriters
from tests.aio import run_async


def _other_process(path: Path) -> ProcessLock:
    """A second lock on the same file: its own open file, so it contends as another process
    would (flock locks belong to the open file)."""
    return ProcessLock(str(path))


def test_a_held_lock_is_not_taken_twice_and_a_waiter_gets_it_on_release(tmp_path: Path) -> None:
    path = tmp_path / "db-writer.lock"
    mine, theirs = ProcessLock(str(path)), _other_process(path)
    held = theirs.try_acquire()
    assert held is not None
    assert mine.try_acquire() is None
    request = mine.request()
    assert not request.done()
    theirs.release(held)
    fd = request.result(timeout=5)
    assert theirs.try_acquire() is None  # now this side holds it
    mine.release(fd)
    again = theirs.try_acquire()
    assert again is not None
    theirs.release(again)


def test_an_abandoned_wait_lets_go_of_the_lock_when_it_is_granted(tmp_path: Path) -> None:
    path = tmp_path / "db-writer.lock"
    mine, theirs, third = (ProcessLock(str(path)) for _ in range(3))
    held = theirs.try_acquire()
    assert held is not None
    request = mine.request()
    mine.abandon(request)  # given up while the other holds it
    theirs.release(held)
    taken = third.request().result(timeout=5)  # the abandoned wait did not keep it
    third.release(taken)
    granted = mine.request()
    granted.result(timeout=5)  # free: granted at once, then given up all the same
    mine.abandon(granted)
    free = third.try_acquire()
    assert free is not None
    third.release(free)


def test_a_thread_waits_for_another_process_and_gives_up_after_its_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db-writer.lock"
    writers, theirs = SqliteWriters(ProcessLock(str(path))), _other_process(path)
    held = theirs.try_acquire()
    assert held is not None
    assert not writers.acquire(timeout=0.2)
    assert not writers.locked()  # this process's own lock was let go too
    threading.Timer(0.2, theirs.release, args=(held,)).start()
    assert writers.acquire(timeout=5)
    assert theirs.try_acquire() is None
    writers.release()
    free = theirs.try_acquire()
    assert free is not None
    theirs.release(free)


def test_the_event_loop_awaits_another_process_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "db-writer.lock"
    writers, theirs = SqliteWriters(ProcessLock(str(path))), _other_process(path)
    held = theirs.try_acquire()
    assert held is not None

    async def scenario() -> None:
        waiting = asyncio.create_task(writers.turn(timeout=5))
        for _ in range(5):  # the loop keeps running other work meanwhile
            await asyncio.sleep(0.01)
        assert not waiting.done()
        theirs.release(held)
        assert await waiting
        assert theirs.try_acquire() is None
        writers.release()

        again = theirs.try_acquire()
        assert again is not None
        cancelled = asyncio.create_task(writers.turn(timeout=5))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert not writers.locked()
        theirs.release(again)
        assert await writers.turn(timeout=5)  # the cancelled wait left nothing taken
        writers.release()

    run_async(scenario())


def _write_once(url: str) -> None:
    engine = make_engine(url)
    with session_scope(make_session_factory(engine, immediate=True)) as session:
        session.execute(text("UPDATE counter SET n = n + 1"))
    engine.dispose()


def test_a_write_in_another_process_waits_for_the_holder_of_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accord.db'}"
    engine = _counter(url)
    holder = ProcessLock(f"{tmp_path / 'accord.db'}-writer.lock")
    held = holder.try_acquire()
    assert held is not None
    writer = multiprocessing.get_context("spawn").Process(target=_write_once, args=(url,))
    writer.start()
    writer.join(3)  # it cannot finish while the lock is held (SQLite's own lock is free)
    assert writer.is_alive()
    assert _count(engine) == 0
    holder.release(held)
    writer.join(60)
    assert writer.exitcode == 0
    assert _count(engine) == 1
    engine.dispose()


def _counter(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT n FROM counter")).scalar_one())


def _count_up(url: str, times: int, start: multiprocessing.synchronize.Event) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine, immediate=True)
    start.wait(10)
    for _ in range(times):
        with session_scope(factory) as session:
            value = session.execute(text("SELECT n FROM counter")).scalar_one()
            session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
    engine.dispose()


def test_processes_writing_at_once_take_turns_and_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accord.db'}"
    engine = _counter(url)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_count_up, args=(url, 150, start)) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert _count(engine) == 450
    assert (tmp_path / "accord.db-writer.lock").exists()
    engine.dispose()
