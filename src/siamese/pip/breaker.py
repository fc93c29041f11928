"""A circuit breaker per upstream host, so that a host that is down costs a decision
nothing but a note, instead of a timeout each.

closed ──(``failures`` consecutive failures)──▶ open ──(``cooldown`` seconds)──▶ half-open
half-open: one trial call goes through; success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Breakers", "CircuitBreaker"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failures: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = failures  # 0: never opens
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0  # consecutive
        self.opened_at: float | None = None
        self.trial_at: float | None = None  # when the half-open trial call was let through
        self.opens = 0  # times the circuit opened

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        if self.clock() - self.opened_at >= self.cooldown:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a call go out now? In half-open, True for one trial call at a time."""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        now = self.clock()
        # a trial that never reported (its task died) must not wedge the circuit half-open
        if self.trial_at is not None and now - self.trial_at < self.cooldown:
            return False
        self.trial_at = now
        return True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_at = None

    def failure(self) -> None:
        self.failures += 1
        self.trial_at = None
        if self.opened_at is not None or (self.threshold and self.failures >= self.threshold):
            # opens, or (a failed trial) opens again for another full cool-down
            self.opened_at = self.clock()
            self.opens += 1

    def release(self) -> None:
        """The call ended without saying anything about the host (it was refused before
        connecting, or cancelled): let the next trial through."""
        self.trial_at = None

    def describe(self) -> str:
        return f"circuit open for {self.name} after {self.failures} consecutive failures"


class Breakers:
    """One breaker per host (``scheme://host:port``), made on first use. The allowlist
    bounds how many hosts there can be."""

    def __init__(
        self,
        failures: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.clock = clock
        self._by_host: dict[str, CircuitBreaker] = {}

    def get(self, host: str) -> CircuitBreaker:
        b = self._by_host.get(host)
        if b is None:
            b = self._by_host[host] = CircuitBreaker(host, self.failures, self.cooldown, self.clock)
        return b

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in sorted(self._by_host.items())}
