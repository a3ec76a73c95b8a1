"""The event loop's turns at the SQLite writer lock: taken without blocking the loop, handed on in
order, never ahead of a waiting thread, and given to exactly one write transaction."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.engine import (
    claim_sqlite_writer,
    make_engine,
    make_session_factory,
    sqlite_write_lock,
)
from app.db.writers import SqliteWriters
from tests.aio import run_async


async def _wait_until(condition: object, what: str) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting until {what}")


def test_the_turn_comes_at_once_when_the_lock_is_free() -> None:
    writers = SqliteWriters()

    async def scenario() -> None:
        assert await writers.turn(timeout=1)
        assert writers.locked()
        writers.release()

    run_async(scenario())
    assert not writers.locked()


def test_a_busy_lock_parks_the_waiter_without_blocking_the_loop() -> None:
    writers = SqliteWriters()
    assert writers.acquire(timeout=1)  # held by this thread, standing for a job

    async def scenario() -> None:
        waiting = asyncio.create_task(writers.turn(timeout=5))
        ticks = 0
        while ticks < 5:  # the loop keeps running other work meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done()
        threading.Thread(target=writers.release).start()  # released from another thread
        assert await waiting
        assert writers.locked()
        writers.release()

    run_async(scenario())


def test_parked_waiters_take_the_lock_in_the_order_they_came() -> None:
    writers = SqliteWriters()
    assert writers.acquire(timeout=1)
    order: list[int] = []

    async def take(n: int) -> None:
        assert await writers.turn(timeout=5)
        order.append(n)
        await asyncio.sleep(0)  # let a newcomer try to overtake while this one holds it
        writers.release()

    async def scenario() -> None:
        tasks = []
        for n in range(5):
            tasks.append(asyncio.create_task(take(n)))
            await asyncio.sleep(0.005)
        writers.release()
        tasks.append(asyncio.create_task(take(5)))  # comes last, while the first is handed on
        await asyncio.gather(*tasks)

    run_async(scenario())
    assert order == [0, 1, 2, 3, 4, 5]
    assert not writers.locked()


def test_the_loop_does_not_overtake_a_thread_waiting_for_the_lock() -> None:
    writers = SqliteWriters()
    assert writers.acquire(timeout=1)
    took: list[str] = []

    def thread_writer() -> None:
        assert writers.acquire(timeout=5)
        took.append("thread")
        writers.release()

    async def scenario() -> None:
        thread = threading.Thread(target=thread_writer)
        thread.start()
        await _wait_until(lambda: writers._blocked == 1, "the thread waits")
        writers.release()  # free for a moment, but the thread queued first
        assert await writers.turn(timeout=5)
        took.append("loop")
        writers.release()
        await asyncio.to_thread(thread.join)

    run_async(scenario())
    assert took == ["thread", "loop"]


def test_a_waiter_gives_up_after_its_timeout_and_passes_its_turn_on() -> None:
    writers = SqliteWriters()
    assert writers.acquire(timeout=1)

    async def scenario() -> None:
        assert not await writers.turn(timeout=0.05)
        later = asyncio.create_task(writers.turn(timeout=5))
        await asyncio.sleep(0.01)
        writers.release()
        assert await later
        writers.release()

    run_async(scenario())
    assert not writers.locked()


def test_a_waiter_cancelled_as_its_turn_comes_passes_the_turn_on() -> None:
    writers = SqliteWriters()
    assert writers.acquire(timeout=1)

    async def scenario() -> None:
        first = asyncio.create_task(writers.turn(timeout=5))
        second = asyncio.create_task(writers.turn(timeout=5))
        await asyncio.sleep(0.01)
        writers.release()  # hands the turn to the first waiter...
        await asyncio.sleep(0)  # (the hand-over runs)
        first.cancel()  # ...which is cancelled before it can take it
        assert await second  # the second still gets the lock, without waiting for a timeout
        writers.release()
        with contextlib.suppress(asyncio.CancelledError):
            await first

    run_async(scenario())
    assert not writers.locked()


def test_a_claim_passes_to_one_write_transaction_and_is_freed_with_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'accord.db'}")
    writers = make_session_factory(engine, immediate=True)
    lock = sqlite_write_lock(engine)
    assert lock is not None

    async def scenario() -> None:
        # A claim no transaction takes over is released at the end of its block.
        async with claim_sqlite_writer(engine) as claimed:
            assert claimed and lock.locked()
        assert not lock.locked()
        # Taken over by the first BEGIN IMMEDIATE, freed when its transaction ends.
        async with claim_sqlite_writer(engine) as claimed:
            assert claimed
            with writers() as session:
                session.execute(text("SELECT 1"))
                assert lock.locked()
                session.commit()
                assert not lock.locked()
                # A second write transaction in the same claim would wait for the lock: refused.
                with pytest.raises(RuntimeError, match="one write transaction"):
                    session.execute(text("SELECT 1"))
        assert not lock.locked()

    try:
        run_async(scenario())
    finally:
        engine.dispose()


def test_write_sessions_find_their_engines_lock(tmp_path: Path) -> None:
    """A write session's bind is the engine with BEGIN IMMEDIATE as an option: it names the
    same lock (the agreement store asks it whether to skip storing a report)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'accord.db'}")
    with make_session_factory(engine, immediate=True)() as session:
        bind = session.get_bind()
        assert bind is not engine
        assert sqlite_write_lock(bind) is sqlite_write_lock(engine) is not None
    engine.dispose()


def test_postgresql_engines_are_never_claimed() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")

    async def scenario() -> bool:
        async with claim_sqlite_writer(engine) as claimed:
            return claimed

    assert run_async(scenario()) is False
    engine.dispose()
