"""Thousands of decisions while the policy set is swapped hundreds of times: each decision
is exactly what its own recorded revision gives, and none fails."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.models import Request
from siamese.decision.service import DecisionService
from siamese.policy.loader import PolicySet, load_policy_set
from siamese.policy.store import PolicyStore

USERS = [f"u{i}" for i in range(8)]


def variant(k: int) -> str:
    """Policy k allows user i to read iff (i + k) is even, and denies u0 when k % 3 == 0."""
    lines = [f"turn({k})."] + [f"user(u{i}, {i})." for i in range(8)]
    lines.append("allow(?u, read, ?r) :- user(?u, ?i), turn(?k), ?s is ?i + ?k, ?s % 2 == 0.")
    lines.append("deny(u0, ?a, ?r) :- turn(?k), ?k % 3 == 0.")
    return "\n".join(lines) + "\n"


async def test_decisions_during_hundreds_of_swaps_match_their_revision(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "policy.rules").write_text(variant(0))
    store = PolicyStore(root)
    assert store.load_sync().ok
    service = DecisionService(store.get, Authorizer(), DecisionCache(64, 3600))
    records: list[tuple[str, str, bool]] = []
    errors: list[str] = []
    swaps = 0
    done = asyncio.Event()

    async def swapper() -> None:
        nonlocal swaps
        for k in range(1, 201):
            (root / "policy.rules").write_text(variant(k % 6))
            result = await store.reload()
            assert result.ok
            swaps += result.changed
        done.set()

    async def next_reload_or_done() -> None:
        waits = {asyncio.ensure_future(store.wait_attempts(store.attempts + 1)),
                 asyncio.ensure_future(done.wait())}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    async def decider(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set() or len(records) < 3000:
            user = rng.choice(USERS)
            d = await service.decide(Request.simple(user, "read", "doc"))
            if d.outcome.errors:
                errors.extend(d.outcome.errors)
            records.append((d.revision, user, d.allowed))
            # give the loop a turn; every few decisions, wait for a reload to finish so the
            # reload thread is not starved of the GIL by deciders that never block
            if len(records) % 16 == 0:
                await next_reload_or_done()
            else:
                await asyncio.sleep(0)

    await asyncio.gather(swapper(), *(decider(s) for s in range(8)))
    assert swaps == 200  # consecutive variants always differ
    assert not errors
    assert len(records) >= 3000
    # the truth, per revision, computed afresh for each of the six variants
    truth: dict[str, dict[str, bool]] = {}
    for k in range(6):
        (root / "policy.rules").write_text(variant(k))
        ps = load_policy_set(root)

        def current(ps: PolicySet = ps) -> PolicySet:
            return ps

        plain = DecisionService(current, Authorizer(), None)
        truth[ps.revision] = {
            u: (await plain.decide(Request.simple(u, "read", "doc"))).allowed for u in USERS
        }
    seen_revisions = {rev for rev, _, _ in records}
    assert len(seen_revisions) >= 3  # decisions really did run across swaps
    wrong = [(rev, u, a) for rev, u, a in records if truth[rev][u] != a]
    assert wrong == []
