"""Compiled clause bodies explain every benchmark request exactly as the interpreter does.

For each benchmark workload of ``bench/workloads.py`` (RBAC, ABAC, ReBAC, at their full
benchmark sizes and with all 5,000 requests each), the rules are loaded twice through the
decision path (``PolicyStore`` on a directory, ``Authorizer(explain_denials=True)``): once
as served, with compiled clause bodies, and once interpreted. Every request is decided by
the interpreted set, then twice by the compiled one -- first with its tables cold, then
warm, since a warm table takes other code paths (a lookup in a complete table instead of
the interpreter filling it). Each outcome (allowed, reason, rule ids, the explanation JSON
with its proof or its why-not, errors, cacheability) must be the same as the interpreted
one, compared as JSON text so that ``1``, ``1.0`` and ``true`` are told apart; and
``allowed`` must be the workload's reference answer (``Workload.expected``).

Decisions are asked as the server asks them without a gateway (``gateway=False``). The
program's counters show that the compiled set ran no clause in the interpreter to do so.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.engine import compiled_sources
from siamese.policy.loader import PolicySet
from tests.benchmod import load_bench
from tests.decision.test_explanations_golden import interpreted, load, record

workloads = load_bench("workloads")


async def outcomes(policy_set: PolicySet, requests: list[Request]) -> list[str]:
    """Each request's outcome, in order, as JSON text (keys sorted; types kept)."""
    authorizer = Authorizer(explain_denials=True)
    out = []
    for r in requests:
        outcome = await authorizer.evaluate(policy_set, r)
        out.append(json.dumps(record(outcome), indent=1, sort_keys=True, ensure_ascii=False))
    return out


def first_difference(want: list[str], got: list[str], requests: list[Request],
                     label: str) -> str | None:
    """The first request whose outcome differs, with both outcomes as a diff; None if none."""
    assert len(want) == len(got) == len(requests)
    for i, (w, g) in enumerate(zip(want, got)):
        if w != g:
            r = requests[i]
            diff = difflib.unified_diff(w.splitlines(), g.splitlines(), "interpreted", label,
                                        lineterm="")
            return (f"request {i} ({r.subject} {r.action} {r.resource}): the {label} outcome "
                    "differs from the interpreted one\n" + "\n".join(diff)
                    + f"\n--- interpreted, in full\n{w}\n--- {label}, in full\n{g}")
    return None


def wrong_decisions(expected: list[bool], got: list[str], requests: list[Request],
                    label: str) -> str | None:
    """The first request whose ``allowed`` is not the reference evaluator's; None if none."""
    for i, (want, text) in enumerate(zip(expected, got)):
        outcome: dict[str, Any] = json.loads(text)
        if outcome["allowed"] != want:
            r = requests[i]
            return (f"request {i} ({r.subject} {r.action} {r.resource}): {label} says "
                    f"allowed={outcome['allowed']}, the reference evaluator {want}\n{text}")
    return None


@pytest.mark.parametrize("name", ["rbac", "abac", "rebac"])
async def test_compiled_outcomes_are_the_interpreted_ones(name: str, tmp_path: Path) -> None:
    w = workloads.GENERATORS[name]()
    (tmp_path / f"{name}.rules").write_text(w.rules)
    compiled = load(tmp_path)
    # not a vacuous comparison: some allow rule of the served set runs as compiled code
    assert any(src for _, src in compiled_sources(compiled.program, "allow", 3))
    slow = load(tmp_path)
    interpreted(slow)
    requests = [Request.simple(s, a, r) for s, a, r in w.requests]
    want = await outcomes(slow, requests)
    wrong = wrong_decisions(w.expected, want, requests, "interpreted")
    assert wrong is None, wrong
    counts = compiled.program.counts
    for label in ("compiled (cold tables)", "compiled (warm tables)"):
        before = counts.as_dict()
        got = await outcomes(compiled, requests)
        diff = first_difference(want, got, requests, label)
        assert diff is None, diff
        wrong = wrong_decisions(w.expected, got, requests, label)
        assert wrong is None, wrong
        # the debug counters: decisions answered by compiled code alone, and no clause
        # interpreted on the decision path (explanations included: they are read here).
        # Cold, a table whose order only the fixpoint knows (a cycle of groups) is still
        # evaluated by it, and a decision that fills many tables may hand its rest to the
        # interpreter after a turn of the event loop (a slice: 2 ms, which a slow machine
        # reaches); warm, nothing is interpreted.
        ran = {k: v - before[k] for k, v in counts.as_dict().items()}
        if label.endswith("(warm tables)"):
            assert ran["driven"] == 0 and ran["interpreted_clauses"] == 0, (label, ran)
            assert ran["table_clauses"] == 0, (label, ran)
        else:
            assert ran["driven"] <= len(requests) // 100, (label, ran)
            assert ran["driven"] > 0 or ran["interpreted_clauses"] == 0, (label, ran)
