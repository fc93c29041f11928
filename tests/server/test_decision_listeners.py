"""Decision listeners: told of every answered decision (the one answered, after the audit
callable), never able to change or stop an answer; none unless the console is on. And the
console's live feed read while many decisions are answered at once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from siamese.console.feed import DecisionFeed
from siamese.decision.models import Decision
from siamese.server.context import Context

from .conftest import body, build


def context(app: Any) -> Context:
    ctx = app.state.siamese
    assert isinstance(ctx, Context)
    return ctx


async def test_a_listener_is_told_of_each_answered_decision(tmp_path: Path) -> None:
    h = build(tmp_path, console="off")
    told: list[Decision] = []
    context(h.app).listeners.append(told.append)
    async with h.client() as c:
        allowed = (await c.post("/access/v1/evaluation", json=body())).json()
        denied = (await c.post("/access/v1/evaluation", json=body("mallory"))).json()
        batch = (await c.post("/access/v1/evaluations", json={
            "evaluations": [body("bob", "read", "doc1"), body("bob", "write", "doc1")],
        })).json()
    assert [d.decision_id for d in told] == [
        allowed["context"]["decision_id"], denied["context"]["decision_id"],
        *(e["context"]["decision_id"] for e in batch["evaluations"]),
    ]
    assert [d.outcome.allowed for d in told] == [True, False, True, False]


async def test_a_listener_hears_the_deny_answered_when_the_audit_fails(tmp_path: Path) -> None:
    async def refuse(decision: Decision) -> bool:
        return False

    h = build(tmp_path, audit=lambda d: refuse(d), console="off")
    told: list[Decision] = []
    context(h.app).listeners.append(told.append)
    async with h.client() as c:
        r = await c.post("/access/v1/evaluation", json=body())
    assert r.json()["decision"] is False
    assert [d.outcome.allowed for d in told] == [False]
    assert told[0].outcome.errors == ("audit log unavailable",)


async def test_a_raising_listener_changes_no_answer_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = build(tmp_path, console="off")
    quiet = build(tmp_path / "quiet", console="off")
    told: list[Decision] = []

    def broken(decision: Decision) -> None:
        raise RuntimeError("listener bug")

    ctx = context(h.app)
    ctx.listeners.extend([broken, told.append])  # the one after it is still told
    caplog.set_level(logging.ERROR, logger="siamese.server")
    answers = []
    for harness in (h, quiet):
        async with harness.client() as c:
            answers.append([
                (await c.post("/access/v1/evaluation", json=body(*args))).json()["decision"]
                for args in [("alice",), ("mallory",), ("bob", "write", "doc1")] * 2
            ])
    assert answers[0] == answers[1] == [True, False, False] * 2
    assert len(told) == 6
    assert ctx.listener_errors == 6
    logged = [r for r in caplog.records if "decision listener" in r.getMessage()]
    assert len(logged) == 1 and "listener bug" in (logged[0].exc_text or "")


def test_no_listener_without_the_console(tmp_path: Path) -> None:
    assert context(build(tmp_path / "off", console="off").app).listeners == []
    # auto on a public address: off too
    public = build(tmp_path / "public", console="auto", host="0.0.0.0")
    assert context(public.app).listeners == []
    on = context(build(tmp_path / "on").app).listeners  # auto on the loopback: on
    assert len(on) == 1 and isinstance(getattr(on[0], "__self__", None), DecisionFeed)


async def test_decisions_answered_at_once_are_numbered_once(tmp_path: Path) -> None:
    """Many decisions answered concurrently while the feed is read: each poll returns the
    decisions numbered after the one it gave, contiguous and newest first; no number comes
    twice, and every decision is either seen or counted as missed (none lost)."""
    h = build(tmp_path, cache=False)
    answered: set[str] = set()
    seen: dict[int, str] = {}
    missed = 0

    async with LifespanManager(h.app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=h.app), base_url="http://127.0.0.1"
    ) as c:
        async def decide(i: int) -> None:
            # four at a time, then the last 300 all at once: more than the feed keeps
            for _ in range(min(i, 300) // 4):
                await asyncio.sleep(0)
            who = ("alice", "mallory", "bob", "carol")[i % 4]
            r = await c.post("/access/v1/evaluation", json=body(who, "write", "doc1"))
            assert r.status_code == 200
            answered.add(r.json()["context"]["decision_id"])

        async def follow(stop: asyncio.Event) -> None:
            nonlocal missed
            after = 0
            while True:
                last = stop.is_set()
                r = await c.get("/console/live/data", params={"after": after})
                assert r.status_code == 200
                data = r.json()
                seqs = [d["seq"] for d in data["decisions"]]
                assert seqs == list(range(data["seq"], after + data["missed"], -1))
                for d in data["decisions"]:
                    assert d["seq"] not in seen
                    seen[d["seq"]] = d["decision_id"]
                missed += data["missed"]
                after = data["seq"]
                if last:
                    return
                await asyncio.sleep(0)  # let the deciding tasks run: no waiting

        stop = asyncio.Event()
        follower = asyncio.create_task(follow(stop))
        await asyncio.gather(*(decide(i) for i in range(600)))
        stop.set()
        await follower
        final = (await c.get("/console/live/data")).json()

    assert len(answered) == 600 and final["seq"] == 600
    assert len(seen) + missed == 600  # none lost: seen, or said to be missed
    assert len(seen) > 200 and missed > 0  # it kept up, then fell behind the burst
    assert len(set(seen.values())) == len(seen) and set(seen.values()) <= answered
    assert [d["seq"] for d in final["decisions"]] == list(range(600, 400, -1))
    assert all(seen[d["seq"]] == d["decision_id"] for d in final["decisions"])
    assert final["missed"] == 400
