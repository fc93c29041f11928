"""Benchmark the decision layer: a cache hit against an uncached decision, and the time
from saving a 10,000-fact policy file to the new revision serving.

    python bench/decide.py [--quick]

Targets (README): a cache hit under 3 µs in-process; a 10,000-fact reload served within
1 s of the save. Ratios are measured in the same run, since these machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import workloads  # noqa: E402
from siamese.decision.authorizer import Authorizer  # noqa: E402
from siamese.decision.cache import DecisionCache  # noqa: E402
from siamese.decision.models import Request  # noqa: E402
from siamese.decision.service import DecisionService  # noqa: E402
from siamese.engine import finish  # noqa: E402
from siamese.policy.store import PolicyStore  # noqa: E402
from siamese.policy.watcher import PolicyWatcher  # noqa: E402


async def per_call(fn, reqs: list[Request], rounds: int) -> float:
    """Median over ``rounds`` of the mean time per call over all requests, in µs."""
    means = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for r in reqs:
            await fn(r)
        means.append((time.perf_counter() - t0) / len(reqs) * 1e6)
    return statistics.median(means)


async def bench_cache(n_requests: int) -> tuple[float, float, float]:
    """A cache hit, an uncached decision, and an uncached decision with the rules
    interpreted (``Program.compiled = False``: the design before compiled clause bodies)."""
    wl = workloads.rbac(n_requests=n_requests)
    stores = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rbac.rules").write_text(wl.rules)
        for _ in range(2):
            store = PolicyStore(tmp)
            assert store.load_sync().ok
            stores.append(store)
    interpreted = stores[1].get()
    assert interpreted is not None
    interpreted.program.compiled = False
    interpreted.program.invalidate()
    finish(interpreted.program)  # analysed again, without compiling
    reqs = [Request.simple(s, a, r) for s, a, r in wl.requests]
    cached = DecisionService(stores[0].get, Authorizer(), DecisionCache(len(reqs) * 2, 3600))
    uncached = DecisionService(stores[0].get, Authorizer(), None)
    slow = DecisionService(stores[1].get, Authorizer(), None)
    for r in reqs:  # fill the cache, warm the engine's tables; both answer alike
        await cached.decide(r)
        a, b = await uncached.decide(r), await slow.decide(r)
        assert a.outcome.explanation == b.outcome.explanation
    hit = await per_call(cached.decide, reqs, 5)
    miss = await per_call(uncached.decide, reqs, 3)
    miss_interpreted = await per_call(slow.decide, reqs, 3)
    assert cached.cache is not None and cached.cache.hits >= len(reqs) * 5
    return hit, miss, miss_interpreted


async def bench_reload(n_facts: int, rounds: int) -> list[float]:
    """Seconds from the end of a save of an n-fact file to the new revision serving."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "access.rules").write_text("allow(?u, read, ?d) :- owner(?d, ?u).\n")
        (root / "data.rules").write_text("owner(d0, u0).\n")
        store = PolicyStore(root)
        assert store.load_sync().ok
        watcher = PolicyWatcher(store)
        await watcher.start()
        try:
            for k in range(rounds):
                old = store.revision
                text = "".join(f'owner("d{i}", "u{(i * 7 + k) % 1000}").\n' for i in range(n_facts))
                tmpfile = root / "data.rules.tmp"
                tmpfile.write_text(text)
                tmpfile.replace(root / "data.rules")  # an editor-style atomic save
                saved = time.perf_counter()
                n = store.attempts
                while store.revision == old:
                    n += 1
                    await asyncio.wait_for(store.wait_attempts(n), 30)
                out.append(time.perf_counter() - saved)
                ps = store.get()
                assert ps is not None and len(ps.program.predicate("owner", 2).rows) == n_facts
        finally:
            await watcher.stop()
    return out


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    hit, miss, slow = await bench_cache(200 if args.quick else 2000)
    print(f"cache hit        {hit:8.2f} µs per decision (in-process, service.decide)")
    print(f"uncached (RBAC)  {miss:8.2f} µs per decision (compiled clause bodies)")
    print(f"  interpreted    {slow:8.2f} µs per decision (Program.compiled = False)")
    print(f"ratio            {miss / hit:8.1f}× faster on a hit; compiled {slow / miss:.1f}× "
          "faster than interpreted")
    reloads = await bench_reload(10_000, 2 if args.quick else 5)
    print(
        f"reload of 10,000 facts served {statistics.median(reloads) * 1000:.0f} ms after the "
        f"save (median of {len(reloads)}; max {max(reloads) * 1000:.0f} ms)"
    )
    print("\n# targets")
    ok1 = hit < 3.0
    ok2 = max(reloads) < 1.0
    print(f"cache hit < 3 µs:                 {hit:.2f} µs  {'PASS' if ok1 else 'FAIL'}")
    print(f"10,000-fact reload served < 1 s:  {max(reloads) * 1000:.0f} ms (worst)  "
          f"{'PASS' if ok2 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
