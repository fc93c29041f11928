"""Benchmark the Siamese engine against pycasbin and against the performance targets.

    python bench/engine.py            # full run (a few minutes on 2 cores)
    python bench/engine.py --quick    # smoke test: everything shrunk

For RBAC, ABAC and ReBAC (bench/workloads.py) it loads the policy text into a RuleEngine,
warms up, then times each decision (``ask allow`` and not ``ask deny``) with
``time.perf_counter``; pycasbin decides the same requests for RBAC and ABAC. Every answer of
both engines is checked against a plain-Python reference evaluator: any disagreement is
printed and the exit code is 1. Then, in clean subprocesses, the median decision latency
over 1,000 facts is compared with 1,000,000 facts, and loading 1,000,000 facts from a
``.rules`` file is timed and its peak RSS measured (/proc/self/status VmHWM).

Exit codes: 0 all answers agree; 1 disagreements or errors; 3 the Siamese engine could not
be imported (the pycasbin numbers are still printed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402

TARGETS = {
    "rbac_ratio": 10.0,  # Siamese decisions/s ≥ 10 × pycasbin
    "abac_ratio": 3.0,
    "rebac_median_us": 100.0,
    "scale_latency_ratio": 1.5,  # median with 1M facts ≤ 1.5 × median with 1k facts
    "load_seconds": 15.0,
    "load_rss_mb": 1536.0,
}


def import_rule_engine() -> Any:
    try:
        from siamese import RuleEngine
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))
        from siamese import RuleEngine
    return RuleEngine


@dataclass
class Timing:
    engine: str
    workload: str
    n: int = 0
    seconds: float = 0.0
    median_us: float = 0.0
    p99_us: float = 0.0
    disagreements: int = 0
    errors: int = 0
    first_error: str = ""
    load_seconds: float = 0.0
    truncated: bool = False
    examples: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0


def time_decisions(
    engine: str,
    workload: str,
    decide: Callable[..., bool],
    args: Sequence[tuple[Any, ...]],
    expected: Sequence[bool],
    labels: Sequence[tuple[str, str, str]],
    warmup: Sequence[tuple[Any, ...]],
    budget_s: float,
) -> Timing:
    """Time ``decide(*a)`` for each request; compare with ``expected``."""
    t = Timing(engine, workload)
    for a in warmup:
        with contextlib.suppress(Exception):
            decide(*a)
    lat: list[float] = []
    clock = time.perf_counter
    start = clock()
    deadline = start + budget_s
    for a, exp, label in zip(args, expected, labels):
        t0 = clock()
        try:
            got = decide(*a)
        except Exception as exc:  # fail closed, as the PDP does
            got = False
            t.errors += 1
            if not t.first_error:
                t.first_error = f"{type(exc).__name__}: {exc}"
        lat.append(clock() - t0)
        if got != exp:
            t.disagreements += 1
            if len(t.examples) < 5:
                t.examples.append(f"{label}: got {got}, expected {exp}")
        if t0 > deadline:
            t.truncated = True
            break
    t.seconds = clock() - start
    t.n = len(lat)
    lat.sort()
    t.median_us = statistics.median(lat) * 1e6 if lat else 0.0
    t.p99_us = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6 if lat else 0.0
    return t


def siamese_decider(eng: Any) -> Callable[[str, str, str], bool]:
    ask = eng.ask

    def decide(s: str, a: str, r: str) -> bool:
        return bool(ask("allow", s, a, r)) and not ask("deny", s, a, r)

    return decide


def bench_siamese(wl: workloads.Workload, budget_s: float) -> tuple[Timing, Timing]:
    """Two passes over the same requests: the first meets every user and resource for the
    first time (the tables the engine keeps between queries are still cold for them), the
    second runs with those tables warm. There is no decision cache in either."""
    RuleEngine = import_rule_engine()
    eng = RuleEngine()
    t0 = time.perf_counter()
    eng.load_text(wl.rules, source=f"{wl.name}.rules")
    load = time.perf_counter() - t0
    t = time_decisions(
        "siamese",
        wl.name,
        siamese_decider(eng),
        wl.requests,
        wl.expected,
        wl.requests,
        wl.warmup,
        budget_s,
    )
    t.load_seconds = load
    warm = time_decisions(
        "siamese-warm",
        wl.name,
        siamese_decider(eng),
        wl.requests,
        wl.expected,
        wl.requests,
        (),
        budget_s,
    )
    return t, warm


def bench_casbin(wl: workloads.Workload, budget_s: float) -> Timing:
    assert wl.casbin is not None
    t0 = time.perf_counter()
    enforcer = workloads.casbin_enforcer(wl.casbin)
    load = time.perf_counter() - t0
    t = time_decisions(
        "pycasbin",
        wl.name,
        enforcer.enforce,
        wl.casbin.requests,
        wl.expected,
        wl.requests,
        wl.casbin_warmup,
        budget_s,
    )
    t.load_seconds = load
    return t


# ---------------------------------------------------------------- scaling (subprocesses)


def _vm(field_name: str) -> float:
    """A VmXXX line of /proc/self/status in MiB (ru_maxrss as a fallback for VmHWM)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_scale(path: str, n_facts: int, n_requests: int) -> None:
    """Run in a fresh interpreter: load ``path``, then time decisions; print JSON."""
    RuleEngine = import_rule_engine()
    eng = RuleEngine()
    rss0 = _vm("VmRSS")
    t0 = time.perf_counter()
    eng.load_from_file(path)
    load = time.perf_counter() - t0
    hwm = _vm("VmHWM")
    reqs, expected = workloads.scale_requests(n_facts, n_requests)
    warm, _ = workloads.scale_requests(n_facts, min(500, n_requests), seed=5)
    t = time_decisions(
        "siamese", f"scale-{n_facts}", siamese_decider(eng), reqs, expected, reqs, warm, 120.0
    )
    t.load_seconds = load
    out = asdict(t)
    out.update(rss_before_mb=rss0, peak_rss_mb=hwm, rss_increase_mb=hwm - rss0)
    print(json.dumps(out))


def run_scale(n_facts: int, n_requests: int, tmp: Path) -> dict[str, Any]:
    path = tmp / f"scale-{n_facts}.rules"
    workloads.write_scale_rules(path, n_facts)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-scale",
        str(path),
        "--facts",
        str(n_facts),
        "--requests",
        str(n_requests),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    path.unlink()
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}", "n_facts": n_facts}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["n_facts"] = n_facts
    return result


# ---------------------------------------------------------------- report


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shrink every workload (smoke test)")
    ap.add_argument(
        "--only",
        default="rbac,abac,rebac,scale",
        help="comma-separated subset of rbac,abac,rebac,scale",
    )
    ap.add_argument("--requests", type=int, default=0, help="decisions per workload")
    ap.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds per engine and workload before the timing loop stops",
    )
    ap.add_argument("--casbin-only", action="store_true", help="skip the Siamese engine")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--child-scale", metavar="PATH", help=argparse.SUPPRESS)
    ap.add_argument("--facts", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child_scale:
        child_scale(args.child_scale, args.facts, args.requests or 2000)
        return 0

    only = set(args.only.split(","))
    sizes = workloads.QUICK if args.quick else workloads.FULL
    results: dict[str, Any] = {"quick": args.quick, "workloads": {}, "scale": {}}
    siamese_error = ""
    if not args.casbin_only:
        try:
            import_rule_engine()
        except Exception as exc:
            siamese_error = f"{type(exc).__name__}: {exc}"
            print(
                f"! the Siamese engine is not available ({siamese_error}); pycasbin only",
                file=sys.stderr,
            )
    run_siamese = not args.casbin_only and not siamese_error
    bad = False

    rows: list[list[str]] = []
    for name in ("rbac", "abac", "rebac"):
        if name not in only:
            continue
        kw = dict(sizes[name])
        if args.requests:
            kw["n_requests"] = args.requests
        t0 = time.perf_counter()
        wl = workloads.GENERATORS[name](**kw)
        print(
            f"# {name}: generated in {time.perf_counter() - t0:.2f}s, {wl.sizes}, "
            f"{wl.allowed_share:.0%} of requests allowed",
            flush=True,
        )
        timings: dict[str, Timing] = {}
        if run_siamese:
            timings["siamese"], timings["siamese-warm"] = bench_siamese(wl, args.budget)
        if wl.casbin is not None:
            timings["pycasbin"] = bench_casbin(wl, args.budget)
        for t in timings.values():
            rows.append(
                [
                    name,
                    t.engine,
                    f"{t.load_seconds:.2f}",
                    fmt_rate(t.per_second),
                    f"{t.median_us:.1f}",
                    f"{t.p99_us:.1f}",
                    f"{t.n}{'*' if t.truncated else ''}",
                    str(t.disagreements),
                    str(t.errors),
                ]
            )
            if t.disagreements or t.errors:
                bad = True
                print(
                    f"! {name}/{t.engine}: {t.disagreements} disagreements, {t.errors} errors"
                    f"{' (' + t.first_error + ')' if t.first_error else ''}",
                    file=sys.stderr,
                )
                for ex in t.examples:
                    print(f"!   {ex}", file=sys.stderr)
        results["workloads"][name] = {
            k: asdict(v) | {"per_second": v.per_second} for k, v in timings.items()
        }

    if rows:
        print()
        print_table(
            rows,
            [
                "workload",
                "engine",
                "load s",
                "decisions/s",
                "median µs",
                "p99 µs",
                "decisions",
                "disagree",
                "errors",
            ],
        )
        if any(r[6].endswith("*") for r in rows):
            print("* stopped early by --budget")

    scale_small, scale_big = (1_000, 50_000) if args.quick else (1_000, 1_000_000)
    scale_reqs = args.requests or (500 if args.quick else 5000)
    if "scale" in only and run_siamese:
        print(f"\n# scaling: {scale_small:,} vs {scale_big:,} facts (subprocesses)", flush=True)
        with tempfile.TemporaryDirectory(prefix="siamese-bench-") as tmp:
            for n in (scale_small, scale_big):
                r = run_scale(n, scale_reqs, Path(tmp))
                results["scale"][str(n)] = r
                if "error" in r:
                    bad = True
                    print(f"! scale {n}: {r['error']}", file=sys.stderr)
                else:
                    print(
                        f"  {n:>9,} facts: load {r['load_seconds']:.2f}s, peak RSS "
                        f"{r['peak_rss_mb']:.0f} MiB (+{r['rss_increase_mb']:.0f}), median "
                        f"{r['median_us']:.1f} µs, p99 {r['p99_us']:.1f} µs, "
                        f"{r['disagreements']} disagreements, {r['errors']} errors"
                    )
                    if r["disagreements"] or r["errors"]:
                        bad = True

    # ---- targets
    print("\n# targets" + (" (quick run: sizes shrunk, indicative only)" if args.quick else ""))
    trows: list[list[str]] = []
    w = results["workloads"]
    for name, key in (("rbac", "rbac_ratio"), ("abac", "abac_ratio")):
        if name in w and "pycasbin" in w[name]:
            cb = w[name]["pycasbin"]["per_second"]
            si = w[name].get("siamese", {}).get("per_second")
            ratio = si / cb if si and cb else None
            trows.append(
                [
                    f"{name.upper()} throughput vs pycasbin",
                    f"≥ {TARGETS[key]:g}×",
                    f"{ratio:.1f}× ({fmt_rate(si)}/s vs {fmt_rate(cb)}/s)"
                    if ratio
                    else f"pycasbin {fmt_rate(cb)}/s",
                    status(ratio >= TARGETS[key] if ratio else None),
                ]
            )
    if "rebac" in w and "siamese" in w["rebac"]:
        med = w["rebac"]["siamese"]["median_us"]
        warm_med = w["rebac"].get("siamese-warm", {}).get("median_us", 0.0)
        trows.append(
            [
                "ReBAC median decision latency (cold pass)",
                f"< {TARGETS['rebac_median_us']:g} µs",
                f"{med:.1f} µs (warm pass {warm_med:.1f} µs)",
                status(med < TARGETS["rebac_median_us"]),
            ]
        )
    sc = results["scale"]
    small, big = sc.get(str(scale_small), {}), sc.get(str(scale_big), {})
    if "median_us" in small and "median_us" in big:
        ratio = big["median_us"] / small["median_us"] if small["median_us"] else float("inf")
        trows.append(
            [
                f"latency {scale_big:,} vs {scale_small:,} facts",
                f"≤ {TARGETS['scale_latency_ratio']:g}×",
                f"{ratio:.2f}× ({big['median_us']:.1f} vs {small['median_us']:.1f} µs)",
                status(ratio <= TARGETS["scale_latency_ratio"]),
            ]
        )
        trows.append(
            [
                f"load {scale_big:,} facts: time",
                f"< {TARGETS['load_seconds']:g} s",
                f"{big['load_seconds']:.2f} s",
                status(big["load_seconds"] < TARGETS["load_seconds"]),
            ]
        )
        trows.append(
            [
                f"load {scale_big:,} facts: peak RSS",
                "< 1.5 GB",
                f"{big['peak_rss_mb']:.0f} MiB (+{big['rss_increase_mb']:.0f} MiB)",
                status(big["peak_rss_mb"] < TARGETS["load_rss_mb"]),
            ]
        )
    if trows:
        print_table(trows, ["target", "goal", "measured", "status"])
    results["targets"] = trows
    if siamese_error:
        results["siamese_error"] = siamese_error

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
    if bad:
        print("\nFAILED: some answers disagree with the reference (see above)", file=sys.stderr)
        return 1
    if siamese_error:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
