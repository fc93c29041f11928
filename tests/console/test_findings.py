"""Findings on edited text (console/findings.py): check's every error and warning, syntax
errors as findings, build errors parsed to their place, and the offending lines."""

from __future__ import annotations

import asyncio

from siamese.console.findings import check, from_build_errors, located
from siamese.console.sources import build
from siamese.policy.loader import PolicyFile
from tests.console.run_async import complete


def files(**texts: str) -> list[PolicyFile]:
    return [PolicyFile(name.replace("_", "."), "rules", text.encode())
            for name, text in texts.items()]


def checked(fs: list[PolicyFile]) -> list[tuple[str, int, int, str, str]]:
    found = complete(check(fs, None, asyncio.Semaphore(1)))
    return [(f.path, f.line, f.col, f.severity, f.code) for f in found]


def test_check_lists_errors_and_warnings_together() -> None:
    found = checked(files(a_rules="allow(?u, read, ?d) :- doc(?d), not owner(?d, ?x).\n"
                                  "doc(d).\nowner(d, ann).\n"))
    assert ("a.rules", 1, 1, "warning", "singleton") in found
    assert [f for f in found if f[3] == "error"] == [("a.rules", 1, 33, "error",
                                                      "unsafe-negation")]


def test_syntax_errors_of_every_file_are_findings() -> None:
    found = checked(files(a_rules="ok(1).\nbad(.\n",
                                b_rules="allow(?u, read, ?d) :- x(?d ?u).\n"))
    assert [(f[0], f[1], f[3], f[4]) for f in found] == [
        ("a.rules", 2, "error", "syntax"), ("b.rules", 1, "error", "syntax")]


def test_a_file_that_is_not_utf8_is_a_finding() -> None:
    found = checked([PolicyFile("a.rules", "rules", b"ok(\xff).\n")])
    assert found == [("a.rules", 1, 1, "error", "syntax")]


def test_build_errors_point_at_their_file_even_with_a_colon_in_its_name() -> None:
    fs = files(**{"x:1_rules": "ok.\n\nbad(.\n"})
    built = complete(build(fs, [], None, asyncio.Semaphore(1)))
    [finding] = from_build_errors(built.errors, frozenset({"x:1.rules"}))
    assert (finding.path, finding.line, finding.col) == ("x:1.rules", 3, 5)
    assert "\n" not in finding.message
    [item] = located([finding], {"x:1.rules": "ok.\n\nbad(.\n"})
    assert item.source_line == "bad(."
    assert item.where == "x:1.rules:3:5"


def test_an_error_of_no_place_is_shown_without_a_line() -> None:
    [finding] = from_build_errors(["something went wrong"], frozenset())
    assert (finding.path, finding.line, finding.code) == ("<playground>", 0, "load")
    [item] = located([finding], {})
    assert item.source_line is None and item.where == "<playground>"
