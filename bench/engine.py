"""Benchmark the server's decision path against cedarpy and pycasbin, with issue 16's targets.

    python bench/engine.py              # full run (a few minutes on 2 cores)
    python bench/engine.py --quick      # everything shrunk (CI)
    python bench/engine.py --runs 3     # three measurements in one process, and the worst
    python bench/engine.py --scale      # also 1k vs 1M facts and loading 1M facts

For RBAC, ABAC and ReBAC (bench/workloads.py), in the same run:

* Siamese, through the server's decision path: the workload's rules are written to a
  directory, loaded by ``PolicyStore`` and decided by ``Authorizer(explain_denials=True)``
  (``evaluate_now``, awaited when the engine suspends), one asyncio loop, no decision cache.
  The *first pass* runs on a freshly loaded program (its tables are cold; no warm-up
  before it); the *warm pass* runs the same requests again on the same program, after the
  workload's warm-up requests. The ``Request`` objects are made before the clock starts.
* cedarpy (the Rust Cedar engine from Python) on Cedar policies of the same meaning. Cedar
  is given what an application would hand it: per request, the principal and the resource
  with all their ancestors (``parents``). These slices are built and parsed into
  ``cedarpy.Entities`` handles and the policies into a ``cedarpy.PolicySet`` *before* the
  clock starts, so only ``cedarpy.is_authorized`` calls are timed. Cedar rejects a cycle in
  ``parents`` and the ReBAC groups have cycles, so each slice lists the transitive closure
  computed beforehand (for RBAC too, the closure of the role hierarchy). For ReBAC the
  targets use the cheaper of two encodings (the grants of the document's folders handed
  over on the document); one permit per grant is measured beside it.
* pycasbin for RBAC and ABAC, as before (no ReBAC model).

Before each timed loop the garbage collector is run and what is alive frozen (the
workloads and slices are large), for every engine alike. Every answer of every engine is
checked against the workload's reference evaluator: any disagreement or error is printed
and the exit code is 1. The why-not cost is the time of
the denied requests with explanations on over the time with them off (a second Authorizer
on the same, warm program). The ReBAC peak RSS (/proc/self/status VmHWM) is measured in
clean subprocesses, for the decision path and for the same data through ``RuleEngine.ask``.

Exit codes: 0 every answer agrees (targets not met are reported, not failed); 1 a
disagreement or an error; 2 with ``--strict``, a target not met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import workloads  # noqa: E402
from siamese import RuleEngine  # noqa: E402
from siamese.decision.authorizer import Authorizer  # noqa: E402
from siamese.decision.models import Outcome, Request  # noqa: E402
from siamese.policy.store import PolicySet, PolicyStore  # noqa: E402

NAMES = ("rbac", "abac", "rebac")

# issue 16: Siamese's throughput over cedarpy's (at least), the why-not cost and the RSS (at most)
RATIO_TARGETS = {
    ("rbac", "warm"): 6.0,
    ("abac", "warm"): 3.0,
    ("rebac", "warm"): 2.0,
    ("rebac", "first"): 1.0,
}
WHY_NOT_MAX = 1.5
REBAC_RSS_MAX_MB = 80.0


@dataclass
class Pass:
    """One engine's timed pass over a workload's requests, checked against the reference."""

    engine: str
    n: int
    seconds: float
    median_us: float = 0.0
    p99_us: float = 0.0
    disagreements: int = 0
    errors: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return not self.disagreements and not self.errors


def latency_us(latencies: Sequence[float]) -> tuple[float, float]:
    """The median and the 99th percentile of ``latencies`` (seconds), in µs."""
    lat = sorted(latencies)
    if not lat:
        return 0.0, 0.0
    return statistics.median(lat) * 1e6, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6


def checked(
    engine: str,
    wl: workloads.Workload,
    seconds: float,
    answers: Sequence[bool],
    errors: Sequence[str],
    latencies: Sequence[float],
) -> Pass:
    """A pass whose ``answers`` (and the ``errors`` met, "" for none) are compared with the
    reference; the first few disagreements and errors are kept as examples."""
    p = Pass(engine, len(answers), seconds, *latency_us(latencies))
    for req, got, exp, err in zip(wl.requests, answers, wl.expected, errors):
        if err:
            p.errors += 1
        if got != exp:
            p.disagreements += 1
        if (err or got != exp) and len(p.examples) < 5:
            p.examples.append(f"{req}: got {got}, expected {exp}{' (' + err + ')' if err else ''}")
    return p


# ---------------------------------------------------------------- Siamese (decision path)


def load_policy(rules: str, name: str) -> PolicySet:
    """The policy set the server would serve for ``rules`` (a fresh program: cold tables)."""
    with tempfile.TemporaryDirectory(prefix="siamese-bench-") as tmp:
        (Path(tmp) / f"{name}.rules").write_text(rules, encoding="utf-8")
        store = PolicyStore(tmp)
        result = store.load_sync()
        ps = store.get()
    if not result.ok or ps is None:
        raise RuntimeError(f"{name}: the policy did not load: {result.error}")
    return ps


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """A timed loop's surroundings: what is alive before it (the workloads, the slices) is
    collected and frozen, so the garbage collector does not walk the benchmark's own data
    in the middle of the loop; thawed after."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def decide_all(
    authorizer: Authorizer, ps: PolicySet, requests: Sequence[Request], read: bool = False
) -> tuple[list[bool], list[str], list[float], float]:
    """Every request's answer, errors ("" for none) and seconds as the server's decision
    path makes it, and the seconds of them all; each outcome is dropped once read, as the
    server does. ``read``: read each outcome's explanation and rule ids too, as an AuthZEN
    answer and the decision log do (made at their first read; a gateway's answer never
    reads them)."""
    evaluate = authorizer.evaluate_now
    answers: list[bool] = []
    errors: list[tuple[str, ...]] = []
    lat: list[float] = []
    clock = time.perf_counter
    with settled():
        start = clock()
        for r in requests:
            t0 = clock()
            o = evaluate(ps, r)
            if not isinstance(o, Outcome):
                o = await o
            if read:
                o.explanation  # noqa: B018 - made at the first read: that is the cost
                o.rule_ids  # noqa: B018
            lat.append(clock() - t0)
            answers.append(o.allowed)
            errors.append(o.errors)
        seconds = clock() - start
    return answers, ["; ".join(e) for e in errors], lat, seconds


def time_each(
    call: Callable[[Any], Any], items: Sequence[Any]
) -> tuple[list[Any], list[float], float]:
    """``call(item)`` for each item: the results, each call's seconds and the total (the
    same loop as ``decide_all``, for the other engines)."""
    results: list[Any] = []
    lat: list[float] = []
    clock = time.perf_counter
    with settled():
        start = clock()
        for item in items:
            t0 = clock()
            results.append(call(item))
            lat.append(clock() - t0)
        seconds = clock() - start
    return results, lat, seconds


@dataclass
class SiameseFigures:
    first: Pass
    warm: Pass
    load_seconds: float
    deny_explain_us: float  # mean µs per denied request, explanations on (warm)
    deny_plain_us: float  # the same with explain_denials=False
    warm_read: Pass  # the warm pass again, each explanation read
    deny_read_us: float  # denied requests, explanations on and read

    @property
    def why_not_ratio(self) -> float:
        return self.deny_explain_us / self.deny_plain_us if self.deny_plain_us else 0.0


async def deny_cost_us(
    authorizer: Authorizer, ps: PolicySet, denied: Sequence[Request], rounds: int,
    read: bool = False,
) -> float:
    """The fastest of ``rounds`` passes over the denied requests, in µs per request."""
    best = min([(await decide_all(authorizer, ps, denied, read))[-1] for _ in range(rounds)])
    return best / len(denied) * 1e6 if denied else 0.0


async def bench_siamese(wl: workloads.Workload) -> SiameseFigures:
    """First pass on a fresh program, then warm-up, warm pass and the why-not cost."""
    t0 = time.perf_counter()
    ps = load_policy(wl.rules, wl.name)
    load_seconds = time.perf_counter() - t0
    requests = [Request.simple(*r) for r in wl.requests]
    explain = Authorizer(explain_denials=True)
    answers, errors, lat, seconds = await decide_all(explain, ps, requests)
    first = checked("siamese", wl, seconds, answers, errors, lat)
    await decide_all(explain, ps, [Request.simple(*r) for r in wl.warmup])
    answers, errors, lat, seconds = await decide_all(explain, ps, requests)
    warm = checked("siamese-warm", wl, seconds, answers, errors, lat)
    answers, errors, lat, seconds = await decide_all(explain, ps, requests, read=True)
    warm_read = checked("siamese-warm-read", wl, seconds, answers, errors, lat)
    denied = [r for r, allowed in zip(requests, wl.expected) if not allowed]
    plain = Authorizer(explain_denials=False)
    on, off, on_read = [], [], []
    for _ in range(3):  # interleaved, so that a slow moment of the machine hits all
        on.append(await deny_cost_us(explain, ps, denied, 1))
        off.append(await deny_cost_us(plain, ps, denied, 1))
        on_read.append(await deny_cost_us(explain, ps, denied, 1, read=True))
    return SiameseFigures(first, warm, load_seconds, min(on), min(off), warm_read,
                          min(on_read))


# ---------------------------------------------------------------- cedarpy and pycasbin


def bench_cedar(wl: workloads.Workload, spec: workloads.CedarSpec, engine: str) -> Pass:
    """``cedarpy.is_authorized`` per request on pre-parsed policies and entity slices."""
    import cedarpy

    policies = cedarpy.PolicySet.from_str(spec.policies)
    slices = [cedarpy.Entities.from_json_str(json.dumps(e)) for e in spec.entities]
    authorize = cedarpy.is_authorized
    pairs = list(zip(spec.requests, slices))
    for req, ents in pairs[:100]:  # warm-up: the Python side only, Cedar keeps no state
        authorize(req, policies, ents)
    results, lat, seconds = time_each(lambda p: authorize(p[0], policies, p[1]), pairs)
    errors = ["; ".join(r.diagnostics.errors) for r in results]
    return checked(engine, wl, seconds, [r.allowed for r in results], errors, lat)


def bench_casbin(wl: workloads.Workload) -> Pass:
    """pycasbin's ``enforce`` per request, after its warm-up requests."""
    assert wl.casbin is not None
    enforcer = workloads.casbin_enforcer(wl.casbin)
    enforce = enforcer.enforce
    for args in wl.casbin_warmup:
        enforce(*args)
    answers, lat, seconds = time_each(lambda args: enforce(*args), wl.casbin.requests)
    return checked("pycasbin", wl, seconds, answers, [""] * len(answers), lat)


# ---------------------------------------------------------------- peak RSS (subprocesses)


def vm_mb(field_name: str) -> float:
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


async def answer_each(authorizer: Authorizer, ps: PolicySet, triples: Sequence[Any]) -> list[bool]:
    """The decision path's answers, each request made when it comes and each outcome
    dropped once answered (as the server does), so neither adds to the peak RSS."""
    answers = []
    for t in triples:
        o = authorizer.evaluate_now(ps, Request.simple(*t))
        if not isinstance(o, Outcome):
            o = await o
        answers.append(o.allowed and not o.errors)
    return answers


def child_rss(mode: str, data: Path) -> dict[str, Any]:
    """In a fresh interpreter: load ``data``'s policy and run a first and a warm pass over
    its requests, through the decision path or ``RuleEngine.ask``; the peak RSS."""
    spec = json.loads((data / "requests.json").read_text(encoding="utf-8"))
    triples = [tuple(r) for r in spec["requests"]]
    expected: list[bool] = spec["expected"]
    rules_path = data / "policy" / "rebac.rules"
    baseline = vm_mb("VmRSS")
    answers: list[bool] = []
    if mode == "decision":
        ps = load_policy(rules_path.read_text(encoding="utf-8"), "rebac")
        authorizer = Authorizer(explain_denials=True)
        for _ in range(2):
            answers += asyncio.run(answer_each(authorizer, ps, triples))
    else:
        eng = RuleEngine()
        eng.load_text(rules_path.read_text(encoding="utf-8"), source="rebac.rules")
        ask = eng.ask
        for _ in range(2):
            answers += [ask("allow", *r) and not ask("deny", *r) for r in triples]
    wrong = sum(a != e for a, e in zip(answers, expected * 2))
    return {"mode": mode, "baseline_mb": baseline, "peak_mb": vm_mb("VmHWM"), "wrong": wrong}


def run_rss(wl: workloads.Workload, mode: str, data: Path) -> dict[str, Any]:
    """``child_rss`` in a subprocess (the data written to ``data`` once, by the caller)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-rss", mode, str(data)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"mode": mode, "error": " | ".join(tail) or f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure_rss(wl: workloads.Workload) -> dict[str, dict[str, Any]]:
    """The ReBAC workload's peak RSS through the decision path and through RuleEngine."""
    with tempfile.TemporaryDirectory(prefix="siamese-rss-") as tmp:
        data = Path(tmp)
        (data / "policy").mkdir()
        (data / "policy" / "rebac.rules").write_text(wl.rules, encoding="utf-8")
        spec = {"requests": wl.requests, "expected": wl.expected}
        (data / "requests.json").write_text(json.dumps(spec), encoding="utf-8")
        return {mode: run_rss(wl, mode, data) for mode in ("decision", "engine")}


# ---------------------------------------------------------------- scaling (--scale)


def child_scale(path: str, n_facts: int, n_requests: int) -> dict[str, Any]:
    """In a fresh interpreter: load ``path`` into a RuleEngine, then time decisions."""
    eng = RuleEngine()
    rss0 = vm_mb("VmRSS")
    t0 = time.perf_counter()
    eng.load_from_file(path)
    load = time.perf_counter() - t0
    hwm = vm_mb("VmHWM")
    reqs, expected = workloads.scale_requests(n_facts, n_requests)
    ask = eng.ask
    answers, lat, _ = time_each(lambda r: ask("allow", *r) and not ask("deny", *r), reqs)
    median, p99 = latency_us(lat)
    return {
        "load_seconds": load,
        "peak_rss_mb": hwm,
        "rss_increase_mb": hwm - rss0,
        "median_us": median,
        "p99_us": p99,
        "wrong": sum(a != e for a, e in zip(answers, expected)),
    }


def run_scale(n_facts: int, n_requests: int, tmp: Path) -> dict[str, Any]:
    path = tmp / f"scale-{n_facts}.rules"
    workloads.write_scale_rules(path, n_facts)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-scale",
        str(path),
        str(n_facts),
        str(n_requests),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    path.unlink()
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def scale_report(quick: bool) -> tuple[list[list[str]], dict[str, Any]]:
    """Target rows for latency over 1k vs 1M facts and for loading 1M facts (none when a
    child failed or answered wrongly), and each child's figures."""
    small, big = (1_000, 50_000) if quick else (1_000, 1_000_000)
    n_requests = 500 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="siamese-bench-") as tmp:
        got = {n: run_scale(n, n_requests, Path(tmp)) for n in (small, big)}
    figures = {str(n): r for n, r in got.items()}
    for n, r in got.items():
        if "error" in r or r["wrong"]:
            print(f"! scale {n}: {r.get('error') or str(r['wrong']) + ' wrong'}", file=sys.stderr)
            return [], figures
    s, b = got[small], got[big]
    ratio = b["median_us"] / s["median_us"]
    rows = [
        [
            f"median latency, {big:,} vs {small:,} facts",
            "≤ 1.5×",
            f"{ratio:.2f}× ({b['median_us']:.1f} vs {s['median_us']:.1f} µs)",
            met(ratio <= 1.5),
        ],
        [
            f"load {big:,} facts: time",
            "< 15 s",
            f"{b['load_seconds']:.2f} s",
            met(b["load_seconds"] < 15),
        ],
        [
            f"load {big:,} facts: peak RSS",
            "< 1.5 GB",
            f"{b['peak_rss_mb']:.0f} MiB",
            met(b["peak_rss_mb"] < 1536),
        ],
    ]
    return rows, figures


# ---------------------------------------------------------------- one run


@dataclass
class Figures:
    """One workload's figures in one run."""

    siamese: SiameseFigures
    cedar: Pass
    cedar_alt: Pass | None
    casbin: Pass | None
    cedar_encoding: str
    cedar_alt_encoding: str

    def passes(self) -> list[Pass]:
        found = [self.siamese.first, self.siamese.warm, self.siamese.warm_read,
                 self.cedar, self.cedar_alt, self.casbin]
        return [p for p in found if p is not None]

    def ratio(self, which: str, over: Pass | None = None) -> float:
        """Siamese's first-pass or warm throughput over cedarpy's (or ``over``'s)."""
        mine = self.siamese.first if which == "first" else self.siamese.warm
        base = over or self.cedar
        return mine.per_second / base.per_second if base.per_second else 0.0


def bench_workload(wl: workloads.Workload) -> Figures:
    assert wl.cedar is not None
    siamese = asyncio.run(bench_siamese(wl))
    cedar = bench_cedar(wl, wl.cedar, "cedarpy")
    alt = bench_cedar(wl, wl.cedar_alt, "cedarpy-alt") if wl.cedar_alt else None
    casbin = bench_casbin(wl) if wl.casbin is not None else None
    return Figures(
        siamese,
        cedar,
        alt,
        casbin,
        wl.cedar.encoding,
        wl.cedar_alt.encoding if wl.cedar_alt else "",
    )


def met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def rate(p: Pass | None) -> str:
    return f"{p.per_second:,.0f}" if p is not None else "-"


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def target_values(figs: dict[str, Figures], rss: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each target's measured value in one run, keyed by the target's label."""
    out: dict[str, float] = {}
    for (name, which), _ in RATIO_TARGETS.items():
        out[f"{name} {which}"] = figs[name].ratio(which)
    for name, f in figs.items():
        out[f"why-not {name}"] = f.siamese.why_not_ratio
    if "peak_mb" in rss.get("decision", {}):
        out["rebac rss"] = rss["decision"]["peak_mb"]
    return out


def target_rows(values: dict[str, float], worst: str = "") -> tuple[list[list[str]], bool]:
    """MET / NOT MET per target; True when every target is met."""
    rows, all_met = [], True
    for (name, which), goal in RATIO_TARGETS.items():
        v = values[f"{name} {which}"]
        rows.append(
            [
                f"{name.upper()} {which} pass ÷ cedarpy{worst}",
                f"≥ {goal:g}×",
                f"{v:.2f}×",
                met(v >= goal),
            ]
        )
        all_met &= v >= goal
    for name in NAMES:
        v = values[f"why-not {name}"]
        rows.append(
            [
                f"{name.upper()} denies, why-not on ÷ off{worst}",
                f"≤ {WHY_NOT_MAX:g}×",
                f"{v:.2f}×",
                met(v <= WHY_NOT_MAX),
            ]
        )
        all_met &= v <= WHY_NOT_MAX
    if "rebac rss" in values:
        v = values["rebac rss"]
        rows.append(
            [
                f"ReBAC peak RSS, decision path{worst}",
                f"≤ {REBAC_RSS_MAX_MB:g} MB",
                f"{v:.1f} MB",
                met(v <= REBAC_RSS_MAX_MB),
            ]
        )
        all_met &= v <= REBAC_RSS_MAX_MB
    else:
        all_met = False
    return rows, all_met


def report_run(
    index: int, figs: dict[str, Figures], rss: dict[str, dict[str, Any]]
) -> dict[str, float]:
    """Print one run's table and targets; return the targets' measured values."""
    rows = []
    for name, f in figs.items():
        s = f.siamese
        rows.append(
            [
                name,
                rate(s.first),
                rate(s.warm),
                rate(f.cedar),
                rate(f.casbin),
                f"{f.ratio('first'):.2f}×",
                f"{f.ratio('warm'):.2f}×",
                rate(s.warm_read),
                f"{s.warm_read.per_second / f.cedar.per_second:.2f}×"
                if f.cedar.per_second else "-",
                f"{s.deny_explain_us:.1f} / {s.deny_plain_us:.1f} / {s.deny_read_us:.1f}",
            ]
        )
    print(
        f"\n# run {index}: decisions per second (requests per workload: "
        f"{next(iter(figs.values())).siamese.first.n:,})"
    )
    print_table(
        rows,
        [
            "workload",
            "Siamese first",
            "Siamese warm",
            "cedarpy",
            "pycasbin",
            "first÷cedar",
            "warm÷cedar",
            "warm, read",
            "read÷cedar",
            "deny µs why-not on / off / read",
        ],
    )
    print("  (read: each explanation and its rule ids read, as an AuthZEN answer and the "
          "decision log do; a gateway's answer does not read them)")
    for name, f in figs.items():
        print(f"  cedarpy {name}: {f.cedar_encoding}")
        if f.cedar_alt is not None:
            print(
                f"  cedarpy {name}, {f.cedar_alt_encoding}: {rate(f.cedar_alt)}/s "
                f"(Siamese first {f.ratio('first', f.cedar_alt):.1f}×, "
                f"warm {f.ratio('warm', f.cedar_alt):.1f}×)"
            )
    for mode, r in rss.items():
        label = "decision path" if mode == "decision" else "RuleEngine.ask"
        if "error" in r:
            print(f"  ReBAC peak RSS, {label}: failed ({r['error']})")
        else:
            print(
                f"  ReBAC peak RSS, {label}: {r['peak_mb']:.1f} MB "
                f"(interpreter and imports: {r['baseline_mb']:.1f} MB)"
            )
    values = target_values(figs, rss)
    print(f"\n# run {index}: targets (RBAC and ABAC compare the warm pass)")
    print_table(target_rows(values)[0], ["target", "goal", "measured", "status"])
    return values


def problems(figs: dict[str, Figures], rss: dict[str, dict[str, Any]]) -> list[str]:
    """Every disagreement with the reference and every error, one line each."""
    out = []
    for name, f in figs.items():
        for p in f.passes():
            if not p.ok:
                out.append(f"{name}/{p.engine}: {p.disagreements} disagreements, {p.errors} errors")
                out += [f"    {ex}" for ex in p.examples]
    for mode, r in rss.items():
        if "error" in r or r.get("wrong"):
            out.append(f"rss {mode}: {r.get('error') or str(r['wrong']) + ' wrong answers'}")
    return out


def worst(runs: list[dict[str, float]]) -> dict[str, float]:
    """Over the runs: the smallest ratio over cedarpy, the largest why-not cost and RSS."""
    out = {}
    for k in dict.fromkeys(k for r in runs for k in r):
        pick = max if k.startswith(("why-not", "rebac rss")) else min
        out[k] = pick(r[k] for r in runs if k in r)
    return out


def generate(quick: bool, n_requests: int) -> dict[str, workloads.Workload]:
    """The three workloads, shrunk with ``quick``; ``n_requests`` (if not 0) per workload."""
    sizes = workloads.QUICK if quick else workloads.FULL
    out = {}
    for name in NAMES:
        kw = dict(sizes[name], **({"n_requests": n_requests} if n_requests else {}))
        t0 = time.perf_counter()
        wl = workloads.GENERATORS[name](**kw)
        print(
            f"# {name}: generated in {time.perf_counter() - t0:.2f}s, {wl.sizes}, "
            f"{wl.allowed_share:.0%} of requests allowed",
            flush=True,
        )
        out[name] = wl
    return out


def compare_view(figs: dict[str, Figures]) -> dict[str, dict[str, dict[str, float]]]:
    """The last run's passes as bench/compare.py reads them: per workload and engine (the
    Siamese first pass is ``siamese``), decisions/s, median and p99 µs, load seconds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, f in figs.items():
        out[name] = {
            p.engine: {"per_second": p.per_second, "median_us": p.median_us, "p99_us": p.p99_us}
            for p in f.passes()
        }
        out[name]["siamese"]["load_seconds"] = f.siamese.load_seconds
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shrink everything (CI)")
    ap.add_argument("--runs", type=int, default=1, help="measurements in this process run")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    ap.add_argument("--strict", action="store_true", help="exit 2 when a target is not met")
    ap.add_argument("--scale", action="store_true", help="also 1k vs 1M facts, load 1M facts")
    ap.add_argument("--requests", type=int, default=0, help="decisions per workload")
    ap.add_argument("--child-rss", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument(
        "--child-scale", nargs=3, metavar=("PATH", "FACTS", "REQUESTS"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)

    if args.child_rss:
        print(json.dumps(child_rss(args.child_rss[0], Path(args.child_rss[1]))))
        return 0
    if args.child_scale:
        path, facts, reqs = args.child_scale
        print(json.dumps(child_scale(path, int(facts), int(reqs))))
        return 0
    try:
        import cedarpy  # noqa: F401
    except ImportError as exc:
        print(f"! cedarpy is not installed ({exc}): pip install -e '.[dev]'", file=sys.stderr)
        return 1

    wls = generate(args.quick, args.requests)
    runs: list[dict[str, Any]] = []
    values: list[dict[str, float]] = []
    bad: list[str] = []
    for i in range(1, args.runs + 1):
        figs = {name: bench_workload(wl) for name, wl in wls.items()}
        rss = measure_rss(wls["rebac"])
        values.append(report_run(i, figs, rss))
        bad += problems(figs, rss)
        runs.append(
            {
                "workloads": {n: asdict(f) for n, f in figs.items()},
                "rss": rss,
                "targets": values[-1],
            }
        )
    summary = worst(values)
    rows, all_met = target_rows(summary, f" (worst of {args.runs})")
    print(
        f"\n# summary over {args.runs} run{'s' if args.runs > 1 else ''}"
        + (" (quick: sizes shrunk, indicative only)" if args.quick else "")
    )
    print_table(rows, ["target", "goal", "measured", "status"])
    scale_rows: list[list[str]] = []
    scale: dict[str, Any] = {}
    if args.scale:
        print("\n# scaling (subprocesses, RuleEngine)", flush=True)
        scale_rows, scale = scale_report(args.quick)
        if not scale_rows:
            bad.append("scale: a child failed or answered wrongly")
        print_table(scale_rows, ["target", "goal", "measured", "status"])
    if args.json:
        out = {
            "quick": args.quick,
            "workloads": compare_view(figs),
            "scale": scale,
            "runs": runs,
            "worst": summary,
            "problems": bad,
        }
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    if bad:
        print("\nFAILED: answers disagree with the reference, or errors:", file=sys.stderr)
        for line in bad:
            print(f"! {line}", file=sys.stderr)
        return 1
    if args.strict and not (all_met and all(r[-1] == "MET" for r in scale_rows)):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
