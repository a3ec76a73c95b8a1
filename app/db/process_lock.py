"""The lock every process writing to one SQLite file takes before SQLite's own.

SQLite lets one writer in at a time, and a writer of another process that finds it taken
sleeps and retries (its busy handler waits 1, 2, 5, 10, 15, 20, 25 ms and so on between tries),
so with two web processes the file's lock sat idle while the next writer slept. Processes
therefore queue on an exclusive ``flock`` of a file beside the database: the kernel wakes the
next waiter the moment the lock is released, and releases it when its holder dies.

Only the holder of a process's own writer lock (:class:`app.db.writers.SqliteWriters`) takes
this one, so at most one wait per process is under way. A wait blocks in ``flock`` on a daemon
thread of this lock (so that it can be given up after a timeout) with a file descriptor of its
own; a wait given up closes that descriptor when it is finally granted, releasing the lock
without touching anyone else's (flock locks belong to the open file, not to the process).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from concurrent.futures import Future

if sys.platform != "win32":  # no flock there: engine.py makes no ProcessLock on Windows
    import fcntl


class ProcessLock:
    """An exclusive lock shared by every process that opens ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None  # the descriptor of the uncontended path, kept open
        self._requests: queue.SimpleQueue[Future[int]] = queue.SimpleQueue()
        self._waiter: threading.Thread | None = None
        self._start = threading.Lock()

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def try_acquire(self) -> int | None:
        """Take the lock if no other process holds it: the descriptor that holds it, or None."""
        if self._fd is None:
            self._fd = self._open()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return self._fd

    def request(self) -> Future[int]:
        """Wait for the lock on this lock's thread: a future of the descriptor that holds it.
        Give it up with :meth:`abandon`, never by dropping it."""
        future: Future[int] = Future()
        with self._start:
            if self._waiter is None or not self._waiter.is_alive():
                self._waiter = threading.Thread(
                    target=self._serve, name="accord-sqlite-process-lock", daemon=True
                )
                self._waiter.start()
        self._requests.put(future)
        return future

    def abandon(self, future: Future[int]) -> None:
        """Give up a request: it never takes the lock, or lets it go as soon as it does."""
        if not future.cancel():
            future.add_done_callback(_close_if_granted)

    def release(self, fd: int) -> None:
        """Release the lock held through ``fd`` (from :meth:`try_acquire` or a request)."""
        fcntl.flock(fd, fcntl.LOCK_UN)
        if fd != self._fd:
            os.close(fd)

    def _serve(self) -> None:
        while True:
            future = self._requests.get()
            if not future.set_running_or_notify_cancel():
                continue  # given up before its turn
            try:
                fd = self._open()
            except OSError as exc:
                future.set_exception(exc)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                os.close(fd)
                future.set_exception(exc)
                continue
            future.set_result(fd)


def _close_if_granted(future: Future[int]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result())  # closing the descriptor releases its lock
