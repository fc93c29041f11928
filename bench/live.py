"""Benchmark what the console's live view adds to every answered decision: the time of
``Context.answered`` (audit callable, metrics, listeners) with the console off (no listener)
and on (its DecisionFeed), and of the feed's call alone.

    python bench/live.py [--quick]

Measured in short interleaved rounds, the fastest kept, since these machines are noisy.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (which starlette imports)
# if this directory stayed on sys.path, as it does for a script run from it
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent / "src"))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from siamese.console.feed import DecisionFeed  # noqa: E402
from siamese.decision.authorizer import Authorizer  # noqa: E402
from siamese.decision.models import Decision, Request  # noqa: E402
from siamese.decision.service import DecisionService  # noqa: E402
from siamese.policy.store import PolicyStore  # noqa: E402
from siamese.server.app import create_app  # noqa: E402
from siamese.server.context import Context  # noqa: E402
from siamese.settings import Settings  # noqa: E402

POLICY = """
role(alice, admin). status(mallory, suspended). doc(d1). action(read).
@id("admin-all")
allow(?u, ?a, ?r) :- role(?u, admin), doc(?r), action(?a).
@id("suspended")
deny(?u, _, _) :- status(?u, suspended).
"""


async def decisions(root: str) -> tuple[Context, Context, list[Decision]]:
    """Two contexts over one policy set (console off: no listener; on: the live feed) and
    decisions to answer, one in four denied."""
    store = PolicyStore(root)
    assert store.load_sync().ok
    service = DecisionService(store.get, Authorizer())
    off = create_app(Settings(policy_dir=root, console="off"), store, service,
                     lambda d: None).state.siamese
    on = create_app(Settings(policy_dir=root, console="on"), store, service,
                    lambda d: None).state.siamese
    assert off.listeners == [] and len(on.listeners) == 1
    reqs = [Request.simple(s, "read", "d1") for s in ("alice", "alice", "alice", "mallory")]
    return off, on, [await service.decide(r) for r in reqs]


async def per_answer(ctx: Context, ds: list[Decision], n: int) -> float:
    """The mean time of ``ctx.answered`` over ``n`` calls, in ns."""
    t0 = time.perf_counter_ns()
    for i in range(n):
        await ctx.answered(ds[i & 3], "evaluation")
    return (time.perf_counter_ns() - t0) / n


def per_feed(add: Callable[[Decision], None], ds: list[Decision], n: int) -> float:
    """The mean time of the feed's call over ``n`` calls, in ns."""
    t0 = time.perf_counter_ns()
    for i in range(n):
        add(ds[i & 3])
    return (time.perf_counter_ns() - t0) / n


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, rounds = (10_000, 20) if args.quick else (20_000, 100)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.rules").write_text(POLICY)
        off, on, ds = await decisions(tmp)
        add = DecisionFeed().add
        # short rounds, interleaved, the fastest of each kept: what the machine's other work
        # (a noisy neighbour) did not slow down
        offs, ons, alone = [], [], []
        for _ in range(rounds):
            offs.append(await per_answer(off, ds, n))
            ons.append(await per_answer(on, ds, n))
            alone.append(per_feed(add, ds, n))
    t_off, t_on = min(offs), min(ons)
    print(f"Context.answered, console off (no listener): {t_off:7.0f} ns")
    print(f"Context.answered, console on (live feed):    {t_on:7.0f} ns "
          f"(+{t_on - t_off:.0f} ns, x{t_on / t_off:.2f})")
    print(f"DecisionFeed.add alone:                       {min(alone):7.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
