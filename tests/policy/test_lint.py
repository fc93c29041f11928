"""Each lint of `siamese check`, with a broken policy and the exact message and location."""

from __future__ import annotations

from pathlib import Path

import pytest

from siamese.engine import Program, finish
from siamese.engine.errors import PolicySyntaxError
from siamese.engine.syntax import parse_source
from siamese.policy.lint import lint
from siamese.policy.loader import load_policy_set


def findings(text: str) -> list[str]:
    program = Program()
    program.add_items(parse_source(text, "p.rules"))
    finish(program)
    return [str(f) for f in lint(program)]


def test_arity_mismatch() -> None:
    assert findings("role(a, admin).\nrole(b, admin).\nok(?u) :- role(?u, admin, x).\n") == [
        "p.rules:3:11: error: 'role' is used with 2 and 3 arguments (here 3, elsewhere 2) [arity]"
    ]


def test_builtin_called_with_the_wrong_arity() -> None:
    # refused when the clause is compiled, so it is a load error (and check reports it)
    with pytest.raises(PolicySyntaxError) as err:
        findings("n(1).\nok(?x) :- n(?x), startswith(?x).\n")
    assert str(err.value).startswith(
        "p.rules:2:18: built-in 'startswith' takes 2 arguments, not 1")


def test_unsafe_variable_in_not() -> None:
    assert findings("u(a). s(a, b).\nok(?x) :- u(?x), not s(?x, ?y).\n") == [
        "p.rules:2:1: warning: singleton variable ?y: it is used once (write _ if it does not "
        "matter) [singleton]",
        "p.rules:2:18: error: unsafe variable ?y in 'not': bind it in an earlier goal "
        "(or write _ for 'any') [unsafe-negation]"
    ]
    assert findings("u(a). s(a, b).\nok(?x) :- u(?x), not s(?x, _).\n") == []


def test_unsafe_variable_in_a_comparison() -> None:
    assert findings("n(1).\nok(?x) :- ?y > 1, n(?x), n(?y).\n") == [
        "p.rules:2:11: error: unsafe variable ?y in comparison 'gt': bind it in an earlier goal "
        "[unsafe-variable]"
    ]


def test_undefined_predicate() -> None:
    assert findings("u(a).\nok(?x) :- u(?x), admn(?x).\n") == [
        "p.rules:2:18: warning: 'admn/1' is not defined by any fact or rule: the goal always "
        "fails [undefined]"
    ]


def test_singleton_variable() -> None:
    assert findings("u(a, b).\nok(?x) :- u(?x, ?unused).\n") == [
        "p.rules:2:1: warning: singleton variable ?unused: it is used once (write _ if it does "
        "not matter) [singleton]"
    ]


def test_rule_that_can_never_fire() -> None:
    text = "role(alice, admin).\nok(?u) :- role(?u, superadmin).\nok2(?u) :- ok(?u).\n"
    assert findings(text) == [
        "p.rules:2:11: warning: rule p.rules:2 can never fire: no fact matches it: "
        "role(?u, superadmin) [never-fires]",
        "p.rules:3:12: warning: rule p.rules:3 can never fire: nothing can prove it: ok(?u) "
        "[never-fires]",
    ]


def test_duplicate_ids() -> None:
    text = '@id("r1")\nok(?u) :- u(?u).\n@id("r1")\nok2(?u) :- u(?u).\nu(a).\n'
    assert findings(text) == [
        'p.rules:4:1: error: duplicate @id("r1"): also at p.rules:2 [duplicate-id]'
    ]


def test_a_pattern_evaluation_would_refuse_is_an_error() -> None:
    text = (
        'ok(?s) :- input("s", ?s), regex("a{1000000000}", ?s).\n'
        'ok(?s) :- input("s", ?s), regex("(a", ?s).\n'
        'ok(?s) :- input("s", ?s), glob("' + "*" * 1001 + '", ?s).\n'
        'ok(?s) :- input("s", ?s), regex("^v[0-9]{1,3}$", ?s), glob("*.com", ?s).\n'
    )
    assert findings(text) == [
        "p.rules:1:27: error: regex: pattern 'a{1000000000}' too large: more than 10000 "
        "items with its repeats expanded [pattern]",
        "p.rules:2:27: error: regex: invalid pattern '(a': missing ) at position 2 [pattern]",
        "p.rules:3:27: error: glob: pattern longer than 1000 characters [pattern]",
    ]


def test_errors_block_a_policy_set_from_serving(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text("u(a). s(a, b).\nok(?x) :- u(?x), not s(?x, ?y).\n")
    with pytest.raises(Exception, match=r"a.rules:2:18: unsafe variable \?y in 'not'"):
        load_policy_set(tmp_path)


def test_the_shipped_policies_are_clean() -> None:
    ps = load_policy_set(Path(__file__).parents[2] / "policies")
    assert lint(ps.program) == []
