"""bench/engine.py's engines answer alike: Siamese through the server's decision path,
cedarpy (both ReBAC encodings) and pycasbin agree with the reference evaluator on every
request of small, fixed-seed workloads. Behaviour only: no timing is asserted.

cedarpy is imported, not skipped: CI installs the dev extras, and a benchmark whose
baseline quietly vanished would report nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import cedarpy
import pytest

from tests.benchmod import load_bench

engine = load_bench("engine")
wl = engine.workloads  # the module engine.py itself uses

SEED = 7
SMALL = wl.TINY


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    return {name: gen(seed=SEED, **SMALL[name]) for name, gen in wl.GENERATORS.items()}


def assert_agrees(p: Any, n: int) -> None:
    assert p.n == n
    assert (p.disagreements, p.errors) == (0, 0), p.examples


@pytest.mark.parametrize("name", ["rbac", "abac", "rebac"])
def test_decision_path_agrees_first_and_warm(small: dict[str, Any], name: str) -> None:
    w = small[name]
    figs = asyncio.run(engine.bench_siamese(w))
    assert_agrees(figs.first, len(w.requests))
    assert_agrees(figs.warm, len(w.requests))
    assert_agrees(figs.warm_read, len(w.requests))
    assert figs.deny_explain_us > 0 and figs.deny_plain_us > 0


@pytest.mark.parametrize("name", ["rbac", "abac", "rebac"])
def test_cedarpy_agrees(small: dict[str, Any], name: str) -> None:
    w = small[name]
    assert_agrees(engine.bench_cedar(w, w.cedar, "cedarpy"), len(w.requests))


def test_cedarpy_one_permit_per_grant_agrees(small: dict[str, Any]) -> None:
    w = small["rebac"]
    assert w.sizes["cycles"] > 0  # the closure handed to Cedar is what makes this pass
    assert_agrees(engine.bench_cedar(w, w.cedar_alt, "cedarpy-alt"), len(w.requests))


@pytest.mark.parametrize("name", ["rbac", "abac"])
def test_pycasbin_agrees(small: dict[str, Any], name: str) -> None:
    w = small[name]
    assert_agrees(engine.bench_casbin(w), len(w.requests))


def test_cedar_rejects_a_cycle_in_parents() -> None:
    """Why the ReBAC slices carry the closure instead of each group's own parents."""
    cyclic = [
        wl.cedar_entity("Group", "a", {}, [("Group", "b")]),
        wl.cedar_entity("Group", "b", {}, [("Group", "a")]),
    ]
    with pytest.raises(ValueError, match="transitive closure"):
        cedarpy.Entities.from_json_str(json.dumps(cyclic))


def test_a_wrong_answer_or_an_error_is_counted(small: dict[str, Any]) -> None:
    w = small["abac"]
    answers = list(w.expected)
    answers[3] = not answers[3]
    errors = [""] * len(answers)
    errors[5] = "boom"
    p = engine.checked("x", w, 1.0, answers, errors, [1e-5] * len(answers))
    assert (p.disagreements, p.errors) == (1, 1)
    assert len(p.examples) == 2 and "boom" in p.examples[1]


def test_rss_child_answers_right(small: dict[str, Any], tmp_path: Any) -> None:
    """The subprocess's work, run here: both paths answer every request right."""
    w = small["rebac"]
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "rebac.rules").write_text(w.rules)
    (tmp_path / "requests.json").write_text(
        json.dumps({"requests": w.requests, "expected": w.expected})
    )
    for mode in ("decision", "engine"):
        r = engine.child_rss(mode, tmp_path)
        assert r["wrong"] == 0
        assert r["peak_mb"] > 0
