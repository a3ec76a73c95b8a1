"""One process's job system: its broker, the outbox actor, the relay and (optionally) a worker.

The web process builds a :class:`JobSystem` with ``run_worker=True`` for the embedded broker (jobs
run in-process) and ``run_worker=False`` otherwise (it only relays); ``accord worker`` calls
:func:`run_worker_forever`, which runs a worker and a relay until SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from types import FrameType

import dramatiq
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import begin_immediate, make_engine, make_session_factory, session_scope
from app.domain.outbox import JobHandler, mark_all_unsent, pending_to_send
from app.jobs.actors import ACTOR_NAME, ActorPolicy, declare_actors
from app.jobs.broker import (
    QUEUE_NAME,
    BrokerUnavailable,
    broker_location,
    build_broker,
    close_broker,
    ping_broker,
)
from app.jobs.relay import OutboxRelay
from app.settings import Settings

log = logging.getLogger("accord.jobs")

# Longer than the actor's time limit and its longest retry backoff, so a job that is merely
# running or waiting for its retry is not sent again.
REDELIVER_AFTER = timedelta(minutes=15)


class JobSystem:
    """Broker, actor, outbox relay and optional in-process worker, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        run_worker: bool,
        handlers: Mapping[str, JobHandler] | None = None,
        policy: ActorPolicy | None = None,
        redeliver_after: timedelta = REDELIVER_AFTER,
    ) -> None:
        self.settings = settings
        self.run_worker = run_worker
        self.location = broker_location(settings.broker_url)
        self.broker = build_broker(settings)
        self.actors = declare_actors(self.broker, session_factory, handlers=handlers, policy=policy)
        self.relay = OutboxRelay(
            session_factory,
            self._send,
            poll_seconds=settings.outbox_poll_seconds,
            redeliver_after=redeliver_after,
            scan_every=(
                timedelta(minutes=settings.hotspot_scan_minutes)
                if settings.hotspot_scan_minutes > 0
                else None
            ),
        )
        self._factory = session_factory
        self._worker: dramatiq.Worker | None = None
        self._started = False

    def _send(self, job_id: str) -> None:
        self.actors[ACTOR_NAME].send(job_id)

    def start(self) -> None:
        """Start the worker (when asked to) and the relay thread."""
        if self._started:
            raise RuntimeError("this JobSystem is already started")
        self._started = True
        if self.settings.uses_embedded_broker:
            with session_scope(self._factory) as session:
                begin_immediate(session)
                forgotten = mark_all_unsent(session)
            if forgotten:
                log.info(
                    "re-sending %d queued job(s) the previous process had in memory", forgotten
                )
        if self.run_worker:
            # Dramatiq's own CLI emits this; without it the time-limit middleware never arms.
            self.broker.emit_after("process_boot")
            # In-process consumers poll an in-memory queue: a short timeout costs nothing and
            # lets the web process shut down promptly.
            timeout_ms = 100 if self.settings.uses_embedded_broker else 1000
            self._worker = dramatiq.Worker(
                self.broker,
                worker_threads=self.settings.worker_threads,
                queues={QUEUE_NAME},
                worker_timeout=timeout_ms,
            )
            self._worker.start()
        self.relay.start()
        log.info(
            "job system started (broker %s, worker %s)",
            self.location,
            "in this process" if self.run_worker else "elsewhere",
        )

    def relay_now(self) -> None:
        """Send pending jobs to the broker now; never raises (the relay thread retries)."""
        if self.relay.running:
            self.relay.wake()
            return
        try:
            self.relay.relay_once()
        except SQLAlchemyError:
            log.exception("could not relay the outbox; the relay thread will retry")

    def check(self) -> None:
        """Raise BrokerUnavailable (with the reason) unless jobs can be sent and run."""
        if self.run_worker or self.settings.uses_embedded_broker:
            worker = self._worker
            threads = [*worker.workers, *worker.consumers.values()] if worker else []
            if not threads or not all(thread.is_alive() for thread in threads):
                raise BrokerUnavailable("the job worker in this process is not running")
        if self._started and not self.relay.running:
            raise BrokerUnavailable("the outbox relay thread has stopped")
        ping_broker(self.broker, self.location)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued job has been sent and the embedded worker is idle (tests)."""
        if not isinstance(self.broker, StubBroker) or self._worker is None:
            raise RuntimeError("wait_idle() needs the embedded broker with a started worker")
        deadline = time.monotonic() + timeout
        self.relay_now()
        # Joining an empty queue before the relay has sent anything would return at once.
        while self._has_unsent():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs were still unsent after {timeout:g}s")
            time.sleep(0.02)
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        try:
            self.broker.join(QUEUE_NAME, timeout=remaining_ms, fail_fast=False)
        except dramatiq.errors.QueueJoinTimeout as exc:
            raise TimeoutError(f"jobs were still pending after {timeout:g}s") from exc
        self._worker.join()

    def _has_unsent(self) -> bool:
        with session_scope(self._factory) as session:
            return bool(
                pending_to_send(session, redeliver_after=self.relay.redeliver_after, limit=1)
            )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the relay and the worker (letting running jobs finish) and close the broker."""
        self.relay.stop(timeout)
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout * 1000))
            self._worker = None
        close_broker(self.broker)


def run_worker_forever(
    settings: Settings,
    *,
    handlers: Mapping[str, JobHandler] | None = None,
    redeliver_after: timedelta = REDELIVER_AFTER,
) -> None:
    """Run a worker and an outbox relay for ``settings`` until SIGINT or SIGTERM."""
    # The level applies to Accord's loggers only; pika and Dramatiq are chatty at INFO.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("accord").setLevel(settings.log_level)
    engine = make_engine(settings.database_url)
    system = JobSystem(
        settings,
        make_session_factory(engine),
        run_worker=True,
        handlers=handlers,
        redeliver_after=redeliver_after,
    )
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping after running jobs finish", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        system.start()
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(1.0):
            pass
    finally:
        system.stop()
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker stopped")
