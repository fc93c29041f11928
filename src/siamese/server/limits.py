"""What a client may send: JSON nesting, and requests per second (the body size is
checked while reading it: :meth:`siamese.server.asgi.Call.body`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson

from .responses import ApiError

__all__ = ["RateLimiter", "json_depth", "parse_json"]


def json_depth(value: Any) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item  # type: ignore[assignment]
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
        stack.extend((c, depth) for c in children if isinstance(c, dict | list))
    return deepest


def parse_json(body: bytes, max_depth: int) -> Any:
    """Parse a request body: 400 for an empty body, malformed JSON or nesting deeper than
    ``max_depth``."""
    if not body.strip():
        raise ApiError(400, "request body is empty: expected a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e) or "recursion" in str(e):
            raise ApiError(400, f"JSON nesting is deeper than {max_depth} levels") from None
        raise ApiError(400, f"malformed JSON: {e}") from None
    # The number of opening brackets bounds the depth, so most bodies need no walk.
    if body.count(b"{") + body.count(b"[") > max_depth and json_depth(data) > max_depth:
        raise ApiError(400, f"JSON nesting is deeper than {max_depth} levels")
    return data


class RateLimiter:
    """A token bucket per client: ``rate`` tokens a second, at most ``burst`` saved up.

    Clients that have been idle long enough to refill are forgotten when the table grows
    past ``max_clients``, so a flood of distinct clients cannot grow it without bound.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, list[float]] = {}  # client -> [tokens, last refill time]
        self.limited = 0

    def check(self, client: str) -> float | None:
        """Take a token for ``client``: None if it may go ahead, else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_idle(now)
            self._buckets[client] = [self.burst - 1.0, now]
            return None
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        self.limited += 1
        return (1.0 - tokens) / self.rate

    def peek(self, client: str) -> float | None:
        """Like :meth:`check`, without taking a token: None if ``client`` may go ahead."""
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        tokens = min(self.burst, bucket[0] + (self.clock() - bucket[1]) * self.rate)
        return None if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def retry_after(self, wait: float) -> str:
        return str(max(1, math.ceil(wait)))

    def _forget_idle(self, now: float) -> None:
        full = self.burst
        idle = [c for c, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= full]
        for c in idle:
            del self._buckets[c]
        if len(self._buckets) >= self.max_clients:  # all busy: drop the oldest entry
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)
