"""Resolution, negation, disjunction, tabling, proofs, "why not" and limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from siamese import LimitExceeded, RuleEngine
from siamese.engine.render import proof_lines
from siamese.engine.terms import UNBOUND, Var


def engine(text: str, **kw: object) -> RuleEngine:
    e = RuleEngine(**kw)  # type: ignore[arg-type]
    e.load_text(text, "test.rules")
    return e


def answers(e: RuleEngine, goal: str, var: str) -> list[Any]:
    return [s[var] for s in e.solve(goal)]


# --- resolution order, negation, disjunction ---------------------------------------------


def test_clause_order_facts_before_rules() -> None:
    e = engine(
        """
        p(?x) :- q(?x).
        p(a).
        p(b).
        q(c).
        """
    )
    assert answers(e, "p(?x)", "?x") == ["a", "b", "c"]


def test_negation_as_failure() -> None:
    e = engine(
        """
        user(alice). user(bob). suspended(bob).
        active(?u) :- user(?u), not suspended(?u).
        """
    )
    assert answers(e, "active(?u)", "?u") == ["alice"]
    assert e.solve("not suspended(alice)") == [{}]
    assert e.solve("not suspended(bob)") == []


def test_negation_of_a_conjunction() -> None:
    e = engine("a(1). a(2). b(2). ok(?x) :- a(?x), not (b(?x), ?x > 1).")
    assert answers(e, "ok(?x)", "?x") == [1]


def test_disjunction_tries_each_branch_in_order() -> None:
    e = engine(
        """
        role(alice, admin). role(bob, manager). role(carol, clerk).
        approver(?u) :- role(?u, ?r), (?r == admin ; ?r == manager).
        """
    )
    assert answers(e, "approver(?u)", "?u") == ["alice", "bob"]


def test_disjunction_branches_are_conjunctions() -> None:
    e = engine("n(1). n(2). n(3). pick(?x) :- n(?x), (?x > 2 ; ?x < 2, ?x >= 1).")
    assert answers(e, "pick(?x)", "?x") == [1, 3]


def test_booleans_are_not_numbers() -> None:
    e = engine("flag(a, true). flag(b, 1). flag(c, 1.0).")
    assert answers(e, "flag(?x, true)", "?x") == ["a"]
    assert answers(e, "flag(?x, 1)", "?x") == ["b", "c"]
    assert e.solve("flag(a, 1)") == []


def test_lists_and_compound_terms_unify() -> None:
    e = engine("team(bob, [red, blue]). owns(alice, doc(\"a\", 1)).")
    assert e.solve("team(bob, [?first, ?second])") == [{"?first": "red", "?second": "blue"}]
    assert e.solve("owns(alice, doc(?name, ?v))") == [{"?name": "a", "?v": 1}]


def test_non_ground_facts_are_rules_with_empty_bodies() -> None:
    e = engine("same(?x, ?x). role(a). role(b). pair(?x, ?y) :- role(?x), role(?y), same(?x, ?y).")
    assert e.solve("pair(?x, ?y)") == [{"?x": "a", "?y": "a"}, {"?x": "b", "?y": "b"}]


# --- tabling ------------------------------------------------------------------------------


def test_group_membership_cycle_of_1000_terminates_complete() -> None:
    # g0 in g1 in ... in g999 in g0: everyone in g0 is (transitively) in every group
    lines = [f"in_group(g{i}, g{(i + 1) % 1000})." for i in range(1000)]
    lines.append("direct(alice, g0).")
    lines.append("member_of(?u, ?g) :- direct(?u, ?g).")
    lines.append("member_of(?u, ?g) :- member_of(?u, ?h), in_group(?h, ?g).")
    e = engine("\n".join(lines))
    groups = answers(e, "member_of(alice, ?g)", "?g")
    assert sorted(groups) == sorted(f"g{i}" for i in range(1000))
    assert e.solve("member_of(alice, g500)") == [{}]


def test_right_recursive_cycle_terminates() -> None:
    e = engine(
        """
        link(a, b). link(b, c). link(c, a). link(c, d).
        reach(?x, ?y) :- link(?x, ?y).
        reach(?x, ?y) :- link(?x, ?z), reach(?z, ?y).
        """
    )
    assert sorted(answers(e, "reach(a, ?y)", "?y")) == ["a", "b", "c", "d"]
    assert sorted(answers(e, "reach(?x, a)", "?x")) == ["a", "b", "c"]


def test_chain_of_10000_nodes_complete_without_limits() -> None:
    lines = [f"parent(n{i}, n{i + 1})." for i in range(10_000)]
    lines.append("desc(?x, ?y) :- parent(?x, ?y).")
    lines.append("desc(?x, ?y) :- desc(?x, ?z), parent(?z, ?y).")
    e = engine("\n".join(lines))
    got = answers(e, "desc(n0, ?y)", "?y")
    assert len(got) == 10_000
    assert set(got) == {f"n{i}" for i in range(1, 10_001)}


def test_mutual_recursion_is_tabled() -> None:
    e = engine(
        """
        edge(1, 2). edge(2, 3). edge(3, 1).
        odd(?x, ?y) :- edge(?x, ?y).
        odd(?x, ?y) :- even(?x, ?z), edge(?z, ?y).
        even(?x, ?y) :- odd(?x, ?z), edge(?z, ?y).
        """
    )
    assert sorted(answers(e, "odd(1, ?y)", "?y")) == [1, 2, 3]
    assert sorted(answers(e, "even(1, ?y)", "?y")) == [1, 2, 3]


ACYCLIC = """
parent(a, b). parent(b, c). parent(c, d). parent(b, e).
anc(?x, ?y) :- parent(?x, ?y).
anc(?x, ?y) :- parent(?x, ?z), anc(?z, ?y).
"""


@pytest.mark.parametrize("goal", ["anc(a, ?y)", "anc(?x, d)", "anc(?x, ?y)", "anc(b, e)"])
def test_tabled_and_untabled_agree_on_acyclic_data(goal: str) -> None:
    tabled = engine(ACYCLIC, tabling=True).solve(goal)
    plain = engine(ACYCLIC, tabling=False).solve(goal)
    key = lambda s: sorted(s.items())  # noqa: E731
    assert sorted(tabled, key=key) == sorted(plain, key=key)
    assert tabled


def test_shared_tables_die_with_a_program_change() -> None:
    e = engine(ACYCLIC)
    assert sorted(answers(e, "anc(a, ?y)", "?y")) == ["b", "c", "d", "e"]
    e.load_text("parent(d, f).", "more.rules")
    assert sorted(answers(e, "anc(a, ?y)", "?y")) == ["b", "c", "d", "e", "f"]


def test_negation_through_recursion_is_rejected_at_load() -> None:
    with pytest.raises(Exception, match=r"test.rules:1:1: negation through recursion"):
        engine("p(?x) :- q(?x), not p(?x).\nq(1).")


# --- proofs and "why not" -----------------------------------------------------------------


POLICY = """
owner(doc1, alice).
member_of(bob, eng).
grant(eng, viewer, folder1).
parent(doc2, folder1).

@id("owner-full-access")
@description("owners may do anything")
allow(?u, ?a, ?d) :- owner(?d, ?u).

@id("group-viewer")
allow(?u, read, ?d) :-
    member_of(?u, ?g),
    grant(?g, viewer, ?f),
    parent(?d, ?f).
"""


async def test_proof_names_rules_and_fact_locations() -> None:
    e = engine(POLICY)
    proof = await e.prove("allow", "bob", "read", "doc2")
    assert proof is not None
    root = proof[0]
    assert root.to_dict() == {
        "goal": "allow(bob, read, doc2)",
        "kind": "rule",
        "rule": "group-viewer",
        "location": "test.rules:12",
        "children": [
            {"goal": "member_of(bob, eng)", "kind": "fact", "location": "test.rules:3"},
            {"goal": "grant(eng, viewer, folder1)", "kind": "fact", "location": "test.rules:4"},
            {"goal": "parent(doc2, folder1)", "kind": "fact", "location": "test.rules:5"},
        ],
    }
    owner = (await e.prove("allow", "alice", "delete", "doc1"))[0]  # type: ignore[index]
    assert owner.rule == "owner-full-access"
    assert owner.to_dict()["description"] == "owners may do anything"
    assert owner.fact_locations() == ["test.rules:2"]


async def test_proof_through_a_tabled_predicate() -> None:
    e = engine(ACYCLIC + "@id(\"r\")\nok(?x) :- anc(a, ?x).\n")
    proof = await e.prove("ok", "d")
    assert proof is not None
    text = "\n".join(proof_lines(proof[0].to_dict()))
    assert "anc(a, d)" in text and "parent(c, d)" in text


async def test_why_not_names_the_first_failing_goal_with_bindings() -> None:
    e = engine(POLICY)
    why = await e.why_not("allow", "bob", "write", "doc2")
    # the owner rule's head matches and fails at owner(doc2, bob); group-viewer's head
    # needs action read, so it is not listed
    assert [w.rule for w in why] == ["owner-full-access"]
    assert why[0].failed_goal == "owner(doc2, bob)"
    assert why[0].failed_location == "test.rules:9:22"
    why = await e.why_not("allow", "carol", "read", "doc2")
    assert [w.rule for w in why] == ["owner-full-access", "group-viewer"]
    assert why[1].failed_goal == "member_of(carol, ?g)"
    e.load_text("member_of(carol, sales).", "more.rules")
    why = await e.why_not("allow", "carol", "read", "doc2")
    assert why[1].failed_goal == "grant(sales, viewer, ?f)"
    assert why[1].bindings == {"?u": "carol", "?d": "doc2", "?g": "sales"}
    assert why[1].failed_location == "test.rules:14:5"


PROOF_SHAPES = """
@id("owner-full-access")
@description("owners may do anything")
allow(?u, ?a, ?d) :- owner(?d, ?u).
owner(doc1, alice).
edge(a, b). edge(b, c). edge(c, a).
path(?x, ?y) :- edge(?x, ?y).
path(?x, ?y) :- path(?x, ?z), edge(?z, ?y).
@id("reach")
reach(?x, ?y) :- path(?x, ?y), not edge(?y, ?x), ?y != ?x.
always.
@id("empty-body-ok")
ok(?x) :- always, ?x > 1, (edge(?x, _) ; ?x < 10).
chain(0).
chain(?n) :- ?n > 0, ?m is ?n - 1, chain(?m).
"""


@pytest.mark.parametrize("goal", [
    ("allow", ("alice", "read", "doc1")),
    ("reach", ("a", "b")),
    ("path", ("a", "a")),
    ("ok", (5,)),
    ("chain", (3,)),
    ("chain", (150,)),  # deeper than an explanation shows: truncated, as the tree says
])
async def test_the_proof_json_is_the_proof_tree_as_dicts(goal: tuple[str, tuple[Any, ...]]) -> None:
    from siamese.engine import Limits, Query
    from siamese.engine.goals import CALL

    e = engine(PROOF_SHAPES, max_depth=10_000)
    name, args = goal
    program = e.program
    # twice: the second time the tables (and the proofs they keep) are warm
    for _ in range(2):
        q = Query(program, ((CALL, program.predicate(name, len(args)), args, None),),
                  proofs=True, limits=Limits(max_depth=10_000))
        assert await q.first()
        nodes = q.proof()
        rules = list(dict.fromkeys(r for n in nodes for r in n.rule_ids()))
        assert q.proof_json() == ([n.to_dict() for n in nodes], rules)
    text = repr(q.proof_json())
    if args == (150,):
        assert "'truncated': True" in text


WHY_SHAPES = PROOF_SHAPES + """
status(bob, active).
team(bob, t1). team(bob, t2).
lead(t2, carol).
@id("one-pass")
allow(?u, ?a, ?d) :- status(?u, ?s), team(?u, ?t), lead(?t, ?l), not status(?l, ?s), ?a == ?d.
allow(root, ?a, ?d).
"""


@pytest.mark.parametrize("goal", [
    ("allow", ("alice", "read", "doc1")),  # a rule, its fact
    ("allow", ("root", "x", "y")),  # a fact of allow itself
    ("allow", ("bob", "read", "read")),  # the last rule, after a negation
    ("allow", ("bob", "read", "doc9")),  # fails at the last goal, bound by earlier ones
    ("allow", ("dave", "read", "doc1")),  # fails at once
    ("reach", ("a", "b")),
    ("reach", ("a", "c")),  # fails at the negation: its text with the bindings of then
    ("path", ("a", "a")),  # tabled: asked as a query first
    ("path", ("zz", "a")),
    ("ok", (5,)), ("ok", (0,)),
    ("chain", (150,)),  # deep: truncated as the tree is
])
async def test_one_pass_proves_or_explains_as_the_two_passes_do(
    goal: tuple[str, tuple[Any, ...]]
) -> None:
    from siamese.engine import Limits, Query
    from siamese.engine.goals import CALL

    e = engine(WHY_SHAPES, max_depth=10_000)
    program = e.program
    name, args = goal

    def query() -> Query:
        return Query(program, ((CALL, program.predicate(name, len(args)), args, None),),
                     proofs=True, limits=Limits(max_depth=10_000))

    for _ in range(2):  # cold, then with the tables warm
        q = query()
        expected = (q.proof_json(), []) if await q.first() else None
        if expected is None:
            q = query()
            expected = (None, [w.to_dict() for w in await q.drive(q.why_not(q.goals[0]))])
        q = query()
        found, why = await q.drive(q.prove_or_why_not(q.goals[0]))
        assert (found, [w.to_dict() for w in why]) == expected
        assert q.trail == [] and all(
            v is None or not isinstance(v, Var) or v.ref is UNBOUND for v in args
        )
    if args == ("bob", "read", "doc9"):
        [w] = [w for w in expected[1] if w["rule"] == "one-pass"]
        assert w["failed_goal"] == "eq(read, doc9)"
        assert w["bindings"] == {"?u": "bob", "?a": "read", "?d": "doc9", "?s": "active",
                                 "?t": "t2", "?l": "carol"}
    if args == ("a", "c"):
        assert expected[1][0]["failed_goal"] == "not (edge(c, a))"


def test_the_proof_json_of_facts_is_kept_for_a_bounded_number_of_rows() -> None:
    from siamese.engine.program import FACT_JSON_CACHE

    n = FACT_JSON_CACHE * 2 + 5
    e = engine("".join(f'f(k{i}, "v {i}").\n' for i in range(n)))
    pred = e.program.predicate("f", 2)
    for i in range(n):
        assert pred.fact_json(i) == {"goal": f'f(k{i}, "v {i}")', "kind": "fact",
                                     "location": f"test.rules:{i + 1}"}
        assert len(pred.fact_json_cache) <= FACT_JSON_CACHE
    assert pred.fact_json(n - 1) is pred.fact_json(n - 1)  # made once while it is kept


# --- limits ---------------------------------------------------------------------------------


def test_max_depth_ends_unbounded_recursion_without_tabling() -> None:
    e = engine("loop(?x) :- loop(?x).", tabling=False, max_depth=50)
    with pytest.raises(LimitExceeded) as err:
        e.solve("loop(1)")
    assert err.value.limit == "max_depth"


def test_max_solutions_ends_an_infinite_tabled_answer_set() -> None:
    e = engine("nat(0). nat(?n) :- nat(?m), ?n is ?m + 1.", max_solutions=500)
    with pytest.raises(LimitExceeded) as err:
        e.solve("nat(?x)")
    assert err.value.limit == "max_solutions"


def test_max_steps_ends_a_combinatorial_blowup() -> None:
    facts = " ".join(f"d({i})." for i in range(50))
    e = engine(facts + " big(?a, ?b, ?c, ?d) :- d(?a), d(?b), d(?c), d(?d), ?a > 100.",
               max_steps=20_000)
    with pytest.raises(LimitExceeded) as err:
        e.solve("big(?a, ?b, ?c, ?d)")
    assert err.value.limit == "max_steps"


def test_timeout_uses_the_injected_clock() -> None:
    ticks = iter(range(10**9))
    facts = " ".join(f"d({i})." for i in range(50))
    e = engine(facts + " big(?a, ?b, ?c) :- d(?a), d(?b), d(?c), ?a > 100.",
               timeout_ms=100, max_steps=10**9, clock=lambda: next(ticks) / 100)
    with pytest.raises(LimitExceeded) as err:
        e.solve("big(?a, ?b, ?c)")
    assert err.value.limit == "timeout"


async def test_a_long_query_gives_the_event_loop_turns() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.0005  # each clock reading is half a millisecond later
        return now[0]

    facts = " ".join(f"d({i})." for i in range(60))
    e = engine(facts + " big(?a, ?b, ?c) :- d(?a), d(?b), d(?c), ?a > 100.",
               timeout_ms=None, max_steps=10**9, clock=clock)
    turns = 0
    done = asyncio.Event()

    async def other() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    assert not await e.exists("big", "?a", "?b", "?c")
    done.set()
    await task
    assert turns > 10  # the other task ran many times while the query worked


async def test_async_builtin_that_never_returns_times_out() -> None:
    async def hang(goal, bindings):
        await asyncio.Event().wait()
        yield bindings

    e = RuleEngine(builtins={"hang": hang}, timeout_ms=50)
    e.load_text("p :- hang(1).", "t.rules")
    with pytest.raises(LimitExceeded) as err:
        await e.exists("p")
    assert err.value.limit == "timeout"


def test_a_tabled_answer_with_a_free_variable_matches_a_bound_call() -> None:
    # any(a, ?w) holds for every ?w: its table answer keeps ?w free, and a call that binds
    # it must still match (by unification, and not by a lookup of ground answers)
    e = engine(
        """
        link(a, b). link(b, a). link(a, c). link(a, d). link(a, e). link(a, f).
        reach(?x, ?y) :- link(?x, ?y).
        reach(?x, ?y) :- reach(?x, ?z), link(?z, ?y).
        any(?x, ?w) :- reach(?x, ?z), anyx(?x, ?w).
        anyx(?x, ?w) :- any(?x, ?w).
        anyx(?x, ?w) :- link(?x, ?w).
        anyx(?x, ?w) :- link(?x, _).
        """
    )
    assert e.solve("any(a, zzz)") == [{}]
    assert e.solve("any(a, b)") == [{}]
    assert e.solve("any(q, zzz)") == []


async def test_true_and_1_are_different_solutions() -> None:
    e = engine("v(true). v(1). v(1.0). v(true).")
    sols = e.solve("v(?x)")  # the duplicate fact gives one solution; 1.0 writes as 1.0
    assert [type(s["?x"]) for s in sols] == [bool, int, float]
    got = [s["?x"] async for s in e.query("v", "?x")]
    assert [type(x) for x in got] == [bool, int, float]


def test_a_tabled_answer_that_is_a_term_and_one_that_is_a_list_spelling_it() -> None:
    """Table keys once spelled f(a) as the list ["$struct", "f", [a]]: one of two such
    answers was dropped as a duplicate of the other."""
    e = engine(
        """
        v(f(a)). v(["$struct", f, [a]]).
        r(?x) :- v(?x).
        r(?x) :- r(?x), v(?x).
        """
    )
    assert sorted(map(str, answers(e, "r(?x)", "?x"))) == sorted(
        map(str, answers(e, "v(?x)", "?x")))
    assert len(answers(e, "r(?x)", "?x")) == 2
