"""The decision cache: hits, expiry on the injected clock, revision change, volatile
decisions, single computation of concurrent identical misses, the key's input paths."""

from __future__ import annotations

import asyncio
from typing import Any

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache, request_key
from siamese.decision.models import Outcome, Request
from siamese.decision.service import DecisionService

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
