"""Compiled clause bodies (engine/fastpath.py) answer exactly as the interpreter does:
the same first proof, the same "why not" (failed goal, bindings, nested reasons), the same
limits. Every check runs the same program twice, compiled and interpreted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese import LimitExceeded, RuleEngine
from siamese.engine import Limits, Query, finish
from siamese.engine.fastpath import SliceOver
from siamese.engine.goals import CALL
from siamese.engine.machine import PAUSE
from siamese.engine.whynot import NOT_COMPILED

ATOMS = ("a", "b", "c", "d")
COMPILED_PASSES: list[tuple[str, tuple[Any, ...]]] = []  # calls the plain-call pass answered


def engine(text: str, compiled: bool, **kw: Any) -> RuleEngine:
    e = RuleEngine(compiled=compiled, **kw)
    e.load_text(text, "test.rules")
    return e


def query(e: RuleEngine, name: str, args: tuple[Any, ...], **limits: Any) -> Query:
    program = e.program
    return Query(program, ((CALL, program.predicate(name, len(args)), args, None),),
                 proofs=True, limits=Limits(**limits) if limits else Limits(),
                 clock=e.clock)


def answers(e: RuleEngine, name: str, args: tuple[Any, ...]) -> Any:
    """What the authorizer asks: the one pass, the proof alone, and the "why not" alone."""
    async def run() -> Any:
        q = query(e, name, args)
        found, why = await q.drive(q.prove_or_why_not(q.goals[0]))
        q2 = query(e, name, args)
        proved = await q2.drive(q2.prove(q2.goals[0]))
        q3 = query(e, name, args)
        why_only = await q3.drive(q3.why_not(q3.goals[0]))
        assert q.trail == [] and q2.trail == [] and q3.trail == []
        # the plain-call pass, when it answers, answers the same
        q4 = query(e, name, args)
        plain = q4.compiled_pass(q4.goals[0])
        if plain is not NOT_COMPILED:
            assert (plain[0], [w.to_dict() for w in plain[1]]) == (
                found, [w.to_dict() for w in why])
            assert q4.compiled_pass(q4.goals[0], 0, False) == (proved, [])
            COMPILED_PASSES.append((name, args))
        return found, [w.to_dict() for w in why], proved, [w.to_dict() for w in why_only]

    return asyncio.run(run())


def compiled_clauses(e: RuleEngine, name: str, arity: int) -> list[bool]:
    finish(e.program)
    return [cc.fast is not None for cc in e.program.predicate(name, arity).clauses]


SHAPES = """
resource_type(r1, t1). resource_type(r2, t2). resource_type(r3, t1).
has_role(alice, editor). has_role(bob, viewer). has_role(bob, auditor). has_role(carol, boss).
inherits(boss, editor). inherits(editor, viewer). inherits(e1, e2). inherits(e2, e3).
inherits(e3, e4). inherits(e4, e5). inherits(e5, e6).
role(boss). role(editor). role(viewer). role(auditor).
role(e1). role(e2). role(e3). role(e4). role(e5). role(e6).
permission(viewer, read, t1). permission(editor, write, t1). permission(auditor, read, t2).
suspended(dave).
pair(x, y). pair(x, x). pair(y, y).
resource_type("r-4", t1). has_role("al ice", viewer).
allow(root2, read, r1).

role_includes(?r, ?r) :- role(?r).
role_includes(?r, ?s) :- inherits(?r, ?m), role_includes(?m, ?s).

@id("rbac")
allow(?u, ?a, ?r) :-
    resource_type(?r, ?t),
    has_role(?u, ?role),
    role_includes(?role, ?sub),
    permission(?sub, ?a, ?t).
@id("same")
allow(?u, ?u, ?r) :- pair(?r, ?r).
@id("const-head")
allow(root, ?a, ?r) :- permission(?x, ?a, ?y), resource_type(?r, ?y), has_role(?who, ?x).
@id("all-bound-table")
allow(?u, sees, ?r) :- role_includes(?u, ?r).
@id("first-free")
allow(?u, below, ?r) :- role_includes(?x, ?u), has_role(?r, ?x).
@id("twin")
allow(?u, twin, ?r) :- pair(?x, ?x), role(?r).
@id("interpreted")
allow(?u, get, ?p) :- has_role(?u, ?r), (?p == home ; ?p == house).
deny(?u, _, _) :- suspended(?u).
top :- pair(x, y), role(e6).
"""

GOALS = [
    ("allow", ("alice", "read", "r1")),  # through the table: editor -> viewer
    ("allow", ("alice", "write", "r1")),
    ("allow", ("alice", "read", "r2")),  # fails at the permission, after the table
    ("allow", ("bob", "read", "r2")),  # the second role
    ("allow", ("zed", "read", "r1")),  # fails at has_role: nested reasons none (facts)
    ("allow", ("nope", "read", "r9")),  # fails at the first goal
    ("allow", ("x", "x", "x")),  # a repeated head variable, a repeated body variable
    ("allow", ("x", "x", "y")),
    ("allow", ("root", "read", "r3")),  # a head constant, unbound and scanned positions
    ("allow", ("root", "delete", "r3")),
    ("allow", ("e1", "sees", "e6")),  # all bound, more than four answers: a set lookup
    ("allow", ("e1", "sees", "zz")),
    ("allow", ("boss", "sees", "viewer")),  # all bound, few answers
    ("allow", ("viewer", "below", "carol")),  # first argument free: the call's variant
    ("allow", ("zz", "below", "carol")),  # fails in the table: nested reasons
    ("allow", ("u", "twin", "boss")),  # a variable twice in one goal: pair(x, x), not (x, y)
    ("allow", ("alice", "get", "home")),  # the interpreted clause: its head matches
    ("allow", ("alice", "get", "away")),
    ("allow", ("al ice", "read", "r-4")),  # atoms printed quoted, in proofs and why-nots
    ("allow", ("al ice", "write", "r-4")),
    ("allow", ("root2", "read", "r1")),  # a fact of allow itself: facts first
    ("allow", ("root2", "read", "r9")),
    ("deny", ("dave", "read", "r1")),
    ("deny", ("alice", "read", "r1")),
    ("top", ()),
]


def test_the_shapes_are_compiled() -> None:
    e = engine(SHAPES, compiled=True)
    assert compiled_clauses(e, "allow", 3) == [True] * 6 + [False]  # a disjunction: interpreted
    # ... but ruled out by its head constant for other actions: the plain pass may answer
    assert e.program.predicate("allow", 3).compiled
    assert not e.program.predicate("role_includes", 2).compiled  # tabled: asked as a query
    assert compiled_clauses(e, "deny", 3) == [True]
    assert compiled_clauses(e, "top", 0) == [True]
    assert compiled_clauses(e, "role_includes", 2) == [True, True]
    assert compiled_clauses(engine(SHAPES, compiled=False), "allow", 3) == [False] * 7


@pytest.mark.parametrize("goal", GOALS)
def test_compiled_bodies_prove_and_explain_as_the_interpreter(
    goal: tuple[str, tuple[Any, ...]]
) -> None:
    fast, slow = engine(SHAPES, compiled=True), engine(SHAPES, compiled=False)
    for _ in range(2):  # cold (tables computed by the interpreter), then warm
        assert answers(fast, *goal) == answers(slow, *goal)
    if goal[1] == ("alice", "read", "r2"):
        found, why, _, _ = answers(fast, *goal)
        assert found is None
        [w] = [w for w in why if w["rule"] == "rbac"]
        # the bindings of the first time the goal was reached (?sub: editor itself)
        assert w["failed_goal"] == "permission(editor, read, t2)"
        assert w["bindings"] == {"?u": "alice", "?a": "read", "?r": "r2", "?t": "t2",
                                 "?role": "editor", "?sub": "editor"}


def test_a_cold_table_is_evaluated_on_demand_for_the_call() -> None:
    e = engine(SHAPES, compiled=True)
    program = e.program
    cc = program.predicate("allow", 3).clauses[0]
    goal = ("allow", ("alice", "read", "r1"))
    assert program.tables == {}
    COMPILED_PASSES.clear()
    answers(e, *goal)  # the plain call answers at once, cold table and all ...
    assert [goal] == COMPILED_PASSES  # ... as the driven passes do
    # the table of this call's value (editor), evaluated by the machine's fixpoint and kept
    assert any(k[1][0] == "editor" for k in program.tables)
    assert cc.fast.run != cc.fast._first_run  # generated at its first use
    proved, chosen, values = cc.fast.run(query(e, *goal), goal[1])
    assert proved is True and len(chosen) == 4  # a fact row per fact goal, the table answer
    assert values[:3] == goal[1]  # the clause's variables, the head's first


def test_a_table_that_must_pause_is_left_to_the_interpreter() -> None:
    """Compiled code cannot pause: a fixpoint that owes the event loop a turn is dropped,
    and the driven pass gives the turn, then evaluates it."""
    e = engine(SHAPES, compiled=True)
    goal = ("allow", ("alice", "read", "r1"))
    q = query(e, *goal)
    q.next_check = 0
    q.last_pause = -1e9  # the slice is over at the first check
    assert q.compiled_pass(q.goals[0]) is NOT_COMPILED and q.pause_owed
    assert e.program.tables == {}
    q.next_check = 0
    q.last_pause = -1e9  # again: the fixpoint owes a turn at its first step
    with pytest.raises(SliceOver):
        q.table_now(e.program.predicate("role_includes", 2), ("editor", None))
    assert e.program.tables == {}  # dropped, not kept half done
    assert q.evaluation is None  # ... and the machine is out of it, traceback alive or not
    assert q.trail == []


@pytest.mark.parametrize("goal", GOALS, ids=str)
def test_a_turn_owed_at_every_check_changes_no_answer(goal: tuple[str, Any]) -> None:
    """With a slice of 0 ms every check owes the event loop a turn: compiled runs and
    on-demand tables give up at once, and the driven passes answer as without turns."""
    name, args = goal
    expected = answers(engine(SHAPES, compiled=True), name, args)

    async def paused() -> Any:
        e = engine(SHAPES, compiled=True)
        q = query(e, name, args, slice_ms=0)
        found, why = await q.drive(q.prove_or_why_not(q.goals[0]))
        return found, [w.to_dict() for w in why]

    assert asyncio.run(paused()) == expected[:2]


def test_the_new_shapes_are_compiled_and_the_others_interpreted() -> None:
    text = """
    level(alice, 3). name(alice, "Alice"). level(bob, 1.5). tagged(alice, true).
    p(?u) :- level(?u, ?l), ?l > 2.
    q(?u) :- level(?u, ?l).
    r(?u) :- name(?u, ?n), not level(?u, 1).
    s(?u) :- p(?u).
    t(?u) :- name(?u, f(?x)).
    u(?u) :- level(?u, ?l), (?l > 2 ; ?l < 0).
    v(?u) :- level(?u, ?l), now(?t).
    w(?u) :- tagged(?u, ?b).
    x(?u) :- level(?u, ?l), ?m is ?l * 2, ?m in [6, 3.0], input("a.b", ?m).
    """
    e = engine(text, compiled=True)
    for name in "pqrsx":
        assert compiled_clauses(e, name, 1) == [True], name
    # a compound term, a disjunction, a volatile built-in, a boolean a variable would hold
    for name in "tuvw":
        assert compiled_clauses(e, name, 1) == [False], name
    assert answers(e, "p", ("alice",))[0] is not None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_joins_compiled_and_interpreted_agree(data: st.DataObject) -> None:
    atom = st.sampled_from(ATOMS)
    facts = []
    for name, arity in (("e", 2), ("f", 2), ("g", 1)):
        rows = data.draw(st.sets(st.tuples(*[atom] * arity), max_size=8), label=name)
        facts += [f"{name}({', '.join(r)})." for r in sorted(rows)]
    # variables more often than atoms, and few of them: repeats and joins are the point
    term = st.sampled_from(["?x", "?y", "?w", "?v", "?w", "?v", "a", "b", "c", "d"])
    goal = st.one_of(
        st.tuples(st.just("e"), term, term).map(lambda t: f"e({t[1]}, {t[2]})"),
        st.tuples(st.just("f"), term, term).map(lambda t: f"f({t[1]}, {t[2]})"),
        term.map(lambda t: f"g({t})"),
        st.tuples(term, term).map(lambda t: f"reach({t[0]}, {t[1]})"),
    )
    clauses = data.draw(st.lists(
        st.tuples(st.tuples(term, term), st.lists(goal, min_size=1, max_size=4)),
        min_size=1, max_size=3), label="clauses")
    rules = [f"top({h[0]}, {h[1]}) :- {', '.join(body)}." for h, body in clauses]
    text = "\n".join(facts + rules + [
        "reach(?x, ?y) :- e(?x, ?y).",
        "reach(?x, ?z) :- reach(?x, ?y), e(?y, ?z).",
    ])
    fast, slow = engine(text, compiled=True), engine(text, compiled=False)
    calls = [(a, b) for a in ATOMS for b in ATOMS]
    for _ in range(2):
        for args in calls:
            assert answers(fast, "top", args) == answers(slow, "top", args), (text, args)


def test_a_compiled_join_counts_its_steps_against_the_limit() -> None:
    facts = " ".join(f"d(n{i})." for i in range(50))
    text = facts + " big(?a) :- d(?b), d(?c), d(?d), d(?e), e(?a)."
    for compiled in (True, False):
        e = engine(text, compiled=compiled)
        assert compiled_clauses(e, "big", 1) == [compiled]
        q = query(e, "big", ("x",), max_steps=20_000)
        with pytest.raises(LimitExceeded) as err:
            asyncio.run(q.drive(q.prove_or_why_not(q.goals[0])))
        assert err.value.limit == "max_steps"


def test_a_compiled_join_ends_at_the_timeout_of_the_injected_clock() -> None:
    ticks = iter(range(10**9))
    facts = " ".join(f"d(n{i})." for i in range(50))
    e = engine(facts + " big(?a) :- d(?b), d(?c), d(?d), e(?a).", compiled=True,
               clock=lambda: next(ticks) / 100)
    q = query(e, "big", ("x",), timeout_ms=100, max_steps=10**9)
    with pytest.raises(LimitExceeded) as err:
        asyncio.run(q.drive(q.prove(q.goals[0])))
    assert err.value.limit == "timeout"


def test_a_long_compiled_join_gives_the_event_loop_its_turns() -> None:
    now = [0.0]
    ticking = [True]

    def clock() -> float:
        if ticking[0]:
            now[0] += 0.001  # a millisecond per reading: a slice (2 ms) ends every few checks
        return now[0]

    facts = " ".join(f"d(n{i})." for i in range(30))
    e = engine(facts + " big(?a) :- d(?b), d(?c), d(?d), e(?a).", compiled=True, clock=clock)
    q = query(e, "big", ("x",), timeout_ms=None, max_steps=10**9)
    gen = q.prove(q.goals[0])
    pauses = 0
    try:
        while True:
            assert next(gen) is PAUSE
            pauses += 1
    except StopIteration as stop:
        assert stop.value is None
    assert pauses >= 10

    # the plain-call pass cannot pause: it gives up, and the driver pays the turn first
    now[0] = 0.0
    q = query(e, "big", ("x",), timeout_ms=None, max_steps=10**9)
    q.last_pause = -1.0  # a slice is over at the first check
    assert q.compiled_pass(q.goals[0]) is NOT_COMPILED and q.pause_owed
    ticking[0] = False  # the clock stops: the driven pass owes no turn of its own

    async def driven() -> list[str]:
        order: list[str] = []

        async def other() -> None:
            order.append("other")

        task = asyncio.get_running_loop().create_task(other())
        await q.drive(q.prove(q.goals[0]))
        order.append("pass")
        await task
        return order

    assert asyncio.run(driven()) == ["other", "pass"] and not q.pause_owed
    ticking[0] = True
    q.last_pause = -1.0
    with pytest.raises(SliceOver):
        e.program.predicate("big", 1).clauses[0].fast.run(q, ("x",))


def test_generated_code_is_kept_shown_and_in_tracebacks() -> None:
    """A compiled clause's source is kept, printable, and registered with linecache: a
    traceback through it shows its lines."""
    import traceback

    from siamese.engine.fastpath import compiled_sources

    e = RuleEngine()
    e.load_text('role(alice, admin).\n@id("admins")\nallow(?u, read, ?r) :- role(?u, admin).\n',
                "t.rules")
    finish(e.program)
    [(label, source)] = compiled_sources(e.program, "allow", 3)
    assert label == "admins" and source is not None and source.startswith("def run(q, args):")
    fast = e.program.predicates[("allow", 3)].clauses[0].fast
    assert fast is not None
    try:
        fast.run(None, ("alice", "read", "doc"))  # no query: fails inside the generated code
    except AttributeError as err:
        frames = traceback.extract_tb(err.__traceback__)
    else:
        raise AssertionError("the generated code ran without its query")
    last = frames[-1]
    assert last.filename == "<compiled clause admins>"
    assert last.line and last.line in source


ODD_INPUTS: list[Any] = [
    None, True, False, 0, 1, 1.0, -0.0, "1", 2**70, -(2**63), 1e308, 5e-324, "", "\x00",
    "é" * 1000, "\ud83d\ude00", [], [1], {"level": 3}, {"": None}, "null", "true",
]


@pytest.mark.parametrize("value", ODD_INPUTS, ids=repr)
def test_compiled_input_reads_odd_values_as_the_interpreter(value: Any) -> None:
    """``input(Path, ?V)`` in a compiled body: whatever the request holds at the path
    (null, booleans, integers past 64 bits, lists, objects, odd strings), the decision and
    its explanation are the interpreter's; a value that is not an atom is left to it."""
    from siamese.engine import Verdict, build, decide, parse_source

    text = ('allow(?u, read, ?d) :- input("subject.level", ?l), ?l >= 2, staff(?u).\n'
            'allow(?u, read, ?d) :- input("subject.level", ?l), ?l == "1", staff(?u).\n'
            'allow(?u, list, ?d) :- input("subject.level", ?l), ?l in [1, null, "x"].\n'
            'deny(?u, read, ?d) :- input("subject.level", ?l), ?l == 0.\n'
            "staff(ann).\n")
    fast = build(parse_source(text, "p.rules"))
    slow = build(parse_source(text, "p.rules"), compiled=False)
    assert all(cc.fast is not None for cc in fast.predicate("allow", 3).clauses)

    def settled(v: Any) -> Verdict:
        return v if isinstance(v, Verdict) else asyncio.run(v)

    for action in ("read", "list"):
        request = {"subject": {"level": value}}
        v = settled(decide(fast, ("ann", action, "doc"), input=request))
        w = settled(decide(slow, ("ann", action, "doc"), input=request))
        assert (v.kind, repr(v.error)) == (w.kind, repr(w.error))
        assert v.proof == w.proof and v.rule_ids == w.rule_ids
        assert [x.to_dict() for x in v.why_not] == [x.to_dict() for x in w.why_not]
