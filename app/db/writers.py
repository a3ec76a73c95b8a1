"""The queue a process's SQLite writers wait in before SQLite's own lock.

SQLite lets one writer at a time in, and its busy handler makes a waiting writer sleep and retry
(up to 100 ms a time), so under load a transaction could lose to newer ones again and again.
Writers of this process therefore queue here first: threads block in :meth:`SqliteWriters.
acquire`, and the event loop, which must never block, waits its turn in
:meth:`SqliteWriters.turn` (see :mod:`app.web.inline`), woken when the lock is handed on. The
lock is taken when a write transaction begins (``BEGIN IMMEDIATE``) and released when its
connection goes back to the pool (``engine.py``).

Turns are fair: the event loop does not take the lock while threads wait for it, and its own
waiters take it in the order they came, unless one gave up waiting.

Other processes writing to the same file (more web processes, a CLI command) queue with this
one on a :class:`~app.db.process_lock.ProcessLock`, which the holder of this lock takes next:
a thread blocks for it, the event loop awaits it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

from app.db.process_lock import ProcessLock

log = logging.getLogger(__name__)

Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class SqliteWriters:
    """The lock, the number of threads blocked on it, the event loop's parked waiters, and the
    lock shared with other processes (None for a database no other process can open)."""

    def __init__(self, shared: ProcessLock | None = None) -> None:
        self._shared = shared
        self._shared_fd: int | None = None  # set while the holder holds the shared lock too
        self._lock = threading.Lock()
        self._queue = threading.Lock()  # guards the two fields below
        self._blocked = 0
        self._parked: deque[Waiter] = deque()

    def acquire(self, timeout: float) -> bool:
        """Block this thread up to ``timeout`` seconds for the lock, then as long again for the
        other processes' turn; whether both were taken."""
        with self._queue:
            self._blocked += 1
        try:
            if not self._lock.acquire(timeout=timeout):
                return False
        finally:
            with self._queue:
                self._blocked -= 1
        return self._share(timeout)

    async def turn(self, timeout: float) -> bool:
        """Take the lock without blocking the event loop: at once if it is free and nobody
        waits, else when it is handed on, and then the other processes' turn; False when
        either took over ``timeout`` seconds."""
        return await self._local_turn(timeout) and await self._share_async(timeout)

    # The holder of this process's lock takes the shared one next: at once when it is free,
    # else through a request it waits for; if it does not get it (a timeout, a cancelled
    # request, an error) it gives up the request and lets this process's lock go.

    def _request_shared(self) -> Future[int] | None:
        """Take the shared lock if it is free (None), else the request to wait for."""
        if self._shared is None:
            return None
        try:
            self._shared_fd = self._shared.try_acquire()
        except OSError as exc:  # e.g. a read-only directory: SQLite's busy handler remains
            log.warning(
                "cannot use %s (%s); writers of other processes will poll", self._shared.path, exc
            )
            self._shared = None
            return None
        return self._shared.request() if self._shared_fd is None else None

    def _share(self, timeout: float) -> bool:
        request = self._request_shared()
        if request is not None:
            with self._given_up_unless_granted(request):
                self._shared_fd = request.result(timeout)
        return self._holds_share()

    async def _share_async(self, timeout: float) -> bool:
        request = self._request_shared()
        if request is not None:
            with self._given_up_unless_granted(request):
                self._shared_fd = await asyncio.wait_for(asyncio.wrap_future(request), timeout)
        return self._holds_share()

    @contextmanager
    def _given_up_unless_granted(self, request: Future[int]) -> Iterator[None]:
        """Around the wait for ``request``: if it ends without the shared lock, give up the
        request and let this process's lock go (a timeout ends here, anything else goes on)."""
        try:
            yield
        except BaseException as stopped:
            assert self._shared is not None
            self._shared.abandon(request)
            self.release()
            if not isinstance(stopped, TimeoutError):
                raise

    def _holds_share(self) -> bool:
        """Whether the holder has the other processes' turn too (always, with no shared lock)."""
        return self._shared is None or self._shared_fd is not None

    async def _local_turn(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        waiter = self._take_or_park(loop, newcomer=True)
        if waiter is None:
            return True
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await waiter[1]
                    waiter = self._take_or_park(loop, newcomer=False)
                    if waiter is None:
                        return True
        except (TimeoutError, asyncio.CancelledError) as stopped:
            # Given up (or the request was cancelled): leave the line, and pass on the turn in
            # case it was handed to this waiter as it stopped.
            with self._queue:
                if waiter is not None and waiter in self._parked:
                    self._parked.remove(waiter)
            self._hand_on()
            if isinstance(stopped, asyncio.CancelledError):
                raise
            return False

    def _take_or_park(self, loop: asyncio.AbstractEventLoop, *, newcomer: bool) -> Waiter | None:
        """Take the lock if it is free (a newcomer only if nobody is parked): None. Otherwise
        park, under the queue's lock so that no release slips in between: a newcomer at the end
        of the line, a waiter handed the turn but beaten to it at its head."""
        with self._queue:
            if (not newcomer or not self._parked) and self._take_if_free():
                return None
            waiter = (loop, loop.create_future())
            if newcomer:
                self._parked.append(waiter)
            else:
                self._parked.appendleft(waiter)
            return waiter

    def _take_if_free(self) -> bool:
        return self._blocked == 0 and self._lock.acquire(blocking=False)

    def release(self) -> None:
        """Release the lock (and the shared one) and hand the turn to the first parked waiter,
        if any."""
        if self._shared_fd is not None:
            fd, self._shared_fd = self._shared_fd, None
            assert self._shared is not None
            self._shared.release(fd)
        self._lock.release()
        self._hand_on()

    def _hand_on(self) -> None:
        with self._queue:
            if not self._parked:
                return
            loop, future = self._parked.popleft()
        try:
            loop.call_soon_threadsafe(self._wake, future)
        except RuntimeError:  # its loop has closed
            self._hand_on()

    def _wake(self, future: asyncio.Future[None]) -> None:
        if future.done():  # it stopped waiting: the turn passes on
            self._hand_on()
        else:
            future.set_result(None)

    def locked(self) -> bool:
        return self._lock.locked()


class WriterBusy(Exception):
    """A claimed write transaction could not begin without waiting: another process holds
    SQLite's own lock. Nothing was done; run the work where it may wait."""


_SPENT = SqliteWriters()
"""Stands in :data:`_CLAIMED` for a claimed lock that a transaction has taken over."""
_CLAIMED: ContextVar[SqliteWriters | None] = ContextVar("accord_claimed_writer", default=None)
"""The lock :func:`claimed` holds for this context, until a ``BEGIN IMMEDIATE`` of the same
context takes it over (then :data:`_SPENT`)."""


def take_claimed(writers: SqliteWriters) -> bool:
    """For a ``BEGIN IMMEDIATE``: take over the lock this context claimed (True), or False if it
    claimed none. A second one in the same claim raises RuntimeError: it would wait for the
    lock, which is what the claim's holder must not do."""
    held = _CLAIMED.get()
    if held is _SPENT:
        raise RuntimeError("a claimed SQLite writer runs one write transaction only")
    if held is not writers:
        return False
    _CLAIMED.set(_SPENT)
    return True


@asynccontextmanager
async def claimed(writers: SqliteWriters | None, timeout: float) -> AsyncIterator[bool]:
    """Wait for the lock on the event loop (yields whether it was taken: never for other
    databases, or after ``timeout`` seconds). Inside the block the next ``BEGIN IMMEDIATE`` of
    this context takes the lock over, and releases it as every write transaction does; if none
    began, the block releases it at its end. The block itself must not await: nobody else
    writes while it holds the lock."""
    if writers is None or not await writers.turn(timeout):
        yield False
        return
    token = _CLAIMED.set(writers)
    try:
        yield True
    finally:
        if _CLAIMED.get() is writers:  # never taken over
            writers.release()
        _CLAIMED.reset(token)
