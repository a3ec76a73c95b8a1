"""Where the labeling loop's database work runs: on the event loop on SQLite, on a handler
thread elsewhere.

Handlers are synchronous and run on Litestar's threads, so a slow one (an export, a dashboard)
never holds up the others. For the labeling loop's requests on SQLite that has a price: a next
or submit is a few milliseconds of statements under the process's writer lock (every write
transaction of the process waits in that one queue anyway), and the hop to a thread and back,
with threads taking turns at the interpreter, added about a third as much again.
So the loop's transaction runs right on the event loop once it holds the writer lock: the event
loop waits its turn without blocking (:meth:`app.db.writers.SqliteWriters.turn`), after the
threads already waiting (an import, a job), and nothing in the transaction can wait (SQLite in
WAL mode never makes a reader wait, and the lock is held; if another process holds SQLite's own
lock, the transaction does not begin and the work goes to a thread). On PostgreSQL, whose
statements wait on the network and on row locks, the work goes to a thread as every handler's
does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from litestar.concurrency import sync_to_thread
from litestar.datastructures import State

from app.db.engine import claim_sqlite_writer, is_sqlite
from app.db.writers import WriterBusy

P = ParamSpec("P")
T = TypeVar("T")


async def run_write(state: State, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``work``, one short write transaction (one ``BEGIN IMMEDIATE`` at most, and before
    anything else it does), on the event loop once it holds this process's SQLite writer lock;
    on a thread on PostgreSQL, or when another process holds SQLite's own lock."""
    async with claim_sqlite_writer(state.engine) as claimed:
        if claimed:
            try:
                return work(*args, **kwargs)
            except WriterBusy:
                pass  # nothing was done: wait for the other process on a thread
    return await sync_to_thread(work, *args, **kwargs)


def reads_inline(state: State) -> bool:
    """Whether a short read may run on the event loop: on SQLite, whose readers never wait."""
    return is_sqlite(state.engine)
