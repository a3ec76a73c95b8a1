"""Fixtures for job tests: sessions with real commits, job systems stopped afterwards, real
brokers emptied before use, and ``accord worker``-equivalent processes killed afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_session_factory
from app.jobs.broker import QUEUE_NAME, REDIS_NAMESPACE, build_broker, close_broker
from app.jobs.worker import JobSystem
from app.settings import Settings
from tests.conftest import RABBITMQ_URL, REDIS_URL, require_service

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
from app.jobs.worker import run_worker_forever
from app.settings import Settings
run_worker_forever(Settings.from_env())
"""


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the per-test database (real commits)."""
    return make_session_factory(engine)


@pytest.fixture
def job_systems() -> Iterator[list[JobSystem]]:
    """Job systems the test made; all are stopped afterwards."""
    systems: list[JobSystem] = []
    yield systems
    for system in systems:
        system.stop(timeout=10)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """A real broker with Accord's queue emptied, so no earlier run's messages turn up."""
    if request.param == "redis":
        require_service("Redis", REDIS_URL)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{REDIS_NAMESPACE}:*"):
            client.delete(key)
        client.close()
        return REDIS_URL
    require_service("RabbitMQ", RABBITMQ_URL)
    broker = build_broker(Settings(env="test", broker_url=RABBITMQ_URL))
    broker.declare_queue(QUEUE_NAME)
    broker.flush_all()  # the queue, its delay queue and its dead letters
    close_broker(broker)
    return RABBITMQ_URL


@pytest.fixture
def spawn_worker(
    database_url: str, broker_url: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``accord worker``-equivalent processes; any still running are killed afterwards."""
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(code: str = WORKER, **env: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{len(processes) + 1}.log"
        environ = {
            **os.environ,
            "ACCORD_ENV": "test",
            "ACCORD_DATABASE_URL": database_url,
            "ACCORD_BROKER_URL": broker_url,
            "ACCORD_WORKER_THREADS": "1",
            "ACCORD_LOG_LEVEL": "INFO",
            **env,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process.log_path = log  # type: ignore[attr-defined]
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
