"""Shadow policies (live impact analysis): a candidate policy set decides the same requests
as the serving one, off the request path, and every disagreement is recorded.

The server tells the :class:`ShadowRunner` of each answered decision (it is a decision
listener). On that path the runner does two things only: it draws a number for the sample
(SIAMESE_SHADOW_SAMPLE) and puts the decision on a bounded queue, or counts it dropped when
the queue is full. A task of its own takes decisions off the queue and decides each again
with the candidate set, with the serving limits and no cache, yielding the event loop between
decisions. When the candidate's allow or deny differs from the serving one, it hands a
:class:`ShadowEvent` (both outcomes, both explanations) to its ``record`` callable (the
decision log) and counts the pair.

The serving answer is never changed: the runner sees decisions after they are answered, and
nothing it does reaches the answer. A candidate that is not loaded is counted as an error, not
a disagreement; a candidate that fails to decide denies, as it would if it served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .authorizer import Authorizer, PolicyLike
from .models import Decision, Outcome

log = logging.getLogger("siamese.shadow")

__all__ = ["ShadowEvent", "ShadowRunner"]


@dataclass(frozen=True, slots=True)
class ShadowEvent:
    """A decision on which the candidate set disagrees: the serving decision as answered,
    and the candidate's outcome for the same request."""

    decision: Decision
    shadow: Outcome


def _result(allowed: bool) -> str:
    return "allow" if allowed else "deny"


class ShadowRunner:
    """Decides answered decisions again with ``candidate()`` (the shadow store's current
    set), and records where it disagrees.

    ``sample``: the share of decisions compared (0 to 1). ``queue_size``: decisions waiting
    at most; more are dropped (counted). ``record``: told of every disagreement (its return
    value is not awaited: a disagreement that the decision log cannot write is counted lost
    there). ``draw``: the sample's random source (tests pass their own)."""

    def __init__(
        self,
        candidate: Callable[[], PolicyLike | None],
        authorizer: Authorizer,
        record: Callable[[ShadowEvent], Any],
        *,
        sample: float = 1.0,
        queue_size: int = 1000,
        draw: Callable[[], float] = random.random,
        source: str = "",
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"sample must be from 0 to 1, got {sample}")
        self.candidate = candidate
        self.authorizer = authorizer
        self.record = record
        self.sample = sample
        self.draw = draw
        self.source = source  # where the candidate comes from, for /v1/policies
        self.queue_size = queue_size
        self._queue: asyncio.Queue[Decision] | None = None
        self._task: asyncio.Task[None] | None = None
        self.compared = 0
        self.dropped = 0  # queue full, or not running
        self.errors = 0  # no candidate loaded, or a comparison failed
        # (serving, shadow) -> count, e.g. ("allow", "deny")
        self.disagreements: dict[tuple[str, str], int] = {
            ("allow", "deny"): 0, ("deny", "allow"): 0,
        }
        self.idle = asyncio.Event()  # set whenever the queue is empty and nothing is deciding
        self.idle.set()

    # --- the request path -------------------------------------------------------------------

    def __call__(self, decision: Decision) -> None:
        """A decision listener: queue the decision for the candidate (sampled)."""
        if self.sample < 1.0 and self.draw() >= self.sample:
            return
        queue = self._queue
        if queue is None:
            self.dropped += 1
            return
        try:
            queue.put_nowait(decision)
        except asyncio.QueueFull:
            self.dropped += 1
        else:
            self.idle.clear()

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        if self._task is None:
            return "stopped"
        return "ok" if self.candidate() is not None else "degraded"

    async def start(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        self._task = asyncio.create_task(self._run(), name="siamese-shadow")

    async def stop(self) -> None:
        """Stop at once: decisions still queued are not compared (they were answered; the
        comparison is an estimate and never holds up a shutdown)."""
        task, self._task = self._task, None
        if self._queue is not None:
            self.dropped += self._queue.qsize()
        self._queue = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.idle.set()

    def status(self) -> dict[str, Any]:
        policy = self.candidate()
        return {
            "state": self.state,
            "source": self.source,
            "revision": policy.revision if policy is not None else None,
            "sample": self.sample,
            "compared": self.compared,
            "disagreements": sum(self.disagreements.values()),
            "disagreements_by": {f"{a}->{b}": n for (a, b), n in self.disagreements.items()},
            "dropped": self.dropped,
            "errors": self.errors,
            "queued": self._queue.qsize() if self._queue is not None else 0,
        }

    # --- the comparing task -----------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            decision = await queue.get()
            try:
                await self._compare(decision)
            except Exception:  # a bug: count it, keep comparing
                self.errors += 1
                log.exception("shadow comparison of decision %s failed", decision.decision_id)
            if queue.empty():
                self.idle.set()
            else:
                await asyncio.sleep(0)  # one comparison per turn: serving requests go first

    async def _compare(self, decision: Decision) -> None:
        policy = self.candidate()
        if policy is None:
            self.errors += 1
            return
        # a candidate that fails to decide (a limit, an error) denies, as it would serving:
        # against a serving allow, that is a disagreement worth seeing, with its errors
        outcome = await self.authorizer.evaluate(policy, decision.request)
        self.compared += 1
        if outcome.allowed == decision.allowed:
            return
        self.disagreements[(_result(decision.allowed), _result(outcome.allowed))] += 1
        self.record(ShadowEvent(decision, outcome))
