"""Running a coroutine from a test: on a fresh event loop in a thread of its own, since the
browser tests leave an event loop running in the main thread."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(scenario: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(scenario)`` on another thread; its result (or its exception)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, scenario).result()
