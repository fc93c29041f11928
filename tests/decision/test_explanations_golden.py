"""Golden explanations: every outcome on the shipped policies and the benchmark workloads,
byte for byte as the engine gave it at commit e74a703 (the behaviour reference of the
engine restructuring, issue 15).

Each case is decided through the public decision path only (``PolicyStore.load_sync``,
``Authorizer.evaluate``, ``Request``), once with compiled clause bodies and once
interpreted; both must give the outcomes in ``golden/explanations.json``. On a mismatch the
first differing case is shown as a diff.

When a change of explanations is intended (and only then; say why in the commit),
regenerate the file and review its diff:

    SIAMESE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/decision/test_explanations_golden.py
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import random
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Outcome, Request
from siamese.engine import finish
from siamese.policy.loader import PolicySet
from siamese.policy.store import PolicyStore

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
GOLDEN = Path(__file__).resolve().parent / "golden" / "explanations.json"
REGEN = os.environ.get("SIAMESE_REGEN_GOLDEN") == "1"

# Benchmark workloads, shrunk so that generating and deciding them takes well under a
# second; the requests are a fixed-seed sample of each workload's own.
WORKLOAD_SIZES: dict[str, dict[str, int]] = {
    "rbac": {"n_users": 60, "n_resources": 300, "n_requests": 300, "n_warmup": 0},
    "abac": {"n_users": 60, "n_resources": 300, "n_requests": 300, "n_warmup": 0},
    "rebac": {"n_users": 60, "n_groups": 30, "n_folders": 60, "n_docs": 300,
              "n_requests": 300, "n_warmup": 0},
}
SCALE_FACTS = 300
PER_WORKLOAD = 50
SAMPLE_SEED = 15


def interpreted(policy_set: PolicySet) -> None:
    """Make ``policy_set`` evaluate its rules interpreted (no compiled clause bodies).

    The one place this test reaches into the engine (as bench/decide.py does): update it
    here if the restructured engine offers another switch.
    """
    policy_set.program.compiled = False
    policy_set.program.invalidate()
    finish(policy_set.program)  # analysed again, without compiling


# ------------------------------------------------------------------------------ the cases


@dataclass(frozen=True)
class Case:
    suite: str  # which policy set decides it: "policies" or a workload name
    request: Request
    gateway: bool = False

    def describe(self) -> dict[str, Any]:
        r = self.request
        out: dict[str, Any] = {"subject": r.subject, "action": r.action,
                               "resource": r.resource, "gateway": self.gateway}
        if r.input != Request.simple(r.subject, r.action, r.resource).input:
            out["input"] = r.input  # only where it says more than the three ids
        return out


def _rules_ids(predicate: str) -> list[str]:
    """The ids of the one-argument facts ``predicate(id).`` in the shipped .rules files."""
    pattern = re.compile(rf"^{predicate}\((\w+)\)\.", re.MULTILINE)
    ids: list[str] = []
    for path in sorted(POLICIES.glob("*.rules")):
        ids += pattern.findall(path.read_text())
    return ids


def shipped_cases() -> list[Case]:
    """A grid over the ids in the shipped facts: every user, action and document, plus
    unknown ids, a group and a folder; department-read requests that carry the subject's
    department in the input; gateway decisions (response headers)."""
    users_json = json.loads((POLICIES / "users.json").read_text())["facts"]
    users = [f[1] for f in users_json if f[0] == "user"]
    departments = {f[1]: f[2] for f in users_json if f[0] == "department"}
    groups = [f[1] for f in yaml.safe_load((POLICIES / "groups.yaml").read_text())["facts"]
              if f[0] == "group"]
    actions = _rules_ids("action")
    documents = _rules_ids("document")
    folders = _rules_ids("folder")
    assert users and groups and actions and documents and folders  # the shipped set changed?

    cases = [Case("policies", Request.simple(u, a, d))
             for u in users for a in actions for d in documents]
    # ids the facts do not know, a group and a folder: default denies with why-not
    for s in ("mallory", groups[0]):
        for a in ("read", "share"):
            for d in ("handbook", "press_release"):
                cases.append(Case("policies", Request.simple(s, a, d)))
    for u in ("alice", "grace", "judy"):
        for a in ("read", "delete"):
            for r in (folders[1], "no_such_document"):
                cases.append(Case("policies", Request.simple(u, a, r)))
        cases.append(Case("policies", Request.simple(u, "approve", "runbook")))
    # input: the department the identity provider puts in subject.properties
    for u in users:
        for d in documents:
            cases.append(Case("policies", _with_department(u, "read", d, departments[u])))
        cases.append(Case("policies", _with_department(u, "write", "runbook", departments[u])))
        cases.append(Case("policies", _with_department(u, "read", "launch_plan", "marketing")))
    # gateway decisions: the headers of response_header/2 on allows
    for u in users:
        for a, d in (("read", "runbook"), ("read", "handbook"), ("delete", "salary_review")):
            cases.append(Case("policies", Request.simple(u, a, d), gateway=True))
    return cases


def _with_department(subject: str, action: str, resource: str, department: str) -> Request:
    return Request.from_authzen({
        "subject": {"type": "user", "id": subject, "properties": {"department": department}},
        "action": {"name": action},
        "resource": {"type": "document", "id": resource},
    })


def _bench_workloads() -> ModuleType:
    name = "golden_bench_workloads"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "workloads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def workload_suites() -> dict[str, tuple[str, list[Case]]]:
    """Each benchmark workload: its rules and a fixed-seed sample of its requests."""
    wl = _bench_workloads()
    workloads = [wl.GENERATORS[name](**kw) for name, kw in WORKLOAD_SIZES.items()]
    workloads.append(wl.scale(n_facts=SCALE_FACTS, n_requests=300))
    out: dict[str, tuple[str, list[Case]]] = {}
    for w in workloads:
        name = w.name.split("-")[0]
        sample = random.Random(SAMPLE_SEED).sample(w.requests, PER_WORKLOAD)
        out[name] = (w.rules, [Case(name, Request.simple(s, a, r)) for s, a, r in sample])
    return out


# ------------------------------------------------------------------------------ deciding


def load(root: Path) -> PolicySet:
    """The policy set in ``root``, loaded as the server loads it."""
    store = PolicyStore(root)
    result = store.load_sync()
    assert result.ok, result.error
    ps = store.get()
    assert ps is not None
    return ps


def record(outcome: Outcome) -> dict[str, Any]:
    return {
        "allowed": outcome.allowed,
        "reason": outcome.reason,
        "rule_ids": list(outcome.rule_ids),
        "explanation": outcome.explanation,
        "response_headers": [list(h) for h in outcome.response_headers],
        "cacheable": outcome.cacheable,
        "errors": list(outcome.errors),
    }


@dataclass
class Suite:
    name: str
    root: Path
    cases: list[Case]


def suites(tmp: Path) -> Iterator[Suite]:
    yield Suite("policies", POLICIES, shipped_cases())
    for name, (rules, cases) in workload_suites().items():
        root = tmp / name
        root.mkdir()
        (root / f"{name}.rules").write_text(rules)
        yield Suite(name, root, cases)


async def decide_all(suite_list: list[Suite], mode: Callable[[PolicySet], None] | None
                     ) -> dict[str, list[dict[str, Any]]]:
    """Every case of every suite, in order, on a freshly loaded policy set per suite (the
    tables the engine keeps between decisions start cold and warm up alike each run)."""
    authorizer = Authorizer()
    out: dict[str, list[dict[str, Any]]] = {}
    for suite in suite_list:
        ps = load(suite.root)
        if mode is not None:
            mode(ps)
        rows = []
        for case in suite.cases:
            outcome = await authorizer.evaluate(ps, case.request, gateway=case.gateway)
            rows.append({"request": case.describe(), "outcome": record(outcome)})
        out[suite.name] = rows
    # through JSON, so tuples and lists compare as the golden file stores them
    normalised: dict[str, list[dict[str, Any]]] = json.loads(dumps(out))
    return normalised


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def first_difference(expected: dict[str, list[dict[str, Any]]],
                     actual: dict[str, list[dict[str, Any]]],
                     labels: tuple[str, str]) -> str | None:
    """The first case whose entry differs, as a unified diff; None if all are equal."""
    if sorted(expected) != sorted(actual):
        return f"suites differ: {sorted(expected)} != {sorted(actual)}"
    for name in expected:
        exp, act = expected[name], actual[name]
        for i, (e, a) in enumerate(zip(exp, act)):
            if e != a:
                diff = difflib.unified_diff(dumps(e).splitlines(), dumps(a).splitlines(),
                                            labels[0], labels[1], lineterm="")
                r = a["request"]
                return (f"{name} case {i} ({r['subject']} {r['action']} {r['resource']}"
                        f"{', gateway' if r['gateway'] else ''}) differs:\n" + "\n".join(diff))
        if len(exp) != len(act):
            return f"{name}: {len(exp)} cases expected, {len(act)} decided"
    return None


# ------------------------------------------------------------------------------ the test


async def test_explanations_match_the_golden_file(tmp_path: Path) -> None:
    suite_list = list(suites(tmp_path))
    compiled = await decide_all(suite_list, None)
    slow = await decide_all(suite_list, interpreted)
    same = first_difference(compiled, slow, ("compiled", "interpreted"))
    assert same is None, same
    if REGEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(dumps(compiled))
        pytest.skip(f"regenerated {GOLDEN.relative_to(ROOT)}: review its diff")
    assert GOLDEN.exists(), "no golden file: run with SIAMESE_REGEN_GOLDEN=1 (docstring)"
    golden = json.loads(GOLDEN.read_text())
    diff = first_difference(golden, compiled, ("golden", "now"))
    assert diff is None, diff


def test_the_golden_file_covers_every_kind_of_outcome() -> None:
    """The grid is meaningful: allows with nested proofs, denies, default denies that say
    why not, decisions that read the input, and response headers."""
    golden = json.loads(GOLDEN.read_text())
    shipped = golden["policies"]
    kinds = {row["outcome"]["explanation"]["kind"] for row in shipped}
    assert kinds == {"allow", "deny", "default-deny"}
    assert any(row["outcome"]["explanation"].get("why_not") for row in shipped)
    assert any(
        child.get("children")
        for row in shipped if row["outcome"]["allowed"]
        for proof in row["outcome"]["explanation"]["proof"]
        for child in proof["children"]
    )
    assert any(row["outcome"]["rule_ids"] == ["department-read"] for row in shipped)
    assert any(row["outcome"]["response_headers"] for row in shipped)
    for name in ("rbac", "abac", "rebac", "scale"):
        allowed = [row["outcome"]["allowed"] for row in golden[name]]
        assert len(allowed) == PER_WORKLOAD and any(allowed) and not all(allowed), name
