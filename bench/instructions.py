"""Instructions per decision of a base revision and of the working tree, counted by
valgrind: a before/after comparison that the machine's noise does not move.

    python bench/instructions.py BASE_REV [--requests N] [--passes N]

Wall-clock figures on a shared 2-core machine spread by 40-70% between rounds (see
bench/compare.py), far more than the 5% a change may cost. The number of machine
instructions a decision executes does not depend on the load: this script counts them
with ``valgrind --tool=cachegrind --cache-sim=no`` (Debian's ``valgrind``; it is not
needed by the tests) for each path a decision can take:

* ``authorizer``: ``Authorizer.evaluate_now`` on a loaded policy set (the server's path,
  no cache), with compiled clause bodies;
* ``interpreted``: the same with ``Program.compiled = False``;
* ``ask``: ``RuleEngine.ask("allow", ...)`` and not ``ask("deny", ...)`` (bench/engine.py's).

on the RBAC, ABAC and ReBAC workloads of bench/workloads.py (the working tree's, for
both sides). Each count is (a run with ``passes`` timed passes - a run with none) /
(passes x requests): start-up, loading and the first pass (warming the tables and the
generated code) cancel out. ``PYTHONHASHSEED=0`` makes the counts repeat to within 0.1%.
The base revision is exported with ``git archive``; each side runs with its own
``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# run in a fresh interpreter with the tree's src first on the path; prints nothing
DRIVER = r'''
import asyncio, sys, tempfile
from pathlib import Path
bench, workload, path = sys.argv[1:4]
n, passes = int(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, bench)
import workloads
from siamese import RuleEngine
from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.policy.store import PolicyStore

make = getattr(workloads, workload)
wl = make(n_requests=n) if workload == "rbac" else make()
triples = [tuple(r[:3]) for r in wl.requests[:n]]
if path == "ask":
    engine = RuleEngine()
    engine.load_text(wl.rules)
    for _ in range(1 + passes):
        for s, a, r in triples:
            engine.ask("allow", s, a, r) and not engine.ask("deny", s, a, r)
    raise SystemExit(0)
with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "w.rules").write_text(wl.rules)
    store = PolicyStore(tmp)
    assert store.load_sync().ok
policy = store.get()
if path == "interpreted":
    policy.program.compiled = False
    policy.program.invalidate()
    finish = getattr(__import__("siamese.engine", fromlist=["x"]), "finish", None)
    finish(policy.program) if finish is not None else policy.program.analyse()
authorizer = Authorizer()
requests = [Request.simple(*t) for t in triples]

async def main():
    for _ in range(1 + passes):
        for req in requests:
            x = authorizer.evaluate_now(policy, req)
            if not hasattr(x, "allowed"):
                await x

asyncio.run(main())
'''

WORKLOADS = ("rbac", "abac", "rebac")
PATHS = ("authorizer", "interpreted", "ask")


def instructions(tree: Path, driver: Path, workload: str, path: str, n: int, passes: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONHASHSEED": "0"}
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, str(driver), str(HERE), workload, path, str(n), str(passes)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    m = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode != 0 or m is None:
        raise SystemExit(f"{tree} {workload} {path}: failed\n{out.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def per_decision(tree: Path, driver: Path, workload: str, path: str, n: int, passes: int) -> float:
    base = instructions(tree, driver, workload, path, n, 0)
    timed = instructions(tree, driver, workload, path, n, passes)
    return (timed - base) / (passes * n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the revision to compare with (e.g. a commit)")
    parser.add_argument("--requests", type=int, default=300, help="requests per workload")
    parser.add_argument("--passes", type=int, default=2, help="timed passes over them")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="siamese-instructions-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        driver = Path(tmp) / "driver.py"
        driver.write_text(DRIVER)
        jobs = [(w, p, side, tree) for w in WORKLOADS for p in PATHS
                for side, tree in (("base", base), ("new", ROOT))]
        with ThreadPoolExecutor(args.jobs) as pool:
            counts = list(pool.map(
                lambda j: per_decision(j[3], driver, j[0], j[1], args.requests, args.passes),
                jobs))
    results = {(w, p, side): c for (w, p, side, _), c in zip(jobs, counts)}
    print(f"instructions per decision, base {args.base} vs the working tree "
          f"({args.requests} requests x {args.passes} passes, PYTHONHASHSEED=0)\n")
    print("| workload | path | base | new | change % |")
    print("|---|---|---:|---:|---:|")
    worst = 0.0
    for w in WORKLOADS:
        for p in PATHS:
            b, n = results[(w, p, "base")], results[(w, p, "new")]
            change = (n - b) / b * 100
            worst = max(worst, change)
            print(f"| {w} | {p} | {b:,.0f} | {n:,.0f} | {change:+.1f} |")
    print(f"\nthe most instructions added: {worst:+.1f}% (issue 15's bound: +5%)")
    return 1 if worst > 5 else 0


if __name__ == "__main__":
    sys.exit(main())
