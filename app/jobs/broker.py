"""Building the Dramatiq broker from ``ACCORD_BROKER_URL`` and asking it whether it is up.

``embedded`` is Dramatiq's in-memory StubBroker served by a worker inside the web process;
``redis://`` and ``amqp://`` are real brokers served by ``accord worker`` processes. Messages are
JSON (Dramatiq's default encoder); a process that swapped in another encoder is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import dramatiq
import pika  # type: ignore[import-untyped]  # pika ships no type hints
import pika.exceptions  # type: ignore[import-untyped]
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from app.settings import Settings

QUEUE_NAME = "accord"
REDIS_NAMESPACE = "accord"
# A broker that is down must not hang a web request for long: connecting gives up after this.
CONNECT_TIMEOUT_SECONDS = 5.0

BROKER_ERRORS: tuple[type[BaseException], ...] = (
    dramatiq.errors.BrokerError,
    redis.RedisError,
    pika.exceptions.AMQPError,
    OSError,
)
"""What talking to a broker raises when it is down or unreachable."""


class BrokerUnavailable(RuntimeError):
    """The job broker (or the in-process worker) cannot take jobs right now."""


def broker_location(url: str) -> str:
    """The broker URL without credentials, for messages and logs."""
    if url == "embedded":
        return "embedded"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"


def build_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for ``settings.broker_url`` (stub, Redis or RabbitMQ), never the global one."""
    if not isinstance(dramatiq.get_encoder(), dramatiq.JSONEncoder):
        raise RuntimeError("Accord's job messages are JSON only; another Dramatiq encoder is set")
    url = settings.broker_url
    if settings.uses_embedded_broker:
        return StubBroker()
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_keepalive=True
        )
        return RedisBroker(  # type: ignore[no-untyped-call]  # dramatiq leaves it unannotated
            client=client, namespace=REDIS_NAMESPACE
        )
    if url.startswith(("amqp://", "amqps://")):
        # Publisher confirms: the relay only marks a job sent once RabbitMQ has accepted it.
        return RabbitmqBroker(url=url, confirm_delivery=True)
    raise ValueError(f"unsupported broker URL {broker_location(url)!r}")


def ping_broker(broker: dramatiq.Broker, location: str) -> None:
    """Raise BrokerUnavailable unless a real broker answers (Redis PING, a RabbitMQ connection)."""
    try:
        if isinstance(broker, RedisBroker):
            broker.client.ping()
        elif isinstance(broker, RabbitmqBroker):
            pika.BlockingConnection(broker.parameters).close()
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(
            f"job broker at {location} is unreachable: {describe_broker_error(exc)}"
        ) from exc


def describe_broker_error(exc: BaseException) -> str:
    """``Type: detail`` for a broker error."""
    # pika's connection errors have an empty str(); their args name the real cause.
    detail = str(exc) or ", ".join(str(arg) for arg in exc.args)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def close_broker(broker: dramatiq.Broker) -> None:
    """Close the broker's connections (RabbitMQ channels, the Redis connection pool)."""
    broker.close()
    if isinstance(broker, RedisBroker):
        broker.client.connection_pool.disconnect()
