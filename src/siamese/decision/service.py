"""The decision service: the current policy set, the authorizer and the cache together."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

from .authorizer import Authorizer, PolicyLike
from .cache import DecisionCache, request_key
from .models import Decision, Outcome, Request

__all__ = ["DecisionService", "NotReady", "id_factory"]


class NotReady(RuntimeError):
    """No policy set is loaded yet: nothing can be decided (the server answers 503)."""


def id_factory() -> Callable[[], str]:
    """Unique decision ids: a random per-process prefix and a counter (cheaper than uuid4,
    and still unique across processes and restarts)."""
    prefix = os.urandom(8).hex()
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):010x}"


class DecisionService:
    def __init__(
        self,
        policies: Callable[[], PolicyLike | None],
        authorizer: Authorizer | None = None,
        cache: DecisionCache | None = None,
        *,
        new_id: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.policies = policies
        self.authorizer = authorizer or Authorizer()
        self.cache = cache
        self.new_id = new_id or id_factory()
        self.clock = clock

    async def decide(self, request: Request, gateway: bool = False) -> Decision:
        started = self.clock()
        policy = self.policies()  # read the reference once: one revision for the whole decision
        if policy is None:
            raise NotReady("no policy set is loaded")
        cached = False
        cache = self.cache
        if cache is None:
            r = self.authorizer.evaluate_now(policy, request, gateway)
            outcome = r if isinstance(r, Outcome) else await r
        else:
            key = request_key(policy.revision, request, policy.program.input_paths, gateway)
            hit = cache.get(key)  # the hot path: no coroutine for a hit
            if hit is not None:
                outcome, cached = hit, True
            else:
                outcome, cached = await cache.get_or_compute(
                    key, lambda: self.authorizer.evaluate(policy, request, gateway)
                )
        return Decision(
            outcome,
            self.new_id(),
            request,
            cached=cached,
            latency_us=int((self.clock() - started) * 1_000_000),
        )

    async def evaluate(self, request: Request) -> Outcome:
        """Decide without the cache (tests, replay)."""
        policy = self.policies()
        if policy is None:
            raise NotReady("no policy set is loaded")
        return await self.authorizer.evaluate(policy, request)
