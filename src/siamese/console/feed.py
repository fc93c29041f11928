"""The live view's feed: the last decisions this process answered, numbered in the order
they were answered, and how many were answered (and denied) in each of the last seconds.

The server tells the feed of every answered decision (a listener of its ``Context``), so
what it does per decision is kept to a clock read, an append to a bounded deque and a
counter or two: it makes no text and never reads a decision's explanation or rule ids
(both are made at their first read, at a cost). What needs them is worked out when the page
asks, over the decisions kept only.

One event loop calls the feed and reads it, and neither the listener nor :meth:`snapshot`
awaits: a snapshot sees every decision up to its ``seq`` and none after, without a lock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..decision.models import Decision, Outcome

__all__ = ["DEFAULT_SIZE", "DEFAULT_WINDOW", "DecisionFeed", "Denied", "Entry", "Snapshot",
           "denied_by"]

DEFAULT_SIZE = 200  # decisions kept
DEFAULT_WINDOW = 60  # seconds counted for the rate and the deny share
TOP_DENIED = 5  # causes of denial listed


@dataclass(frozen=True, slots=True)
class Entry:
    """A decision kept by the feed: its number (1 for the first the process answered) and
    when it was answered (epoch seconds)."""

    seq: int
    at: float
    decision: Decision


@dataclass(frozen=True, slots=True)
class Denied:
    """One cause of denial and how many of the kept decisions of the window it denied.
    ``kind``: ``rule`` (a deny rule proved; ``rule`` is its ``@id``, or its ``file:line``
    when it has none), ``no-allow-rule`` (no allow rule proved: a default deny) or ``error``
    (the evaluation failed: ``rule`` is the limit it exceeded, if that is why)."""

    kind: str
    rule: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The feed at one moment.

    ``decided`` and ``denied`` count every decision of the last ``window`` seconds (counted
    by whole seconds: up to one more than the feed's window; the feed's age when it is
    younger, one second at least); ``rate`` is ``decided / window``. ``top_denied``
    counts the causes of the denials among the kept decisions of the window only
    (``sampled`` of them): at more than ``size`` decisions per window, a sample of the most
    recent. ``entries``: the kept decisions numbered after the ``after`` asked for, newest
    first; ``missed``: how many decisions after it are no longer kept."""

    seq: int
    window: float
    decided: int
    denied: int
    rate: float
    deny_share: float | None  # None: no decision in the window
    top_denied: tuple[Denied, ...]
    sampled: int
    entries: tuple[Entry, ...]
    missed: int


def denied_by(outcome: Outcome) -> tuple[str, str | None]:
    """What denied a decision, as (kind, rule) of :class:`Denied`.

    An outcome with errors failed to evaluate (a limit, an engine error, an audit log that
    could not record it). Otherwise a deny rule's outcome has its rule ids, the first being
    the deny rule whose proof denied; a default deny has none. Reading the rule ids of a
    deny makes its proof once (the outcome keeps it); the explanation, whose why-not may
    cost more, is never read."""
    if outcome.errors:
        return "error", outcome.limit
    rule_ids = outcome.rule_ids
    if rule_ids:
        return "rule", rule_ids[0]
    return "no-allow-rule", None


class DecisionFeed:
    """The last ``size`` answered decisions of this process, and counts of the last
    ``window`` seconds. :meth:`add` is the listener to register. ``clock`` is monotonic
    (seconds); ``wall_clock`` only dates the decisions shown."""

    __slots__ = ("_keep", "_kept", "_marks", "_next_second", "clock", "denials", "epoch",
                 "seq", "size", "started", "window")

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        window: int = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if size < 1 or window < 1:
            raise ValueError("a decision feed keeps at least one decision and one second")
        self.size = size
        self.window = window
        self.clock = clock
        self.started = clock()
        # a decision's epoch time is this plus its monotonic time (one clock read each)
        self.epoch = wall_clock() - self.started
        self.seq = 0  # decisions fed (the number of the last one; 0 before the first)
        self.denials = 0  # of which denied
        self._kept: deque[tuple[float, Decision]] = deque(maxlen=size)
        self._keep = self._kept.append
        # (second, seq, denials) as they were when the first decision of ``second`` came:
        # the seconds of the window that had decisions (and one more)
        self._marks: deque[tuple[int, int, int]] = deque(maxlen=window + 1)
        self._next_second = -math.inf  # a decision from then on starts a new second

    def add(self, decision: Decision) -> None:
        """Keep an answered decision: the hot path (a bound method is the cheapest call)."""
        t = self.clock()
        if t >= self._next_second:
            self._mark(t)
        if not decision.outcome.allowed:
            self.denials += 1
        self._keep((t, decision))
        self.seq += 1

    def _mark(self, t: float) -> None:
        second = int(t)
        self._marks.append((second, self.seq, self.denials))
        self._next_second = second + 1.0

    def snapshot(self, after: int = 0, top: int = TOP_DENIED) -> Snapshot:
        """The figures of the window ending now, and the kept decisions numbered after
        ``after`` (none when ``after`` is at or past :attr:`seq`)."""
        now = self.clock()
        # whole seconds: the one under way and the ``window`` before it
        first_second = int(now) - self.window
        decided = denied = 0
        for second, seq, denials in self._marks:
            if second >= first_second:  # the totals as the window began
                decided, denied = self.seq - seq, self.denials - denials
                break
        # the seconds counted: the window, or the feed's age when younger (1 s at least)
        span = max(now - max(self.started, float(first_second)), 1.0)
        kept = list(self._kept)
        causes: dict[tuple[str, str | None], int] = {}
        sampled = 0
        for t, decision in kept:
            if t >= first_second and not decision.outcome.allowed:
                cause = denied_by(decision.outcome)
                causes[cause] = causes.get(cause, 0) + 1
                sampled += 1
        ranked = sorted(causes.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
        first = self.seq - len(kept) + 1  # the number of the oldest decision kept
        epoch = self.epoch
        return Snapshot(
            seq=self.seq,
            window=span,
            decided=decided,
            denied=denied,
            rate=decided / span,
            deny_share=denied / decided if decided else None,
            top_denied=tuple(Denied(k, r, n) for (k, r), n in ranked[:top]),
            sampled=sampled,
            entries=tuple(Entry(first + i, epoch + kept[i][0], kept[i][1])
                          for i in range(len(kept) - 1, max(0, after - first + 1) - 1, -1)),
            missed=max(0, first - 1 - after),
        )
