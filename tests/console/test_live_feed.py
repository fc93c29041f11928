"""The live view's feed with a clock moved by hand: the rate and the deny share over the
window, the causes of the most denials, bounded memory, paging by decision number.
(tests/server/test_decision_listeners.py reads it while many decisions are answered.)"""

from __future__ import annotations

from typing import Any

import pytest

from siamese.console.feed import DecisionFeed, Denied, denied_by
from siamese.decision.models import Decision, Outcome, Request
from tests.server.conftest import Clock

REQUEST = Request.simple("alice", "read", "doc1")


def _never() -> Any:
    raise AssertionError("the feed read a lazily made field it must leave alone")


def allowed() -> Decision:
    return Decision(Outcome(True, "r1", "allowed by rule a", _never, (), _never), "id", REQUEST)


def denied(rule: str | None = None, *, error: str | None = None, limit: str | None = None,
           made: list[str] | None = None) -> Decision:
    """A deny by ``rule`` (its rule ids made at their first read, noted in ``made``), a
    default deny without ``rule``, or an evaluation that failed with ``error``."""
    if error is not None:
        outcome = Outcome(False, "r1", "denied: " + error, {"kind": "error", "error": error},
                          errors=(error,), limit=limit)
    elif rule is not None:
        def rule_ids() -> tuple[str, ...]:
            if made is not None:
                made.append(rule)
            return (rule, "other-rule")

        outcome = Outcome(False, "r1", f"denied by rule {rule}", _never, (), rule_ids)
    else:
        outcome = Outcome(False, "r1", "no rule allows alice to read doc1", _never)
    return Decision(outcome, "id", REQUEST)


def feed_at(t: float = 1000.0, **kw: Any) -> tuple[DecisionFeed, Clock]:
    clock = Clock(t)
    return DecisionFeed(clock=clock, wall_clock=lambda: 1_700_000_000.0, **kw), clock


def test_rate_and_deny_share_over_the_window() -> None:
    feed, clock = feed_at(1000.0)
    for i in range(30):  # three a second for ten seconds, one in five denied
        clock.t = 1000.0 + i / 3
        feed.add(denied() if i % 5 == 0 else allowed())
    clock.t = 1010.0
    snap = feed.snapshot()
    assert (snap.seq, snap.decided, snap.denied) == (30, 30, 6)
    assert snap.window == pytest.approx(10.0)
    assert snap.rate == pytest.approx(3.0)
    assert snap.deny_share == pytest.approx(0.2)
    clock.t = 1100.0  # a minute and more without a decision
    snap = feed.snapshot()
    assert (snap.decided, snap.denied, snap.rate, snap.deny_share) == (0, 0, 0.0, None)
    assert snap.window == pytest.approx(60.0)
    assert snap.seq == 30  # the decisions are still kept, only the counts moved on
    assert len(snap.entries) == 30


def test_the_window_slides_by_whole_seconds() -> None:
    feed, clock = feed_at(1000.0)
    clock.t = 1000.5
    for _ in range(10):
        feed.add(denied())
    clock.t = 1030.5
    for _ in range(20):
        feed.add(allowed())
    clock.t = 1059.9  # both seconds still in the last sixty
    assert feed.snapshot().decided == 30
    clock.t = 1065.0  # second 1000 has left the window: it covers 1005.0 to 1065.0
    snap = feed.snapshot()
    assert (snap.decided, snap.denied) == (20, 0)
    assert snap.window == pytest.approx(60.0)
    assert snap.rate == pytest.approx(20 / 60)
    assert snap.top_denied == () and snap.sampled == 0


def test_a_young_feed_counts_from_its_start_and_at_least_a_second() -> None:
    feed, clock = feed_at(500.25)
    feed.add(allowed())
    feed.add(denied())
    snap = feed.snapshot()
    assert snap.window == 1.0 and snap.rate == 2.0 and snap.deny_share == 0.5
    clock.t = 504.25
    assert feed.snapshot().window == pytest.approx(4.0)


def test_top_denied_rules_name_the_deny_rule_or_the_default_deny() -> None:
    feed, _ = feed_at()
    for d in [*[denied("suspended-account")] * 3, denied("confidential"), denied(), denied(),
              denied(error="limit exceeded (timeout)", limit="timeout"),
              *[allowed()] * 5]:
        feed.add(d)
    snap = feed.snapshot()
    assert snap.top_denied == (
        Denied("rule", "suspended-account", 3),
        Denied("no-allow-rule", None, 2),
        Denied("error", "timeout", 1),
        Denied("rule", "confidential", 1),
    )
    assert snap.sampled == 7 and snap.denied == 7
    assert feed.snapshot(top=2).top_denied == snap.top_denied[:2]


def test_the_hot_path_reads_no_explanation_and_no_rule_ids() -> None:
    made: list[str] = []
    feed, _ = feed_at()
    for _ in range(3):
        feed.add(denied("r", made=made))  # distinct outcomes: each makes its own rule ids
    feed.add(allowed())  # its explanation and rule ids raise when read
    assert made == []
    feed.snapshot()
    assert made == ["r", "r", "r"]  # read when asked, once each (the outcome keeps them)
    feed.snapshot()
    assert made == ["r", "r", "r"]


def test_denied_by() -> None:
    assert denied_by(denied("x").outcome) == ("rule", "x")
    assert denied_by(denied().outcome) == ("no-allow-rule", None)
    assert denied_by(denied(error="boom").outcome) == ("error", None)
    assert denied_by(denied(error="slow", limit="timeout").outcome) == ("error", "timeout")


def test_top_denied_counts_only_the_window() -> None:
    feed, clock = feed_at(1000.0)
    feed.add(denied("old-rule"))
    clock.t = 1070.0
    feed.add(denied("new-rule"))
    snap = feed.snapshot()
    assert snap.top_denied == (Denied("rule", "new-rule", 1),)
    assert snap.sampled == 1 and len(snap.entries) == 2


def test_memory_stays_bounded() -> None:
    feed, clock = feed_at(0.0, size=50, window=60)
    for i in range(10_000):
        clock.t = float(i)  # a second each: ten thousand seconds
        feed.add(denied("r") if i % 2 else allowed())
    clock.t = 10_000.0
    snap = feed.snapshot()
    assert snap.seq == 10_000
    assert [e.seq for e in snap.entries] == list(range(10_000, 9_950, -1))
    assert snap.missed == 9_950
    assert len(feed._kept) == 50 and len(feed._marks) == 61  # what it holds
    assert snap.decided == 60  # the last sixty seconds, one each
    assert snap.sampled == 25  # the denials among the fifty kept


def test_paging_by_decision_number() -> None:
    feed, clock = feed_at(10.0, size=5)
    assert feed.snapshot().entries == () and feed.snapshot().seq == 0
    for i in range(8):
        clock.t = 10.0 + i
        feed.add(allowed())
    entries = feed.snapshot(after=5).entries
    assert [e.seq for e in entries] == [8, 7, 6]  # newest first
    assert [e.at for e in entries] == [1_700_000_000.0 + 7, 1_700_000_000.0 + 6,
                                       1_700_000_000.0 + 5]
    assert feed.snapshot(after=5).missed == 0
    assert feed.snapshot(after=8).entries == ()
    assert feed.snapshot(after=10**17).entries == ()  # another process's numbers
    assert feed.snapshot(after=10**17).missed == 0
    snap = feed.snapshot(after=1)  # 2 and 3 are gone
    assert [e.seq for e in snap.entries] == [8, 7, 6, 5, 4] and snap.missed == 2
    assert [e.seq for e in feed.snapshot(after=0).entries] == [8, 7, 6, 5, 4]


def test_a_feed_keeps_something() -> None:
    with pytest.raises(ValueError):
        DecisionFeed(size=0)
    with pytest.raises(ValueError):
        DecisionFeed(window=0)
