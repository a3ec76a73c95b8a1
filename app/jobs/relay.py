"""The outbox relay: sends committed job rows to the broker and records that it did.

Sending happens after the enqueueing transaction has committed, so a job is never sent for a
change that rolled back; a crash between sending and marking only means the job is sent twice,
which the idempotent actor absorbs. Rows that stay queued long after they were sent (lost
messages, killed workers) are sent again after ``redeliver_after``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import begin_immediate, session_scope
from app.domain.hotspots import queue_due_scans
from app.domain.outbox import mark_sent, pending_to_send
from app.jobs.broker import BROKER_ERRORS, describe_broker_error

log = logging.getLogger("accord.jobs.relay")

BATCH_SIZE = 100


class OutboxRelay:
    """Moves pending outbox rows to the broker, on demand or from a polling daemon thread.

    The thread also queues the scheduled hotspot scans (every ``scan_every``, when given) just
    before relaying, so they are sent in the same pass.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        send: Callable[[str], object],
        *,
        poll_seconds: float,
        redeliver_after: timedelta,
        scan_every: timedelta | None = None,
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError(f"the outbox poll interval must be positive, got {poll_seconds}")
        self._factory = session_factory
        self._send = send
        self.poll_seconds = poll_seconds
        self.redeliver_after = redeliver_after
        self.scan_every = scan_every
        self._next_schedule = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def relay_once(self) -> int:
        """Send every pending job now; returns how many were sent. Broker errors are logged."""
        total = 0
        while True:
            with session_scope(self._factory) as session:
                ids = [
                    job.id
                    for job in pending_to_send(
                        session, redeliver_after=self.redeliver_after, limit=BATCH_SIZE
                    )
                ]
            if not ids:
                return total
            sent: list[str] = []
            try:
                for job_id in ids:
                    self._send(job_id)
                    sent.append(job_id)
            except BROKER_ERRORS as exc:
                log.warning(
                    "could not send job %s to the broker (%s); will retry in %gs",
                    ids[len(sent)],
                    describe_broker_error(exc),
                    self.poll_seconds,
                )
            if sent:
                # A separate, write-locked transaction: holding SQLite's write lock while
                # talking to the broker would stall every other writer if the broker is slow.
                with session_scope(self._factory) as session:
                    begin_immediate(session)
                    mark_sent(session, sent)
            total += len(sent)
            if len(sent) < BATCH_SIZE:
                return total

    @property
    def running(self) -> bool:
        """True while the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the daemon thread that relays at once and then every ``poll_seconds``."""
        if self._thread is not None:
            raise RuntimeError("the outbox relay is already started")
        self._thread = threading.Thread(target=self._loop, name="accord-outbox-relay", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Make the polling thread relay now instead of at its next tick."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the polling thread (a relay pass in progress finishes first)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def schedule_due(self) -> list[int]:
        """Queue the hotspot scans that are due (see :func:`queue_due_scans`)."""
        if self.scan_every is None:
            return []
        with session_scope(self._factory) as session:
            begin_immediate(session)
            return queue_due_scans(session, self.scan_every)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.scan_every is not None and time.monotonic() >= self._next_schedule:
                    # Checked at most once a minute: finding due projects reads every project.
                    self._next_schedule = time.monotonic() + 60
                    queued = self.schedule_due()
                    if queued:
                        log.info("queued scheduled hotspot scans for projects %s", queued)
                self.relay_once()
            except Exception:  # e.g. the database is down: logged, and the next tick retries
                log.exception("outbox relay pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
