"""Test runs of edited text (console/testrun.py): results in file order, files that cannot
be read named, and a run bounded by a count of tests and by a deadline, saying so."""

from __future__ import annotations

import itertools
import json

from siamese.console.testrun import MAX_EXPANDED, expanded_size, run
from siamese.engine import Limits
from siamese.policy.loader import PolicyFile, PolicySet, policy_set_from
from tests.console.run_async import complete

POLICY = "allow(?u, read, ?r) :- reader(?u).\nreader(ann).\n"
LOOP = "nat(0).\nnat(?n) :- nat(?m), ?n is ?m + 1.\nallow(?u, count, ?r) :- nat(?n), ?n < 0.\n"


def suite(*expectations: tuple[str, str]) -> str:
    out = ["tests:"]
    for subject, expect in expectations:
        out += [f"  - name: {subject} reads",
                f"    request: {{subject: {subject}, action: read, resource: doc}}",
                f"    expect: {expect}"]
    return "\n".join(out) + "\n"


def policy(test_files: dict[str, str], text: str = POLICY) -> PolicySet:
    files = [PolicyFile("p.rules", "rules", text.encode())]
    return policy_set_from("<test>", files, [PolicyFile(name, "test", data.encode())
                                              for name, data in test_files.items()])


def test_every_test_runs_in_file_order_with_its_location() -> None:
    ps = policy({"a.test.yaml": suite(("ann", "allow"), ("bob", "allow")),
                 "b.test.yaml": suite(("bob", "deny"))})
    report = complete(run(ps, Limits()))
    assert [(r.case.where, r.passed) for r in report.results] == [
        ("a.test.yaml:2", True), ("a.test.yaml:5", False), ("b.test.yaml:2", True)]
    assert (report.passed, report.failed) == (2, 1)
    assert report.stopped is None and report.not_run == [] and report.problems == []
    assert "expected allow, got deny" in report.results[1].message


def test_files_that_cannot_be_read_are_named_and_the_others_run() -> None:
    ps = policy({"a.test.yaml": "tests: [unclosed\n", "b.test.yaml": suite(("ann", "allow"))})
    ps.test_sources = (*ps.test_sources, PolicyFile("c.test.yaml", "test", b"\xff\xfe"))
    report = complete(run(ps, Limits()))
    assert [r.case.where for r in report.results] == ["b.test.yaml:2"]
    assert report.problems[0].startswith("a.test.yaml:") and "invalid YAML" in report.problems[0]
    assert report.problems[1].startswith("c.test.yaml:1: not UTF-8 text")


def test_a_run_holds_at_most_max_tests() -> None:
    ps = policy({"a.test.yaml": suite(("ann", "allow"), ("ann", "allow")),
                 "b.test.yaml": suite(("ann", "allow"), ("ann", "allow")),
                 "c.test.yaml": suite(("ann", "allow"))})
    report = complete(run(ps, Limits(), max_tests=3))
    assert len(report.results) == 2
    assert report.not_run == [("b.test.yaml", 2), ("c.test.yaml", 1)]
    assert report.stopped == "a run holds at most 3 tests"


def test_a_run_past_its_deadline_starts_no_more_files() -> None:
    ps = policy({"a.test.yaml": suite(("ann", "allow")), "b.test.yaml": suite(("ann", "allow"))})
    ticks = itertools.chain([0.0, 0.0], itertools.repeat(31.0))  # the clock jumps
    report = complete(run(ps, Limits(), max_seconds=30, clock=lambda: next(ticks)))
    assert [r.case.file for r in report.results] == ["a.test.yaml"]
    assert report.not_run == [("b.test.yaml", 1)]
    assert report.stopped == "a run stops after 30 seconds"


def test_the_deadline_stops_a_test_that_runs_on() -> None:
    looping = ("tests:\n  - name: counts\n    request: {subject: a, action: count, resource: b}\n"
               "    expect: allow\n")
    ps = policy({"a.test.yaml": looping, "b.test.yaml": suite(("ann", "allow"))}, POLICY + LOOP)
    # the engine would let the test run 60 s; the run's deadline ends it first
    report = complete(run(ps, Limits(timeout_ms=60_000, max_solutions=10**9,
                                        max_steps=10**12), max_seconds=0.2))
    assert report.results == []
    assert report.not_run == [("a.test.yaml", 1), ("b.test.yaml", 1)]
    assert report.stopped == "a run stops after 0.2 seconds"


def test_each_test_is_bounded_by_the_engine_limits() -> None:
    looping = ("tests:\n  - name: counts\n    request: {subject: a, action: count, resource: b}\n"
               "    expect: allow\n")
    ps = policy({"a.test.yaml": looping}, POLICY + LOOP)
    report = complete(run(ps, Limits(timeout_ms=100)))
    [result] = report.results
    assert not result.passed and "limit exceeded" in result.message


def laughs(levels: int) -> str:
    """A test file whose facts are aliases of aliases: 10**levels copies of a short text."""
    lines = ["l0: &l0 " + json.dumps(["haha"] * 10)]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
              for i in range(1, levels)]
    return "\n".join(lines) + f"\ntests:\n  - goal: p(1)\n    facts: *l{levels - 1}\n" \
        "    expect: true\n"


def test_aliases_are_counted_without_being_expanded() -> None:
    assert expanded_size(laughs(3)) < 20_000
    assert expanded_size(laughs(9)) == MAX_EXPANDED + 1  # 10**9 copies: never made
    assert expanded_size("a: &a [*a]\n") == MAX_EXPANDED + 1
    assert expanded_size("tests: [unclosed\n") == 0


def test_a_file_of_aliases_of_aliases_is_refused_and_not_expanded() -> None:
    ps = policy({"a.test.yaml": laughs(9), "b.test.yaml": suite(("ann", "allow"))})
    report = complete(run(ps, Limits()))
    assert report.problems == ["a.test.yaml:1: its aliases expand to more than "
                               f"{MAX_EXPANDED:,} values and characters"]
    assert [r.case.file for r in report.results] == ["b.test.yaml"]


def test_a_test_field_of_an_odd_type_is_reported_not_raised() -> None:
    ps = policy({"a.test.yaml": "tests:\n  - goal: 123\n    expect: true\n",
                 "b.test.yaml": suite(("ann", "allow"))})
    report = complete(run(ps, Limits()))
    assert report.problems[0].startswith("a.test.yaml: its tests cannot run: AttributeError")
    assert [r.case.file for r in report.results] == ["b.test.yaml"]
