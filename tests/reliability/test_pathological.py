"""Pathological policies and requests: each ends in bounded time with a deny naming the
cause, or a 4xx naming the problem, and the server keeps answering other requests
meanwhile (the cheap requests sent alongside finish first)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.models import Request
from siamese.decision.service import DecisionService
from siamese.engine import Limits
from siamese.policy.store import PolicyStore
from siamese.server.app import create_app
from siamese.settings import Settings

POLICY = "\n".join(f"d({i})." for i in range(40)) + """
allow(?u, cheap, ?r).
@id("exponential")
allow(?u, explode, ?r) :- d(?a), d(?b), d(?c), d(?d), d(?e), ?a > 1000.
nat(0).
nat(?n) :- nat(?m), ?n is ?m + 1.
@id("infinite")
allow(?u, count, ?r) :- nat(?x), ?x < 0.
@id("backtracking-regex")
allow(?u, match, ?r) :- input("context.s", ?s), regex("(a|aa)+$", ?s).
@id("huge-list")
allow(?u, scan, ?r) :- input("context.items", ?items), needle in ?items.
"""


def body(action: str, **context: Any) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": "u"}, "action": {"name": action},
            "resource": {"type": "doc", "id": "r"}, "context": context}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "p.rules").write_text(POLICY)
    store = PolicyStore(root)
    assert store.load_sync().ok
    # a timeout far past what the step and answer budgets take, so that they are what stops
    # the runaways even on a loaded machine (the fixpoint now checks the clock too)
    limits = Limits(max_steps=200_000, max_solutions=20_000, timeout_ms=5000)
    service = DecisionService(store.get, Authorizer(limits=limits), DecisionCache(100, 60))
    app = create_app(Settings(policy_dir=str(root), max_body_bytes=1 << 20), store, service,
                     lambda d: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t", timeout=30) as c:
        yield c


async def alongside(client: httpx.AsyncClient, slow: Any,
                    strict: bool = True) -> tuple[httpx.Response, float]:
    """Run the slow request with cheap ones beside it; they must all succeed, and when
    ``strict`` all finish while the slow one is still running (a request refused at once, or
    a regex stopped by its 0.1 s match timeout, may well finish first: that is no hang).
    Returns the slow response and its duration."""
    done: list[str] = []

    async def slow_one() -> httpx.Response:
        r = await slow
        done.append("slow")
        return r

    async def cheap() -> None:
        for _ in range(5):
            r = await client.post("/access/v1/evaluation", json=body("cheap"))
            assert r.status_code == 200 and r.json()["decision"] is True
            await asyncio.sleep(0)
        done.append("cheap")

    started = time.monotonic()
    task = asyncio.ensure_future(slow_one())
    await asyncio.sleep(0)
    await asyncio.gather(cheap(), cheap())
    response = await task
    elapsed = time.monotonic() - started
    if strict:
        assert done[:2] == ["cheap", "cheap"], done
    return response, elapsed


@pytest.mark.parametrize(
    ("action", "context", "limit", "strict"),
    [
        ("explode", {}, "max_steps", True),
        ("count", {}, "max_solutions", True),
        ("match", {"s": "a" * 64 + "b"}, "timeout", False),
    ],
)
async def test_a_runaway_policy_denies_in_bounded_time_naming_the_limit(
    client: httpx.AsyncClient, action: str, context: dict[str, Any], limit: str, strict: bool
) -> None:
    slow = client.post("/access/v1/evaluation", json=body(action, **context))
    r, elapsed = await alongside(client, slow, strict)
    assert r.status_code == 200
    data = r.json()
    assert data["decision"] is False
    assert limit in data["context"]["reason_user"]
    assert elapsed < 10


async def test_a_huge_list_is_scanned_within_the_limits(client: httpx.AsyncClient) -> None:
    items = [f"item{i}" for i in range(50_000)]  # about 600 KB: under the body limit
    r = await client.post("/access/v1/evaluation", json=body("scan", items=items))
    assert r.status_code == 200 and r.json()["decision"] is False
    r = await client.post("/access/v1/evaluation", json=body("scan", items=[*items, "needle"]))
    assert r.status_code == 200 and r.json()["decision"] is True


async def test_a_10_mb_body_is_413(client: httpx.AsyncClient) -> None:
    big = json.dumps(body("cheap", pad="x" * (10 * 2**20))).encode()
    r, _ = await alongside(client, client.post("/access/v1/evaluation", content=big,
                                               headers={"Content-Type": "application/json"}),
                           strict=False)
    assert r.status_code == 413
    assert "body" in r.json()["error"]["message"].lower() or "large" in r.text.lower()


async def test_10000_deep_json_is_400(client: httpx.AsyncClient) -> None:
    deep = '{"subject": {"type": "user", "id": "u"}, "action": {"name": "cheap"}, ' \
           '"resource": {"type": "doc", "id": "r"}, "context": {"x": ' + "[" * 10_000 + \
           "]" * 10_000 + "}}"
    r, _ = await alongside(client, client.post("/access/v1/evaluation", content=deep.encode(),
                                               headers={"Content-Type": "application/json"}),
                           strict=False)
    assert r.status_code == 400
    assert "deep" in r.text.lower() or "nest" in r.text.lower()


# --- a runaway table fixpoint (the right-recursive step of the README over a long chain) ------

CHAIN_RULES = """
path(?x, ?y) :- edge(?x, ?z), path(?z, ?y).
path(?x, ?y) :- edge(?x, ?y).
allow(?u, read, ?r) :- path(?x, ?r), ?x == ?u.
allow(?u, cheap, ?r).
"""


def chain_store(tmp_path: Path, n: int) -> PolicyStore:
    """A policy set of n edges n0 -> n1 -> ... and the review's rules over them, loaded."""
    root = tmp_path / "policies"
    root.mkdir()
    (root / "chain.rules").write_text(
        "".join(f"edge(n{i}, n{i + 1}).\n" for i in range(n)) + CHAIN_RULES
    )
    store = PolicyStore(root)
    assert store.load_sync().ok
    return store


@asynccontextmanager
async def chain_client(tmp_path: Path, n: int, limits: Limits) -> AsyncIterator[httpx.AsyncClient]:
    store = chain_store(tmp_path, n)
    service = DecisionService(store.get, Authorizer(limits=limits), DecisionCache(100, 60))
    app = create_app(Settings(policy_dir=store.root), store, service, lambda d: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t", timeout=120) as c:
        yield c


def chain_body(n: int) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": "n0"}, "action": {"name": "read"},
            "resource": {"type": "doc", "id": f"n{n}"}}


@pytest.mark.parametrize("n", [1000, 2000])
@pytest.mark.parametrize(
    ("limits", "limit", "strict"),
    [
        (Limits(max_steps=10**9, timeout_ms=1000), "timeout", True),
        (Limits(max_steps=50_000, timeout_ms=None), "max_steps", False),
    ],
)
async def test_a_runaway_fixpoint_denies_naming_the_limit_and_others_are_served(
    tmp_path: Path, n: int, limits: Limits, limit: str, strict: bool
) -> None:
    """The chain of the security review (finding 5): the first decision took 12.8 s
    (1,000 edges) and 70 s (2,000) under a 1 s timeout, and held every other request."""
    async with chain_client(tmp_path, n, limits) as c:
        slow = c.post("/access/v1/evaluation", json=chain_body(n))
        r, elapsed = await alongside(c, slow, strict)
        assert r.status_code == 200
        assert r.json()["decision"] is False
        assert f"limit exceeded ({limit})" in r.json()["context"]["reason_user"]
        assert elapsed < 5  # a generous bound: the clock is read inside the fixpoint too


@pytest.mark.parametrize("n", [1000, 2000])
async def test_a_runaway_fixpoint_times_out_on_the_injected_clock(tmp_path: Path, n: int) -> None:
    store = chain_store(tmp_path, n)
    readings = 0

    def clock() -> float:
        nonlocal readings
        readings += 1
        return readings / 1000  # a millisecond later at each reading

    authorizer = Authorizer(limits=Limits(max_steps=10**9, timeout_ms=200), clock=clock)
    request = Request.from_authzen(chain_body(n))
    policy = store.get()
    assert policy is not None
    outcome = await authorizer.evaluate(policy, request)
    assert outcome.allowed is False and outcome.limit == "timeout"
    assert readings < 250


async def test_a_deny_over_a_table_cut_off_once_still_denies_with_budget_enough(
    tmp_path: Path,
) -> None:
    """Request-independent tables are shared by the decisions of a policy set: a table that
    a limit cut off must not be kept as complete, or its partial answers would let the
    allow through the next time."""
    n = 300
    root = tmp_path / "policies"
    root.mkdir()
    (root / "chain.rules").write_text(
        "".join(f"edge(n{i}, n{i + 1}).\n" for i in range(n)) + f"bad(n{n}).\n" + """
path(?x, ?y) :- edge(?x, ?z), path(?z, ?y).
path(?x, ?y) :- edge(?x, ?y).
allow(?u, read, ?r).
@id("reaches-bad")
deny(?u, read, ?r) :- path(?r, ?b), bad(?b).
""")
    store = PolicyStore(root)
    assert store.load_sync().ok
    policy = store.get()
    assert policy is not None
    request = Request.from_authzen(chain_body(0))
    cut = await Authorizer(limits=Limits(max_steps=3_000)).evaluate(policy, request)
    assert cut.allowed is False and cut.limit == "max_steps"
    for limits in (Limits(timeout_ms=None), Limits(timeout_ms=None)):  # cold, then warm
        outcome = await Authorizer(limits=limits).evaluate(policy, request)
        assert outcome.allowed is False and outcome.rule_ids[0] == "reaches-bad", outcome
