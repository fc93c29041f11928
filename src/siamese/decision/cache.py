"""The decision cache: a ``cachetools.TTLCache`` keyed by the revision and the normalised
request, with single-flight computation of concurrent identical misses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import orjson
from cachetools import TTLCache

from ..engine import lookup_path
from .models import Outcome, Request

__all__ = ["DecisionCache", "request_key"]


class _CountingTTLCache(TTLCache):
    """Counts items pushed out for room (``popitem``) and items that expired."""

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float]) -> None:
        super().__init__(maxsize, ttl, timer=timer)
        self.evictions = 0
        self.expirations = 0

    def popitem(self) -> tuple[Any, Any]:
        item = super().popitem()
        self.evictions += 1
        return item

    def expire(self, time: float | None = None) -> Any:
        expired = super().expire(time)
        if expired:
            self.expirations += len(expired)
        return expired


def _typed(value: Any) -> Hashable:
    """A value with its JSON type spelled out, for the values orjson cannot write (integers
    beyond 64 bits, lone surrogates) or writes as ``null`` (NaN, infinities)."""
    if isinstance(value, dict):
        return ("o", tuple(sorted((k, _typed(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("l", tuple(_typed(v) for v in value))
    return (type(value).__name__, repr(value))


def _dumps(value: Any) -> Hashable:
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return _typed(value)
    # orjson writes NaN and infinities as null: where a null shows, spell the types out
    return _typed(value) if b"null" in out else out


def request_key(
    revision: str, request: Request, input_paths: frozenset[str] | None, gateway: bool = False
) -> Hashable:
    """The cache key: everything the policy can see of the request, and nothing else.

    When every ``input`` goal of the policy names a literal path, only what ``input``
    observes at those paths is part of the key (so per-request noise such as a request id
    header does not defeat the cache); otherwise the whole input is. What ``input``
    observes is found with the engine's own lookup, so the key cannot tell apart two
    requests that the engine could: an absent path and a JSON ``null`` differ, and so do
    ``1``, ``1.0``, ``"1"`` and ``true`` (their JSON differs).
    """
    if input_paths is None:
        extra: Hashable = _dumps(request.input)
    elif input_paths:
        seen = []
        for path in sorted(input_paths):
            found, value = lookup_path(request.input, path)
            seen.append([value] if found else 0)  # absent: 0, present: [value]
        extra = _dumps(seen)
    else:
        extra = b""
    return (revision, request.subject, request.action, request.resource, gateway, extra)


class DecisionCache:
    def __init__(
        self, maxsize: int = 10_000, ttl: float = 60.0, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache = _CountingTTLCache(maxsize, ttl, timer)
        self._inflight: dict[Hashable, asyncio.Future[Outcome]] = {}
        self.hits = 0
        self.misses = 0
        self.coalesced = 0  # misses answered by a computation already under way

    @property
    def size(self) -> int:
        return len(self._cache)

    @property
    def maxsize(self) -> int:
        return int(self._cache.maxsize)

    @property
    def evictions(self) -> int:
        return self._cache.evictions

    @property
    def expirations(self) -> int:
        return self._cache.expirations

    def get(self, key: Hashable) -> Outcome | None:
        """The cached outcome (counted as a hit), or None (not counted: see get_or_compute)."""
        try:
            outcome: Outcome = self._cache[key]  # one lookup; TTLCache.get() makes two
        except KeyError:
            return None
        self.hits += 1
        return outcome

    async def get_or_compute(
        self, key: Hashable, compute: Callable[[], Awaitable[Outcome]]
    ) -> tuple[Outcome, bool]:
        """The cached outcome (True), or a freshly computed one (False)."""
        outcome = self.get(key)
        if outcome is not None:
            return outcome, True
        self.misses += 1
        pending = self._inflight.get(key)
        if pending is not None:
            self.coalesced += 1
            return await asyncio.shield(pending), False
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            outcome = await compute()
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._inflight[key]
        fut.set_result(outcome)
        if outcome.cacheable:
            self._cache[key] = outcome
        return outcome, False

    def clear(self) -> None:
        self._cache.clear()

    def stats(self) -> dict[str, int]:
        self._cache.expire()
        return {
            "hits": self.hits,
            "misses": self.misses,
            "coalesced": self.coalesced,
            "size": self.size,
            "evictions": self.evictions,
            "expirations": self.expirations,
        }
