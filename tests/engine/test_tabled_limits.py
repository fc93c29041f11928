"""The limits hold inside a table's fixpoint as in the SLD loop: the step budget, the
clock and the event loop's turn; and a table cut off by a limit is never kept as complete
(request-independent tables are shared by the next queries of the policy set)."""

from __future__ import annotations

import asyncio

import pytest

from siamese import LimitExceeded, RuleEngine
from siamese.engine import Limits, Query


def chain(n: int) -> str:
    """n edges n0 -> n1 -> ... -> n<n>, with the right-recursive step the README shows:
    each answer of path(nK, _) is resumed into the consumers of every table before it,
    so the fixpoint works mostly by resuming consumers (which call nothing)."""
    return "".join(f"edge(n{i}, n{i + 1}).\n" for i in range(n)) + (
        "path(?x, ?y) :- edge(?x, ?z), path(?z, ?y).\n"
        "path(?x, ?y) :- edge(?x, ?y).\n"
    )


def engine(text: str, **kw: object) -> RuleEngine:
    e = RuleEngine(**kw)  # type: ignore[arg-type]
    e.load_text(text, "chain.rules")
    return e


@pytest.mark.parametrize("n", [1000, 2000])
def test_the_step_budget_holds_inside_the_fixpoint(n: int) -> None:
    e = engine(chain(n), max_steps=50_000, timeout_ms=None)
    with pytest.raises(LimitExceeded) as err:
        e.solve(f"path(?x, n{n})")
    assert err.value.limit == "max_steps"


@pytest.mark.parametrize("n", [1000, 2000])
def test_the_timeout_holds_inside_the_fixpoint(n: int) -> None:
    readings = 0

    def clock() -> float:
        nonlocal readings
        readings += 1
        return readings / 1000  # each reading a millisecond later

    e = engine(chain(n), max_steps=10**9, timeout_ms=100, clock=clock)
    with pytest.raises(LimitExceeded) as err:
        e.solve(f"path(?x, n{n})")
    assert err.value.limit == "timeout"
    assert readings <= 110  # read at each check, and stopped at the first one past 100 ms


async def test_the_fixpoint_gives_the_event_loop_turns() -> None:
    """Another task runs again and again while one fixpoint works: between two of its turns
    the running evaluation adds a bounded number of answers (the old loop added them all
    in a few turns)."""
    n = 300
    e = engine(chain(n), max_steps=10**9, timeout_ms=None)
    goals, _ = e.goal("path", "?x", f"n{n}")
    q = Query(e.program, goals, limits=Limits(max_steps=10**9, timeout_ms=None, slice_ms=0))
    done = asyncio.Event()
    gaps: list[int] = []

    def answers() -> int:
        ev = q.evaluation
        return 0 if ev is None else sum(len(t.answers) for t in ev.tables.values())

    async def other() -> None:
        last = 0
        while not done.is_set():
            now = answers()
            gaps.append(now - last)
            last = now
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    try:
        assert await q.first()
    finally:
        done.set()
        await task
    total = n * (n + 1) // 2  # the answers of every path(nK, _), K = 1..n, and more
    assert sum(gaps) > total // 2  # the other task saw most of the answers being made
    assert len(gaps) > 50 and max(gaps) < total // 20


# --- a table cut off by a limit is not kept ---------------------------------------------------

DENY_OVER_A_TABLE = """
bad(n{n}).
allow(?u, read, ?r).
@id("reaches-bad")
deny(?u, read, ?r) :- path(?r, ?b), bad(?b).
"""


@pytest.mark.parametrize(
    "cut",
    [
        {"max_steps": 2_000},
        {"max_solutions": 50},
        {"timeout_ms": 5.0},
    ],
)
def test_a_table_cut_off_by_a_limit_is_not_kept(cut: dict[str, float]) -> None:
    """A deny rule over a shared (request-independent) table: the first query is cut off
    inside the fixpoint; asked again with budget enough, the deny still holds. Were the cut
    table kept as complete, its partial answers would let the allow through."""
    n = 200
    readings = 0

    def clock() -> float:
        nonlocal readings
        readings += 1
        return readings / 1000

    e = engine(chain(n) + DENY_OVER_A_TABLE.format(n=n), clock=clock,
               max_steps=10**9, max_solutions=10**6, timeout_ms=None)
    program = e.program
    small = Limits(**{**Limits(max_steps=10**9, max_solutions=10**6, timeout_ms=None).__dict__,
                      **cut})
    goals, _ = e.goal("deny", "u", "read", "n0")
    with pytest.raises(LimitExceeded):
        Query(program, goals, limits=small, clock=clock).first_sync()
    # what is kept is complete: each table holds every answer it has with no limits
    reference = engine(chain(n) + DENY_OVER_A_TABLE.format(n=n), timeout_ms=None)
    assert reference.ask("deny", "u", "read", "n0")
    full = {(t.pred.name, t.key[1]): set(t.answers) for t in reference.program.tables.values()}
    for t in program.tables.values():
        assert t.complete and set(t.answers) == full[(t.pred.name, t.key[1])]
    # again, with budget enough: the deny is proved, with and without proofs
    big = Limits(max_steps=10**9, max_solutions=10**6, timeout_ms=None)
    for proofs in (False, True):
        goals, _ = e.goal("deny", "u", "read", "n0")
        assert Query(program, goals, limits=big, clock=clock, proofs=proofs).first_sync()
    assert any(t.pred.name == "path" and t.args[0] == "n0" for t in program.tables.values())


def test_a_proof_through_a_long_chain_is_explained() -> None:
    """The proof of path(n0, n1500) through a table is 1,500 levels deep: its height, rule
    ids and JSON are made without recursion (they were a RecursionError)."""
    n = 1500
    e = engine(
        "".join(f"edge(n{i}, n{i + 1}).\n" for i in range(n))
        + '@id("step")\npath(?x, ?y) :- path(?x, ?z), edge(?z, ?y).\n'
        + '@id("edge")\npath(?x, ?y) :- edge(?x, ?y).\n',
        timeout_ms=None,
    )
    goals, _ = e.goal("path", "n0", f"n{n}")
    q = Query(e.program, goals, limits=e.limits, proofs=True)
    assert q.first_sync()
    (node,) = q.proof()
    assert node.height > n
    assert node.rule_ids() == ["step"] * (n - 1) + ["edge"]
    assert len(node.fact_locations()) == n
    nodes, rules = q.proof_json()
    assert rules == ["step", "edge"]
    assert nodes[0]["goal"] == f"path(n0, n{n})"
