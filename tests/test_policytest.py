"""The policy test runner: results, isolation of extra facts, coverage of the shipped rules,
and the reload gate of SIAMESE_RELOAD_REQUIRE_TESTS."""

from __future__ import annotations

from pathlib import Path

from siamese.policy.loader import load_policy_set
from siamese.policy.store import PolicyStore
from siamese.policytest import gate, run_tests

POLICIES = Path(__file__).parents[1] / "policies"


async def test_extra_facts_stay_with_their_test(tmp_path: Path) -> None:
    (tmp_path / "p.rules").write_text("allow(?u, read, doc) :- user(?u).\nuser(alice).\n"
                                      "deny(?u, ?a, ?r) :- banned(?u).\nbanned(nobody).\n")
    (tmp_path / "p.test.yaml").write_text(
        "tests:\n"
        "  - name: banned\n    request: {subject: alice, action: read, resource: doc}\n"
        "    facts: 'banned(alice).'\n    expect: deny\n"
        "  - name: not banned\n    request: {subject: alice, action: read, resource: doc}\n"
        "    expect: allow\n"
        "  - name: wrong on purpose\n    request: {subject: bob, action: read, resource: doc}\n"
        "    expect: allow\n"
    )
    results = await run_tests(load_policy_set(tmp_path))
    assert [r.passed for r in results] == [True, True, False]
    assert results[2].message == "expected allow, got deny (no rule allows bob to read doc)"
    assert results[2].case.where == "p.test.yaml:9"


async def test_every_rule_of_the_shipped_policies_is_tested() -> None:
    ps = load_policy_set(POLICIES)
    results = await run_tests(ps)
    assert all(r.passed for r in results)
    decided = {r.outcome.rule_ids[0] for r in results if r.outcome and r.outcome.rule_ids}
    ids = {c.id for c in ps.program.items if c.id}
    assert ids == decided


def test_bad_test_files_are_reported_with_a_location(tmp_path: Path) -> None:
    (tmp_path / "p.rules").write_text("user(a).\n")
    (tmp_path / "p.test.yaml").write_text("tests:\n  - name: x\n    expect: allow\n")
    assert gate(load_policy_set(tmp_path)) == (
        "p.test.yaml:2: a test names either a request or a goal"
    )


async def test_the_reload_gate_refuses_a_set_whose_tests_fail(tmp_path: Path) -> None:
    (tmp_path / "p.rules").write_text("allow(alice, read, doc).\n")
    (tmp_path / "p.test.yaml").write_text(
        "tests:\n  - request: {subject: alice, action: read, resource: doc}\n    expect: allow\n")
    store = PolicyStore(tmp_path, gate=gate)
    assert store.load_sync().ok
    good = store.revision
    (tmp_path / "p.rules").write_text("allow(bob, read, doc).\n")
    result = await store.reload()
    assert not result.ok and store.revision == good
    assert "1 of 1 tests failed; first: p.test.yaml:2" in (store.last_error or "")
