"""Terms built by rules are bounded (security review, finding 5): a rule that shares its
subterms, ``h(?x, f(?x, ?x))`` called n times, builds in n steps a term whose tree has 2^n
leaves. Every walk that keys, copies, resolves or prints a term counts its nodes and stops
at ``Limits.max_term_nodes``; the occurs check visits each shared node once."""

from __future__ import annotations

import pytest

from siamese import LimitExceeded, RuleEngine
from siamese.engine.limits import Limits
from siamese.engine.tables import variant_key
from siamese.engine.terms import (
    MAX_TERM_NODES,
    Struct,
    Var,
    copy_term,
    format_term,
    is_ground,
    resolve,
    to_json,
    unify,
)

DOUBLING = """
g(0, ?x, ?x).
g(?n, ?x, ?y) :- ?n > 0, ?m is ?n - 1, h(?x, ?z), g(?m, ?z, ?y).
h(?x, f(?x, ?x)).
gg(?n, ?y) :- g(?n, a, ?y).
"""


def engine(text: str, **limits: int) -> RuleEngine:
    e = RuleEngine(timeout_ms=None)
    if limits:
        e.limits = Limits(**{**e.limits.__dict__, **limits})
    e.load_text(text, "t.rules")
    return e


def dag(n: int, leaf: object = "a") -> object:
    """f(f(...), f(...)) n levels deep, each level one node shared twice: 2^n leaves."""
    t = leaf
    for _ in range(n):
        t = Struct("f", (t, t))
    return t


@pytest.mark.parametrize("n", [20, 40])
def test_a_term_doubling_at_each_step_ends_at_the_bound(n: int) -> None:
    with pytest.raises(LimitExceeded) as err:
        engine(DOUBLING).solve(f"gg({n}, ?y), ?y == b")
    assert err.value.limit == "max_term_nodes"


def test_the_bound_is_a_limit_of_the_query() -> None:
    e = engine(DOUBLING, max_term_nodes=1000)
    assert e.solve("gg(4, ?y)")  # 31 nodes
    with pytest.raises(LimitExceeded) as err:
        e.solve("gg(12, ?y)")
    assert err.value.limit == "max_term_nodes"


@pytest.mark.parametrize(
    "walk",
    [
        resolve,
        is_ground,
        to_json,
        format_term,
        lambda t: copy_term(t, {}),
        lambda t: variant_key((t,)),
    ],
    ids=["resolve", "is_ground", "to_json", "format_term", "copy_term", "variant_key"],
)
def test_every_walk_of_a_shared_term_stops_at_the_bound(walk: object) -> None:
    x = Var("x")
    trail: list[Var] = []
    assert unify(x, dag(60), trail)  # through a variable: walks dereference
    with pytest.raises(LimitExceeded) as err:
        walk(Struct("p", (x,)))  # type: ignore[operator]
    assert err.value.limit == "max_term_nodes"


def test_a_large_flat_list_fits_the_bound() -> None:
    """A request's JSON list (the body is at most 1 MB: at most about 500,000 values) is
    walked whole: its atoms count one each."""
    big = tuple(range(500_000))
    assert resolve(big) is big
    assert copy_term(big, {}) is big
    assert len(variant_key((big,))[0]) == len(big)
    assert MAX_TERM_NODES >= 500_010


async def test_a_list_from_input_goes_through_a_tabled_call() -> None:
    e = engine("""
    has(?l, ?x) :- ?x in ?l.
    has(?l, ?x) :- ?l == [], has(?l, ?x).
    """)
    items = [f"i{i}" for i in range(100_000)]
    found = [s async for s in e.query_text('input("items", ?l), has(?l, i99999)',
                                            input={"items": items})]
    assert len(found) == 1


def test_the_occurs_check_visits_a_shared_node_once() -> None:
    """?x = f(?x)-like bindings fail; on a term of 2^60 leaves the check still ends (it
    walked the tree before: exponential)."""
    x = Var("x")
    trail: list[Var] = []
    assert not unify(x, Struct("g", (dag(60), x)), trail)
    assert unify(x, dag(60), trail)  # no x inside: bound
    y = Var("y")
    assert not unify(y, dag(60, y), [])


def test_two_shared_terms_unify_and_compare_pair_by_pair() -> None:
    """Two terms built apart by the same doubling rule: each pair of subterms is unified
    (compared) once, so this ends although each tree has 2^60 leaves."""
    trail: list[Var] = []
    assert unify(dag(60), dag(60), trail)
    assert not unify(dag(60), dag(60, "b"), trail)
    x = Var("x")
    assert unify(dag(60, x), dag(60, "b"), trail)
    assert x.ref == "b"
    assert dag(60) == dag(60)
    assert dag(60) != dag(60, "b")


def test_a_rule_comparing_two_built_terms_ends() -> None:
    n = 40
    xs = ", ".join(f"d(?x{i}, ?x{i + 1})" for i in range(n))
    ys = ", ".join(f"d(?y{i}, ?y{i + 1})" for i in range(n))
    e = engine(f"d(?x, f(?x, ?x)).\n"
               f"p(?r) :- a == ?x0, a == ?y0, {xs}, {ys}, ?x{n} == ?y{n}, ?r == yes.\n")
    assert e.solve("p(?r)") == [{"?r": "yes"}]


def test_arithmetic_on_a_shared_expression_computes_each_node_once() -> None:
    n = 40
    xs = ", ".join(f"d(?x{i}, ?x{i + 1})" for i in range(n))
    e = engine(f"d(?x, '+'(?x, ?x)).\np(?v) :- 1 == ?x0, {xs}, ?v is ?x{n}.\n")
    assert e.solve("p(?v)") == [{"?v": 2**n}]
