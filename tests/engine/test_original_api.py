"""The original siamese-prototype engine's examples, through its API."""

from __future__ import annotations

import pytest

from siamese import RuleEngine, Unificator, Variable


def family() -> RuleEngine:
    e = RuleEngine()
    for parent, child in [
        ("alice", "bob"), ("alice", "charlie"), ("david", "bob"), ("david", "charlie"),
        ("bob", "emily"), ("bob", "frank"), ("bob", "grace"), ("charlie", "helen"),
        ("eve", "emily"), ("eve", "frank"),
    ]:
        e.add_fact("parent", parent, child)
    e.add_fact("spouse", "alice", "david")
    e.add_rule(("ancestor", "?A", "?D"), [("parent", "?A", "?D")])
    e.add_rule(("ancestor", "?A", "?D"), [("parent", "?A", "?X"), ("ancestor", "?X", "?D")])
    e.add_rule(("sibling", "?X", "?Y"),
               [("parent", "?P", "?X"), ("parent", "?P", "?Y"), ("neq", "?X", "?Y")])
    e.add_rule(("cousin", "?X", "?Y"),
               [("parent", "?PX", "?X"), ("parent", "?PY", "?Y"), ("sibling", "?PX", "?PY")])
    return e


async def test_family_parent_and_ancestor() -> None:
    e = family()
    children = [s["?Child"] async for s in e.query("parent", "alice", "?Child")]
    assert sorted(children) == ["bob", "charlie"]
    ancestors = sorted([s["?A"] async for s in e.query("ancestor", "?A", "grace")])
    assert ancestors == ["alice", "bob", "david"]


async def test_family_sibling_cousin_spouse() -> None:
    e = family()
    # emily and frank share both parents: one answer despite two proofs
    assert [s["?S"] async for s in e.query("sibling", "emily", "?S")] == ["frank", "grace"]
    assert await e.exists("cousin", "grace", "helen")
    assert not await e.exists("cousin", "grace", "frank")
    assert await e.query_one("spouse", "alice", "?S") == {"?S": "david"}
    assert await e.query_one("spouse", "bob", "?S") is None


def fib_engine(**kw: object) -> RuleEngine:
    e = RuleEngine(**kw)  # type: ignore[arg-type]
    e.add_fact("fib", 0, 0)
    e.add_fact("fib", 1, 1)
    e.add_rule(("fib_prev1", "?N", "?N1"), [("gt", "?N", 1), ("sub", "?N", 1, "?N1")])
    e.add_rule(("fib_prev2", "?N", "?N2"), [("gt", "?N", 1), ("sub", "?N", 2, "?N2")])
    e.add_rule(
        ("fib", "?N", "?F"),
        [("gt", "?N", 1), ("fib_prev1", "?N", "?N1"), ("fib_prev2", "?N", "?N2"),
         ("fib", "?N1", "?F1"), ("fib", "?N2", "?F2"), ("add", "?F1", "?F2", "?F")],
    )
    return e


@pytest.mark.parametrize("tabling", [True, False])
async def test_fibonacci(tabling: bool) -> None:
    e = fib_engine(tabling=tabling)
    assert await e.query_one("fib", 0, "?F") == {"?F": 0}
    assert await e.query_one("fib", 5, "?F") == {"?F": 5}
    assert await e.query_one("fib", 15, "?F") == {"?F": 610}


async def test_fibonacci_large_with_tabling() -> None:
    # tabling makes the doubly recursive definition linear
    assert await fib_engine().query_one("fib", 200, "?F") == {
        "?F": 280571172992510140037611932413038677189525
    }


async def test_original_style_async_builtin() -> None:
    async def double(goal, bindings):
        n = Unificator.substitute(goal.args[0], bindings)
        out = goal.args[1]
        if isinstance(out, Variable):
            new = Unificator.unify(out, n * 2, bindings)
            if new is not None:
                yield new

    e = RuleEngine(builtins={"double": double})
    e.add_fact("n", 1)
    e.add_fact("n", 2)
    e.add_rule(("doubled", "?X", "?Y"), [("n", "?X"), ("double", "?X", "?Y")])
    got = [(s["?X"], s["?Y"]) async for s in e.query("doubled", "?X", "?Y")]
    assert got == [(1, 2), (2, 4)]
    # an empty bindings dict is a success ("failure is not falsy")
    async def always(goal, bindings):
        yield {}

    e2 = RuleEngine(builtins={"always": always})
    e2.add_rule(("ok",), [("always",)])
    assert await e2.exists("ok")


async def test_ground_fact_query_with_no_new_bindings_succeeds() -> None:
    # the original tested `if new_bindings:` and so failed ground queries on facts
    e = RuleEngine()
    e.add_fact("role", "alice", "admin")
    assert await e.exists("role", "alice", "admin")
    assert not await e.exists("role", "alice", "guest")
