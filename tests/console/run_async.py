"""Coroutines run to their end from the console's synchronous tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def complete(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on an event loop of its own, in a worker thread: once a browser test has
    started Playwright (its sync API, for the whole session), this thread has a loop marked
    running, and neither asyncio.run nor pytest-asyncio can start another here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
