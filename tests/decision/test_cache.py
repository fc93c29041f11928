"""The decision cache: hits, expiry on the injected clock, revision change, volatile
decisions, single computation of concurrent identical misses, the key's input paths."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache, request_key
from siamese.decision.models import Outcome, Request
from siamese.decision.service import DecisionService
from siamese.engine.builtins import lookup_path

from .conftest import FakePolicy, policy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def service(p: FakePolicy, clock: Clock, ttl: float = 10.0, size: int = 100,
            authorizer: Authorizer | None = None) -> tuple[DecisionService, dict[str, Any]]:
    holder: dict[str, Any] = {"policy": p}
    svc = DecisionService(lambda: holder["policy"], authorizer or Authorizer(),
                          DecisionCache(size, ttl, timer=clock))
    return svc, holder


TEXT = "allow(alice, read, ?r).\nallow(?u, ?a, ?r) :- input(\"context.mfa\", true)."


async def test_hit_then_expiry_on_the_injected_clock() -> None:
    clock = Clock()
    svc, _ = service(policy(TEXT), clock)
    req = Request.simple("alice", "read", "doc1")
    first = await svc.decide(req)
    assert first.allowed and not first.cached
    second = await svc.decide(req)
    assert second.allowed and second.cached
    assert second.decision_id != first.decision_id  # every answer is its own decision
    clock.now = 9.9
    assert (await svc.decide(req)).cached
    clock.now = 10.1
    third = await svc.decide(req)
    assert not third.cached
    stats = svc.cache.stats()  # type: ignore[union-attr]
    assert (stats["hits"], stats["misses"]) == (2, 2)


async def test_a_new_revision_is_never_served_a_stale_decision() -> None:
    clock = Clock()
    svc, holder = service(policy(TEXT, "rev1"), clock)
    req = Request.simple("alice", "read", "doc1")
    assert (await svc.decide(req)).allowed
    holder["policy"] = policy("allow(bob, read, ?r).", "rev2")
    d = await svc.decide(req)
    assert not d.allowed and not d.cached and d.revision == "rev2"


async def test_volatile_decisions_are_not_cached() -> None:
    clock = Clock()
    text = "allow(?u, ?a, ?r) :- now(?t), ?t > 100."
    svc, _ = service(policy(text), clock, authorizer=Authorizer(wall_clock=lambda: 1000.0))
    req = Request.simple("u", "read", "r")
    assert (await svc.decide(req)).allowed
    again = await svc.decide(req)
    assert again.allowed and not again.cached
    assert svc.cache.size == 0  # type: ignore[union-attr]


async def test_errors_and_limits_are_not_cached() -> None:
    clock = Clock()
    svc, _ = service(policy("allow(?u, ?a, ?r) :- ?x is 1 / 0."), clock)
    req = Request.simple("u", "read", "r")
    assert not (await svc.decide(req)).cached
    assert not (await svc.decide(req)).cached


async def test_concurrent_identical_misses_are_computed_once() -> None:
    clock = Clock()
    calls = 0
    gate = asyncio.Event()

    class SlowAuthorizer(Authorizer):
        async def evaluate(self, policy: Any, request: Request, gateway: bool = False) -> Outcome:
            nonlocal calls
            calls += 1
            await gate.wait()
            return await super().evaluate(policy, request, gateway)

    svc, _ = service(policy(TEXT), clock, authorizer=SlowAuthorizer())
    req = Request.simple("alice", "read", "doc1")
    tasks = [asyncio.create_task(svc.decide(req)) for _ in range(20)]
    while svc.cache.misses < 20:  # type: ignore[union-attr]
        await asyncio.sleep(0)
    gate.set()
    decisions = await asyncio.gather(*tasks)
    assert calls == 1
    assert all(d.allowed for d in decisions)
    assert len({d.decision_id for d in decisions}) == 20
    assert svc.cache.coalesced == 19  # type: ignore[union-attr]


async def test_a_failed_computation_reaches_every_waiter() -> None:
    cache = DecisionCache(10, 10)
    gate = asyncio.Event()

    async def boom() -> Outcome:
        await gate.wait()
        raise RuntimeError("boom")

    t1 = asyncio.create_task(cache.get_or_compute("k", boom))
    await asyncio.sleep(0)
    t2 = asyncio.create_task(cache.get_or_compute("k", boom))
    await asyncio.sleep(0)
    gate.set()
    for t in (t1, t2):
        try:
            await t
        except RuntimeError as e:
            assert str(e) == "boom"
        else:  # pragma: no cover
            raise AssertionError("expected the error")
    assert cache.size == 0


async def test_eviction_is_counted_and_size_bounded() -> None:
    clock = Clock()
    svc, _ = service(policy(TEXT), clock, size=2)
    for doc in ("a", "b", "c", "d"):
        await svc.decide(Request.simple("alice", "read", doc))
    assert svc.cache.size == 2  # type: ignore[union-attr]
    assert svc.cache.evictions == 2  # type: ignore[union-attr]


def test_the_key_holds_only_the_input_paths_the_policy_reads() -> None:
    p = policy(TEXT)
    assert p.program.input_paths == frozenset({"context.mfa"})
    a = Request.simple("alice", "read", "doc1", context={"mfa": True, "request_id": "1"})
    b = Request.simple("alice", "read", "doc1", context={"mfa": True, "request_id": "2"})
    c = Request.simple("alice", "read", "doc1", context={"mfa": False, "request_id": "1"})
    key = lambda r: request_key("rev", r, p.program.input_paths)  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)
    # a computed input path makes the whole input part of the key
    q = policy('allow(?u, ?a, ?r) :- ?p == "context.mfa", input(?p, true).')
    assert q.program.input_paths is None
    assert request_key("rev", a, None) != request_key("rev", b, None)


async def test_the_cache_never_changes_a_decision() -> None:
    clock = Clock()
    cached, _ = service(policy(TEXT), clock)
    plain = DecisionService(lambda: policy(TEXT), Authorizer(), None)
    for ctx in ({"mfa": True}, {"mfa": False}, {}):
        for who in ("alice", "bob"):
            req = Request.simple(who, "read", "doc", context=ctx)
            for _ in range(2):
                assert (await cached.decide(req)).allowed == (await plain.decide(req)).allowed


# What the policy below can tell apart, each a value of context.flag (or its absence): a
# cache key that confuses two of them serves one's decision for the other.
OBSERVING = """
deny(?u, ?a, ?r) :- input("context.risk_flag", ?f).
allow(?u, ?a, ?r) :- input("context.level", 1), ?a == int.
allow(?u, ?a, ?r) :- input("context.level", "1"), ?a == str.
allow(?u, ?a, ?r) :- input("context.level", true), ?a == bool.
allow(?u, ?a, ?r) :- input("context.level", 1.5), ?a == float.
allow(?u, ?a, ?r) :- input("context.level", [1]), ?a == list.
allow(?u, ?a, ?r) :- input("context.items.0", admin), ?a == first.
allow(?u, ?a, ?r) :- input("context.items.²", ?x), ?a == digit.
allow(?u, ?a, ?r) :- ?a == any.
"""


async def test_an_absent_value_and_null_are_different_observations() -> None:
    """The review's poisoning: a cached allow for ``context: {}`` served for
    ``context: {"risk_flag": null}``, which the policy denies."""
    clock = Clock()
    svc, _ = service(policy(OBSERVING), clock)
    first = await svc.decide(Request.simple("alice", "any", "doc", context={}))
    assert first.allowed
    poisoned = await svc.decide(Request.simple("alice", "any", "doc",
                                               context={"risk_flag": None}))
    assert not poisoned.allowed and not poisoned.cached


async def test_values_of_other_types_never_share_a_key() -> None:
    clock = Clock()
    svc, _ = service(policy(OBSERVING), clock)
    plain = DecisionService(lambda: policy(OBSERVING), Authorizer(), None)
    levels: list[Any] = [1, "1", True, 1.0, 1.5, [1], ["1"], {"0": 1}, None, 0, False, ""]
    for action in ("int", "str", "bool", "float", "list"):
        for level in levels:
            req = Request.simple("alice", action, "doc", context={"level": level})
            for _ in range(2):  # the second time from the cache
                got = await svc.decide(req)
                want = await plain.decide(req)
                assert got.allowed == want.allowed, (action, level)


async def test_unicode_digits_are_not_list_indexes() -> None:
    """``"²".isdigit()`` is true and ``int("²")`` fails: that was a 500 with the cache on."""
    clock = Clock()
    svc, _ = service(policy(OBSERVING), clock)
    req = Request.simple("alice", "digit", "doc", context={"items": ["admin", "x", "y"]})
    assert not (await svc.decide(req)).allowed
    first = Request.simple("alice", "first", "doc", context={"items": ["admin"]})
    assert (await svc.decide(first)).allowed
    other = Request.simple("alice", "first", "doc", context={"items": "admin"})
    assert not (await svc.decide(other)).allowed


def test_values_no_json_writer_takes_still_make_distinct_keys() -> None:
    p = policy(OBSERVING)
    key = lambda ctx: request_key("rev", Request.simple("a", "b", "c", context=ctx),  # noqa: E731
                                  p.program.input_paths)
    big, bigger = {"level": 2**70}, {"level": 2**70 + 1}
    assert key(big) != key(bigger)
    assert key({"level": "\ud800"}) != key({"level": "\ud801"})
    assert key({"level": float("nan")}) != key({"level": None})
    assert request_key("rev", Request.simple("a", "b", "c", context=big), None) != request_key(
        "rev", Request.simple("a", "b", "c", context=bigger), None)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True)
    | st.sampled_from(["", "1", "true", "null", "admin", "\ud800"]) | st.integers(2**63, 2**65),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["0", "1", "flag", "²"]), inner, max_size=3),
    max_leaves=6,
)
_contexts = st.dictionaries(st.sampled_from(["level", "items", "risk_flag"]), _json, max_size=3)


def _observed(value: Any) -> Any:
    """What the engine can tell of a value: its types as well as its equality."""
    if isinstance(value, dict):
        return ("o", sorted((k, _observed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("l", [_observed(v) for v in value])
    return (type(value).__name__, repr(value))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_contexts, _contexts)
def test_equal_keys_mean_equal_observations(a: dict[str, Any], b: dict[str, Any]) -> None:
    paths = policy(OBSERVING).program.input_paths
    assert paths is not None
    ra, rb = (Request.simple("u", "a", "r", context=c) for c in (a, b))
    if request_key("rev", ra, paths) == request_key("rev", rb, paths):
        for p in paths:
            fa, va = lookup_path(ra.input, p)
            fb, vb = lookup_path(rb.input, p)
            assert (fa, _observed(va)) == (fb, _observed(vb)), p
