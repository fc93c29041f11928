"""The cache of fetched data: per-entry lifetimes on an injected clock, and single-flight
fetching (concurrent misses for one key wait for one fetch).

Each entry lives as long as its source allows (``Cache-Control: max-age``), so this is
cachetools' ``TLRUCache`` (a ``TTLCache`` whose time-to-live is chosen per item) rather
than a ``TTLCache`` with one TTL for all.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cachetools import TLRUCache

__all__ = ["DataCache", "freshness"]


def freshness(cache_control: str | None, default: float, max_ttl: float) -> float | None:
    """How long a response may be reused, from its ``Cache-Control`` header: ``no-store``
    and ``no-cache`` → None (not stored); ``s-maxage``/``max-age`` (capped at ``max_ttl``);
    otherwise ``default``. None when the answer is zero or less."""
    ttl = default
    if cache_control:
        directives: dict[str, str] = {}
        for part in cache_control.split(","):
            name, _, value = part.strip().partition("=")
            directives[name.strip().lower()] = value.strip().strip('"')
        if "no-store" in directives or "no-cache" in directives:
            return None
        for name in ("s-maxage", "max-age"):  # we are a shared cache: s-maxage wins
            if name in directives:
                try:
                    ttl = float(int(directives[name]))
                except ValueError:
                    return None  # a malformed lifetime is treated as stale (RFC 9111 §4.2.1)
                break
    ttl = min(ttl, max_ttl)
    return ttl if ttl > 0 else None


class DataCache:
    """``get_or_fetch(key, fetch)``: a fresh entry, or the value of ``fetch()``, which
    returns ``(value, ttl)`` (ttl None: do not store). ``maxsize=0`` stores nothing but
    still makes concurrent identical fetches once.

    Values are never None (JSON null is the atom ``"null"``)."""

    def __init__(
        self,
        maxsize: int = 1024,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TLRUCache[str, tuple[Any, float]] | None = (
            TLRUCache(maxsize, _expires, timer=timer) if maxsize > 0 else None
        )
        self._inflight: dict[str, asyncio.Future[tuple[Any, bool]]] = {}
        self.hits = 0
        self.misses = 0
        self.coalesced = 0  # misses answered by a fetch already under way

    def get(self, key: str) -> Any | None:
        if self._cache is None:
            return None
        try:
            value = self._cache[key][0]
        except KeyError:
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: Any, ttl: float | None) -> bool:
        """Keep ``value`` for ``ttl`` seconds; False if it was not kept."""
        if self._cache is None or ttl is None or ttl <= 0:
            return False
        self._cache[key] = (value, ttl)
        return True

    async def get_or_fetch(
        self, key: str, fetch: Callable[[], Awaitable[tuple[Any, float | None]]]
    ) -> tuple[Any, bool]:
        """``(value, reusable)``: reusable is False when the value may not be kept (its
        source said so, or the cache is off)."""
        value = self.get(key)
        if value is not None:
            return value, True
        fut = self._inflight.get(key)
        if fut is None:
            self.misses += 1
            # the fetch is a task of its own, in an empty context: it belongs to no one
            # caller, so a caller that gives up (its decision timed out) does not cancel it
            # for the others
            fut = asyncio.get_running_loop().create_task(
                self._fill(key, fetch), context=contextvars.Context()
            )
            fut.add_done_callback(_retrieve)
            self._inflight[key] = fut
        else:
            self.coalesced += 1
        return await asyncio.shield(fut)

    async def _fill(
        self, key: str, fetch: Callable[[], Awaitable[tuple[Any, float | None]]]
    ) -> tuple[Any, bool]:
        try:
            value, ttl = await fetch()
            return value, self.put(key, value, ttl)
        finally:
            del self._inflight[key]

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.clear()

    def cancel(self) -> None:
        """Cancel the fetches under way (at shutdown)."""
        for fut in list(self._inflight.values()):
            fut.cancel()

    @property
    def size(self) -> int:
        if self._cache is None:
            return 0
        self._cache.expire()
        return len(self._cache)

    def stats(self) -> Mapping[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "coalesced": self.coalesced,
            "size": self.size,
        }


def _expires(key: str, entry: tuple[Any, float], now: float) -> float:
    return now + entry[1]


def _retrieve(fut: asyncio.Future[Any]) -> None:
    # every waiter may have gone: mark the error seen so asyncio does not log it
    if not fut.cancelled():
        fut.exception()
