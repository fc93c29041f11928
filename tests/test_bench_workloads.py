"""The benchmark workload generators (bench/workloads.py), independent of the Siamese engine.

They must be deterministic, have the promised sizes, mix allowed and denied requests, and the
pycasbin models must decide like the reference evaluator (which is what bench/engine.py
compares Siamese with).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.benchmod import BENCH, load_bench

wl = load_bench("workloads")

SMALL = wl.TINY


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return {name: gen() for name, gen in wl.GENERATORS.items()}


@pytest.mark.parametrize("name", ["rbac", "abac", "rebac"])
def test_generators_are_deterministic(name: str) -> None:
    a = wl.GENERATORS[name](**SMALL[name])
    b = wl.GENERATORS[name](**SMALL[name])
    assert a.rules == b.rules
    assert a.requests == b.requests
    assert a.expected == b.expected
    assert a.warmup == b.warmup
    if a.casbin is not None:
        assert a.casbin.policy == b.casbin.policy
    c = wl.GENERATORS[name](seed=99, **SMALL[name])
    assert c.rules != a.rules


def test_rbac_sizes(full: dict[str, Any]) -> None:
    w = full["rbac"]
    assert w.sizes["users"] == 2000
    assert w.sizes["roles"] == 40
    assert w.sizes["resources"] == 20000
    assert w.sizes["types"] == 20
    assert w.rules.count("\nresource_type(") == 20000
    assert w.rules.count("\nrole(") == 40
    assert 2000 <= w.sizes["has_role"] <= 4000
    assert len(w.requests) == len(w.expected) == 5000
    assert len(w.casbin.requests) == 5000


def test_abac_sizes(full: dict[str, Any]) -> None:
    w = full["abac"]
    assert w.sizes["users"] == 2000
    assert w.sizes["resources"] == 20000
    assert w.rules.count("\nclearance(") == 2000
    assert w.rules.count("\nsensitivity(") == 20000
    assert 0 < w.sizes["suspended"] < 200


def test_rebac_sizes(full: dict[str, Any]) -> None:
    w = full["rebac"]
    s = w.sizes
    assert (s["users"], s["groups"], s["folders"], s["docs"]) == (2000, 300, 2000, 20000)
    assert s["group_levels"] == 8
    assert s["folder_levels"] == 12
    assert s["cycles"] == 8
    # every folder but the roots and every document has exactly one parent
    assert w.rules.count("\nparent(") == 2000 - 20 + 20000


@pytest.mark.parametrize("name", ["rbac", "abac", "rebac"])
def test_requests_are_about_half_allowed(full: dict[str, Any], name: str) -> None:
    w = full[name]
    assert 0.4 <= w.allowed_share <= 0.65
    assert len(set(w.requests)) > 0.9 * len(w.requests)


def test_rebac_has_membership_cycles(full: dict[str, Any]) -> None:
    edges = set(
        re.findall(r'^in_group\("(group_\d+)", "(group_\d+)"\)\.$', full["rebac"].rules, re.M)
    )
    assert sum((b, a) in edges for a, b in edges) == 2 * 8


def test_rules_use_only_quoted_atoms_in_facts(full: dict[str, Any]) -> None:
    fact_line = re.compile(r'^[a-z_]+\((("[^"]*"|-?\d+)(, ("[^"]*"|-?\d+))*)\)\.$')
    heads = {"rbac": wl.RBAC_RULES, "abac": wl.ABAC_RULES, "rebac": wl.REBAC_RULES}
    for name, w in full.items():
        assert w.rules.startswith(heads[name])
        for line in w.rules[len(heads[name]) :].splitlines():
            if line and not line.startswith("#"):
                assert fact_line.match(line), line


def test_scale_facts() -> None:
    text = wl.scale_rules(1000)
    assert text.count("\nacl(") == 1000
    reqs, expected = wl.scale_requests(1000, 200)
    assert reqs == wl.scale_requests(1000, 200)[0]
    assert 0.35 < sum(expected) / len(expected) < 0.65
    facts = {wl.scale_fact(i) for i in range(1000)}
    for (u, a, r), exp in zip(reqs, expected):
        assert ((r, u, a) in facts) is exp


def test_write_scale_rules(tmp_path: Path) -> None:
    p = tmp_path / "facts.rules"
    size = wl.write_scale_rules(p, 500)
    assert p.read_text() == wl.scale_rules(500)
    assert size == len(p.read_text())


# ---------------------------------------------------------------- pycasbin agrees


@pytest.mark.parametrize("name", ["rbac", "abac"])
def test_casbin_matches_the_reference(name: str) -> None:
    pytest.importorskip("casbin")
    w = wl.GENERATORS[name](**SMALL[name])
    enforcer = wl.casbin_enforcer(w.casbin)
    got = [enforcer.enforce(*args) for args in w.casbin.requests]
    assert got == w.expected


def test_casbin_rbac_hand_picked() -> None:
    pytest.importorskip("casbin")
    spec = wl.CasbinSpec(
        model=wl.RBAC_CASBIN_MODEL,
        policy=[
            "p, suspended, *, *, deny",
            "p, leaf, docs, read, allow",
            "p, top, docs, delete, allow",
            "g, top, mid",
            "g, mid, leaf",
            "g, alice, top",
            "g, bob, leaf",
            "g, sam, top",
            "g, sam, suspended",
            "g2, d1, docs",
            "g2, x1, other",
        ],
        requests=[],
    )
    e = wl.casbin_enforcer(spec)
    assert e.enforce("alice", "d1", "read")  # top includes mid includes leaf
    assert e.enforce("alice", "d1", "delete")
    assert e.enforce("bob", "d1", "read")
    assert not e.enforce("bob", "d1", "delete")  # leaf does not include top
    assert not e.enforce("alice", "x1", "read")  # wrong resource type
    assert not e.enforce("sam", "d1", "read")  # suspended: deny overrides
    assert not e.enforce("nobody", "d1", "read")


def test_casbin_abac_hand_picked() -> None:
    pytest.importorskip("casbin")
    e = wl.casbin_enforcer(wl.CasbinSpec(model=wl.ABAC_CASBIN_MODEL, policy=[], requests=[]))
    S, R = wl.AbacSubject, wl.AbacResource
    alice = S("alice", "eng", 3, False)
    low = S("lou", "eng", 1, False)
    sam = S("sam", "eng", 5, True)
    doc = R("d1", "carol", "eng", 2)
    hr = R("d2", "lou", "hr", 5)
    assert e.enforce(alice, doc, "read")  # same department, clearance 3 >= 2
    assert e.enforce(alice, doc, "write")
    assert not e.enforce(alice, doc, "delete")  # only read/write by department
    assert not e.enforce(low, doc, "read")  # clearance 1 < 2
    assert e.enforce(low, hr, "delete")  # owner may do anything
    assert not e.enforce(alice, hr, "read")  # other department
    assert not e.enforce(sam, doc, "read")  # suspended


def test_same_output_under_any_hash_seed() -> None:
    """No output depends on set iteration order (string hashing is randomised per process)."""
    import hashlib
    import os
    import subprocess

    code = (
        "import sys, hashlib; sys.path.insert(0, sys.argv[1]); import workloads as w\n"
        "h = hashlib.sha256()\n"
        "for name, kw in eval(sys.argv[2]).items():\n"
        "    x = w.GENERATORS[name](**kw)\n"
        "    h.update(x.rules.encode() + repr((x.requests, x.expected)).encode())\n"
        "print(h.hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code, str(BENCH), repr(SMALL)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert hashlib.sha256().hexdigest() not in digests
