"""Differential test of the engine against SWI-Prolog, the reference for tabled resolution.

Random programs (``differential.programs``, hypothesis) are written in Siamese's text
syntax and translated to Prolog (the translation of each built-in is in the docstring of
``tests/engine/differential.py``); every answer of several goals is computed by SWI-Prolog
(``:- table`` on the recursive predicates, one ``swipl`` process per program) and by
Siamese, compiled (``RuleEngine(compiled=True)``) and interpreted (``compiled=False``).
The answer sets must be equal. Ground calls are also asked the way a decision asks them
(``decide`` with the call's predicate as the allow rule, ``prove_or_why_not``, and the
compiled pass when it answers): proved iff SWI-Prolog lists the tuple. They are asked
twice, with cold tables (before any goal) and warm ones (after the goals), and the
decision's explanation (proof, rule ids, why-not, error) must be the same compiled and
interpreted. (The goals' answers come from the machine, which today runs clause bodies
interpreted either way; compiled bodies run in the decision passes, so the ground calls
are what holds them to SWI-Prolog's answers.)

Program shapes covered:
- facts over a small domain: strings (bare and quoted, ``"10"``, ``"true"``, ``"x y"``),
  integers, floats (``1.5``, and integral ones, ``2.0`` against ``2``), booleans, lists of
  mixed scalars, compound terms ``f(a, 1)``; a binary relation that often closes a cycle;
- rules with joins (shared variables, repeated variables in one call, constants, ``_``),
  left, right and middle recursion, recursion through two calls, mutual recursion (a group
  of two predicates), all over cyclic data;
- stratified negation (``not`` of lower predicates, with bound arguments; ``not`` of a
  comparison; ``not (G, ?x != c)``);
- disjunction ``(A ; B)``, with the variables bound in both branches used after it;
- comparisons ``== != < <= > >=`` across types (numbers, strings, lists, booleans);
- arithmetic ``is``, and ``==`` with an expression, over ``+ - * / // % abs min max``;
  recursion through arithmetic guarded (``?n < 4, ?n > -3`` before ``?m is ?n + 1``);
- ``in``: a bound value in a list of constants and bound variables, ``?z in [?z]`` (a
  bound item that is a bound variable), a bound value binding ``[?y]``/``[?y, ?y]``, a list
  value from the data, enumeration of a literal list into a new variable;
- heads that build lists and compound terms from bound variables (so a call with a
  repeated variable can meet ``p(?x, f(?x))``: the occurs check);
- head variables only the caller binds, read by a built-in (``p(?x, ?c) :- d(?x), ?c != b``):
  a call that leaves them free fails (``!=``) or binds them (``==``) in both systems, and a
  tabled call may not be widened past them (not ``<``, which raises: see the generator);
- goals: every predicate with all arguments free, with the first bound, with the last
  bound, with a repeated variable ``p(?a, ?a)``, with the middle bound; ground calls asked
  both as a query and as a decision;
- strings-only programs (40%), whose join clauses run as compiled bodies.

Seeds: the CI run is ``@seed(SEED)`` (20261202) with ``CI_EXAMPLES`` (500) programs; the
long run (``pytest -m swipl_long``, not in CI) takes ``SIAMESE_SWIPL_EXAMPLES`` programs
(default 5000) at ``SIAMESE_SWIPL_SEED`` (default: a random seed, which hypothesis prints on
failure). While the generator was written, seeds 1-8 (1,000-1,500 programs each) found
the occurs-check and the widened-call disagreements; then seed 101 passed 5,000 programs.
A random seed with 20,000 found only the raising comparison the generator now leaves out;
after that, another random seed passed 20,000 programs (16 minutes on a shared 2-core box).

Deliberate differences from SWI-Prolog's defaults, modelled in the translation:
- numbers compare by value: ``1 == 1.0`` and ``p(1)`` matches the fact ``p(1.0)`` (README
  "Numbers"); Prolog's ``1 = 1.0`` fails, so integral floats are written as integers there;
- unification has the occurs check (``?x == f(?x)`` fails): SWI runs with
  ``occurs_check=true``;
- ``true``/``false`` are not strings: written ``'$bool'(true)`` in Prolog.

Every disagreement found is kept below as an explicit example.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from siamese import RuleEngine

from .differential import (
    Program,
    programs,
    prolog_text,
    siamese_answers,
    siamese_text,
    swipl_answers,
)

SEED = 20261202
CI_EXAMPLES = 500

needs_swipl = pytest.mark.skipif(shutil.which("swipl") is None,
                                 reason="SWI-Prolog (swipl) is not installed")


def check_program(p: Program) -> int:
    """Compare the two systems on ``p``, and Siamese compiled with Siamese interpreted on the
    decisions' explanations; returns how many checks compiled passes answered alone."""
    expected = swipl_answers(p)
    compiled = siamese_answers(p, compiled=True)
    interpreted = siamese_answers(p, compiled=False)
    rules = prolog_text(p).split("emit_list_top(X) :-")[1]
    where = f"\n--- siamese\n{siamese_text(p)}--- prolog\n{rules}"
    for i, goal in enumerate(p.goals):
        want = _outcome(expected[i])
        assert _outcome(compiled.answers[i]) == want, f"compiled, goal {goal}{where}"
        assert _outcome(interpreted.answers[i]) == want, f"interpreted, goal {goal}{where}"
    for j, answer in enumerate(expected[len(p.goals):] * 2):  # cold tables, then warm
        name, args = p.checks[j % len(p.checks)]
        when = "cold" if j < len(p.checks) else "warm"
        proved = answer if isinstance(answer, str) else bool(answer)
        assert _outcome(compiled.checks[j]) == _outcome(proved), (
            f"decision pass, compiled, {when} tables, {name}{args}{where}")
        assert _outcome(interpreted.checks[j]) == _outcome(proved), (
            f"decision pass, interpreted, {when} tables, {name}{args}{where}")
        assert compiled.explanations[j] == interpreted.explanations[j], (
            f"decision explanation, {when} tables, {name}{args}: compiled\n"
            f"{compiled.explanations[j]}\ninterpreted\n{interpreted.explanations[j]}{where}")
    return compiled.at_once


def _outcome(answer: Any) -> Any:
    """An answer set, a decision's bool, or "error" (a comparison on an unbound variable
    raises in both systems; the messages differ)."""
    if isinstance(answer, str):
        assert answer.startswith("error"), answer
        return "error"
    return answer


def _run(examples: int, fixed_seed: int | None) -> int:
    counted = [0]

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def differential(p: Program) -> None:
        counted[0] += check_program(p)

    if fixed_seed is not None:
        differential = seed(fixed_seed)(differential)
    differential()
    return counted[0]


@needs_swipl
def test_random_programs_answer_as_swi_prolog_does() -> None:
    # the compiled passes answered some decisions alone, not only the interpreter
    assert _run(CI_EXAMPLES, SEED) > 0


@needs_swipl
@pytest.mark.swipl_long
def test_random_programs_answer_as_swi_prolog_does_long() -> None:
    fixed = os.environ.get("SIAMESE_SWIPL_SEED")
    _run(int(os.environ.get("SIAMESE_SWIPL_EXAMPLES", "5000")),
         int(fixed) if fixed is not None else None)


# --- the disagreements found, as examples (expected answers are SWI-Prolog's) ---------------

EXAMPLES: list[tuple[str, str, str, list[dict[str, Any]]]] = [
    # `in` with a bound value compared the list's items without dereferencing them: an item
    # that is a bound variable never matched (found by an outside differential run)
    ("member-bound-item", "b1(5, 1). d(?y, ?z) :- b1(?y, ?z), ?z in [?z].",
     "d(?y, ?z)", [{"?y": 5, "?z": 1}]),
    ("member-bound-item-among-constants",
     "b1(5, 1). d(?y) :- b1(?y, ?z), ?y in [a, ?z, ?y].", "d(?y)", [{"?y": 5}]),
    # the fail-open shape: a deny rule that never denied
    ("member-deny-rule", "blocked(mallory). deny(?u) :- blocked(?b), ?u in [?b].",
     "deny(mallory)", [{}]),
    # ... and an item that is an unbound variable was not bound by the value
    ("member-binds-item", "b1(5, 1). r(?y) :- b1(?x, _), ?x in [?y].", "r(?y)",
     [{"?y": 5}]),
    ("member-binds-item-strings", "e(a). r(?y) :- e(?x), ?x in [?y, ?y].", "r(?y)",
     [{"?y": "a"}]),
    # no occurs check: a call with a repeated variable met a head that builds a term from
    # it, made a cyclic term, and printing the answer (or a "why not") never ended
    # (RecursionError). SWI-Prolog with occurs_check=true: no answer.
    ("occurs-check-head", "r(?x, f(?x)). q(?y) :- r(?y, ?y).", "q(?y)", []),
    ("occurs-check-eq", "e(a). s(?y) :- e(_), ?y == [?y].", "s(?y)", []),
    # a tabled call with its first argument bound was evaluated with the others free (one
    # table for all of them), even when a clause reads those others in a built-in: the
    # wider call p(a, _) has no answer where p(a, c) has one, and q(a, _) raises
    ("abstract-call-neq", "d(a). p(?x, ?y) :- d(?x), ?y != b. p(?x, ?y) :- p(?y, ?x).",
     "p(a, c)", [{}]),
    ("abstract-call-unbound-compare",
     "d(a). q(?x, ?y) :- d(?x), ?y < 3. q(?x, ?y) :- q(?y, ?x).", "q(a, 1)", [{}]),
    # ... or passes it on to a predicate that reads it so (found by the random run)
    ("abstract-call-passed-on",
     "d(a). q(?y) :- ?y != b. p(?x, ?y) :- d(?x), q(?y). p(?x, ?y) :- p(?y, ?x).",
     "p(a, c)", [{}]),
]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "interpreted"])
@pytest.mark.parametrize(("text", "goal", "want"), [e[1:] for e in EXAMPLES],
                         ids=[e[0] for e in EXAMPLES])
def test_found_disagreements(text: str, goal: str, want: list[dict[str, Any]],
                             compiled: bool) -> None:
    e = RuleEngine(compiled=compiled)
    e.load_text(text, "example.rules")
    assert e.solve(goal) == want


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "interpreted"])
def test_occurs_check_in_a_decisions_why_not(compiled: bool) -> None:
    """The shape the generator found: a "why not" of a tabled call walked a cyclic term."""
    import asyncio

    e = RuleEngine(compiled=compiled)
    e.load_text(
        "d1(d).\n"
        "p0(?x1, f(?x2, ?x1)) :- d2(?x1, b, ?x2).\n"
        "p0(?x3, ?x4) :- p0(?x3, ?x3), ?x3 in [?x4, ?x4], d1(?x4).\n"
        "p0(?x6, ?x6) :- p0(?x5, ?x6).\n"
        "d2(z, z, z).\n", "example.rules")
    assert asyncio.run(e.prove("p0", "d", "d")) is None
    assert [w.rule for w in asyncio.run(e.why_not("p0", "d", "d"))]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "interpreted"])
def test_abstract_call_in_a_decision(compiled: bool) -> None:
    """The same through a decision's pass, where a compiled body calls the table."""
    import asyncio

    e = RuleEngine(compiled=compiled)
    e.load_text("d(a). user(a). user(b).\n"
                "p(?x, ?y) :- d(?x), ?y != b.\np(?x, ?y) :- p(?y, ?x).\n"
                "allow(?u) :- user(?u), p(?u, c).\n", "example.rules")
    assert asyncio.run(e.prove("allow", "a")) is not None
    assert asyncio.run(e.prove("allow", "b")) is None
    assert e.solve("allow(?u)") == [{"?u": "a"}]


# --- numbers compare by value (README "Numbers") ------------------------------------------

NUMBERS = """
n(1). n(2.5). n(3.0). n(true). n("1").
f(1.0). f(3). f(2.5).
same(?x) :- n(?x), f(?x).
eq_float(?x) :- n(?x), ?x == 1.0.
listed(?x) :- n(?x), ?x in [3, 2.50].
bool_one(?x) :- n(?x), ?x == 1, ?x == true.
"""


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "interpreted"])
def test_numbers_compare_by_value(compiled: bool) -> None:
    e = RuleEngine(compiled=compiled)
    e.load_text(NUMBERS, "numbers.rules")
    # 1 matches 1.0 and 3.0 matches 3 (answers show the value as the first goal found it)
    assert e.solve("same(?x)") == [{"?x": 1}, {"?x": 2.5}, {"?x": 3.0}]
    assert e.solve("eq_float(?x)") == [{"?x": 1}]
    assert e.solve("listed(?x)") == [{"?x": 2.5}, {"?x": 3.0}]
    assert e.solve("?a is 4 / 2, ?b is 3 / 2, ?c is 1.5 * 2, ?c == 3") == [
        {"?a": 2, "?b": 1.5, "?c": 3.0}]
    assert e.solve("1 < 1.5, 1 <= 1.0, 1.0 >= 1, 2 != 2.5") == [{}]
    assert e.solve("?q is -7 // 2, ?r is -7 % 2") == [{"?q": -4, "?r": 1}]
    assert e.solve('"a" < 1') == [] and e.solve("true > 0") == []
    # ... but true is not 1, and the string "1" is not the number 1
    assert e.solve("bool_one(?x)") == []
    assert e.solve('n(?x), ?x == "1", ?x != 1') == [{"?x": "1"}]
    assert e.solve("1 == true") == [] and e.solve('1 == "1"') == []
