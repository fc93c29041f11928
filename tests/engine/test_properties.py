"""Properties (hypothesis) and fuzzing of the engine: the printer and the parser agree;
decisions do not depend on the order of facts; tabled and plain resolution agree on acyclic
data; the parsers raise only clean errors, quickly, on any input."""

from __future__ import annotations

import contextlib
import random
import string
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese import RuleEngine
from siamese.engine.ast import Clause, FactBlock, Goal, Not, Or
from siamese.engine.errors import PolicyErrors, PolicySyntaxError
from siamese.engine.terms import Struct, Var
from siamese.engine.textformat import format_clause
from siamese.engine.textsyntax import parse_program
from siamese.engine.yamlsyntax import parse_json_facts, parse_yaml

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# --- terms and clauses ------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in {"not", "in", "is", "true", "false"})
atoms = st.one_of(
    names,
    st.text(alphabet=string.printable, max_size=8),
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
)
VARS = [Var(f"?v{i}") for i in range(4)]


def terms(with_vars: bool) -> st.SearchStrategy[Any]:
    leaf = st.one_of(atoms, st.sampled_from(VARS)) if with_vars else atoms
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(tuple),
            st.builds(lambda n, a: Struct(n, tuple(a)), names, st.lists(inner, min_size=1,
                                                                          max_size=3)),
        ),
        max_leaves=6,
    )


goals = st.builds(lambda n, a: Goal(Struct(n, tuple(a))), names,
                  st.lists(terms(True), max_size=3))
body_items = st.recursive(
    goals,
    lambda inner: st.one_of(
        st.builds(lambda b: Not(tuple(b)), st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda bs: Or(tuple(tuple(b) for b in bs)),
                  st.lists(st.lists(inner, min_size=1, max_size=2), min_size=2, max_size=3)),
    ),
    max_leaves=4,
)
rules = st.builds(
    lambda n, a, body, ident: Clause(Struct(n, tuple(a)), tuple(body), id=ident),
    names, st.lists(terms(True), max_size=3), st.lists(body_items, min_size=1, max_size=3),
    st.one_of(st.none(), st.text(alphabet=string.ascii_letters + "-_ ", min_size=1,
                                 max_size=10)),
)


def canon(x: Any) -> Any:
    """A comparable form: variables by name, floats exact, structure kept."""
    if isinstance(x, Var):
        return ("var", x.name)
    if isinstance(x, Struct):
        return ("struct", x.name, tuple(canon(a) for a in x.args))
    if isinstance(x, tuple):
        return ("list", tuple(canon(a) for a in x))
    if isinstance(x, Goal):
        return ("goal", canon(x.term))
    if isinstance(x, Not):
        return ("not", tuple(canon(b) for b in x.body))
    if isinstance(x, Or):
        return ("or", tuple(tuple(canon(b) for b in br) for br in x.branches))
    return (type(x).__name__, x)


def clause_canon(c: Clause) -> Any:
    return (canon(c.head), tuple(canon(b) for b in c.body), c.id)


@FAST
@given(rules)
def test_the_parser_reads_back_what_the_printer_writes(clause: Clause) -> None:
    text = format_clause(clause)
    items = parse_program(text, "t.rules")
    assert len(items) == 1 and isinstance(items[0], Clause), text
    assert clause_canon(items[0]) == clause_canon(clause), text


@FAST
@given(st.lists(st.tuples(names, st.lists(terms(False), min_size=1, max_size=3)), min_size=1,
                max_size=8))
def test_ground_facts_round_trip(facts: list[tuple[str, list[Any]]]) -> None:
    clauses = [Clause(Struct(n, tuple(a))) for n, a in facts]
    text = "\n".join(format_clause(c) for c in clauses)
    rows: list[tuple[str, tuple[Any, ...]]] = []
    for item in parse_program(text, "t.rules"):
        assert isinstance(item, FactBlock)
        rows.extend((item.name, row) for row in item.rows)
    want = [(c.head.name, c.head.args) for c in clauses]
    assert sorted(map(repr, map(canon, rows))) == sorted(map(repr, map(canon, want)))


# --- decisions do not depend on the order of facts -----------------------------------------

POLICY = """
allow(?u, ?a, ?r) :- has_role(?u, ?role), includes(?role, ?sub), grant(?sub, ?a, ?t),
                     type_of(?r, ?t).
deny(?u, ?a, ?r) :- blocked(?u), not exempt(?u, ?r).
includes(?r, ?r) :- role(?r).
includes(?r, ?s) :- inherits(?r, ?m), includes(?m, ?s).
"""


@FAST
@given(st.integers(0, 2**32), st.randoms(use_true_random=False))
def test_decisions_do_not_depend_on_fact_order(seed: int, shuffler: random.Random) -> None:
    rng = random.Random(seed)
    roles = [f"r{i}" for i in range(5)]
    facts = [f"role({r})." for r in roles]
    facts += [f"inherits({rng.choice(roles)}, {rng.choice(roles)})." for _ in range(5)]
    facts += [f"has_role(u{i}, {rng.choice(roles)})." for i in range(6)]
    facts += [f"grant({rng.choice(roles)}, {rng.choice(['read', 'write'])}, t{rng.randrange(3)})."
              for _ in range(6)]
    facts += [f"type_of(d{i}, t{rng.randrange(3)})." for i in range(6)]
    facts += [f"blocked(u{rng.randrange(6)}).",
              f"exempt(u{rng.randrange(6)}, d{rng.randrange(6)})."]
    shuffled = list(facts)
    shuffler.shuffle(shuffled)
    a, b = RuleEngine(), RuleEngine()
    a.load_text(POLICY + "\n".join(facts), "p.rules")
    b.load_text("\n".join(shuffled) + POLICY, "p.rules")
    for u in range(6):
        for act in ("read", "write"):
            for d in range(6):
                args = (f"u{u}", act, f"d{d}")
                da = a.ask("allow", *args) and not a.ask("deny", *args)
                db = b.ask("allow", *args) and not b.ask("deny", *args)
                assert da == db


# --- tabled and plain resolution agree on acyclic data ---------------------------------------

@FAST
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=25))
def test_tabled_and_plain_resolution_agree_on_acyclic_data(pairs: list[tuple[int, int]]) -> None:
    edges = {(min(a, b), max(a, b)) for a, b in pairs if a != b}  # a < b: acyclic
    text = "".join(f"edge(n{a}, n{b}).\n" for a, b in sorted(edges))
    text += "reach(?x, ?y) :- edge(?x, ?y).\nreach(?x, ?y) :- edge(?x, ?z), reach(?z, ?y).\n"
    text += "node(n0).\n"
    tabled, plain = RuleEngine(tabling=True), RuleEngine(tabling=False)
    tabled.load_text(text, "g.rules")
    plain.load_text(text, "g.rules")
    for q in ("reach(n0, ?y)", "reach(?x, n9)", "reach(?x, ?y)"):
        key = lambda s: sorted(s.items())  # noqa: E731
        assert sorted(tabled.solve(q), key=key) == sorted(plain.solve(q), key=key)


# --- fuzzing the parsers: clean errors only, quickly -----------------------------------------

SEEDS = [
    'allow(?u, read, ?d) :- owner(?d, ?u), not banned(?u), ?n is 1 + 2 * 3.\n',
    '@id("x")\nrole("alice", admin). team(bob, [red, blue]).\n',
    'p(?x) :- (q(?x) ; r(?x), s(?x)), ?x in [1, 2.5, -3], "quoted \\" str"(?x).\n',
]
CLEAN = (PolicySyntaxError, PolicyErrors)


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(4)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rng.choice('()[],.;:-?_"\'\\@%#\n !=<>+*/0123456789az'))
        elif op == 2 and chars:
            i = min(pos, len(chars) - 1)
            chars[i] = rng.choice(string.printable)
        else:
            chars[pos:pos] = list(rng.choice(SEEDS))
    return "".join(chars)


def _parse_all(text: str) -> None:
    with contextlib.suppress(*CLEAN):
        parse_program(text, "fuzz.rules")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_clean_errors(text: str) -> None:
    _parse_all(text)


def test_mutated_policies_give_clean_errors_quickly() -> None:
    rng = random.Random(1234)
    started = time.perf_counter()
    for _ in range(3000):
        text = _mutate(rng, rng.choice(SEEDS))
        t0 = time.perf_counter()
        _parse_all(text)
        assert time.perf_counter() - t0 < 1.0, text  # never a hang
    assert time.perf_counter() - started < 60


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_yaml_and_json_give_clean_errors(text: str) -> None:
    for parse in (parse_yaml, parse_json_facts):
        with contextlib.suppress(*CLEAN):
            parse(text, "fuzz")


def test_deeply_nested_input_is_a_clean_error() -> None:
    deep = 10_000
    cases = [
        (parse_program, "p(" + "[" * deep + "]" * deep + ")."),
        (parse_program, "p(" + "f(" * deep + "a" + ")" * (deep + 1) + "."),
        (parse_program, "p(?x) :- ?x is " + "(" * deep + "1" + ")" * deep + "."),
        (parse_program, "p :- " + "not " * deep + "q."),
        (parse_yaml, "facts:\n  - [p, " + "[" * deep + "]" * deep + "]\n"),
        (parse_json_facts, '{"facts": [["p", ' + "[" * deep + "]" * deep + "]]}"),
    ]
    for parse, text in cases:
        try:
            parse(text, "deep")
        except CLEAN as e:
            assert "nest" in str(e)
        else:  # pragma: no cover
            raise AssertionError("deep nesting was accepted")


@given(st.text(max_size=6))
def test_an_atom_prints_bare_exactly_when_it_reads_back_bare(s: str) -> None:
    import re

    from siamese.engine.terms import _atom_text

    bare = re.fullmatch(r"[a-z][A-Za-z0-9_]*", s) is not None and s not in {
        "true", "false", "not", "in", "is"}
    assert (_atom_text(s) == s) == bare
