"""``Server-Timing: app;dur=<ms>`` on every response: how long Accord took to answer.

Browsers show it in their network panel and the benchmark scripts read it, so "server time"
is measured where it is spent, without the client's or the network's share.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def server_timing_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so its HTTP responses carry the time from request to response start."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed_ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_timing)

    return middleware
