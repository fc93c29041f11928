"""The ``*.rules`` text syntax: every construct, exact error locations, and printing back."""

# These tests walk parse results (Clause | FactBlock items, Goal | Not | Or bodies) whose
# shape the input text fixes and the assertions check; narrowing every access would only
# add casts, so mypy's union-attr check is off for this file.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import random
import time
from typing import Any, cast

import pytest

from siamese.engine.ast import Clause, FactBlock, Goal, Not, Or
from siamese.engine.errors import PolicyErrors, PolicySyntaxError
from siamese.engine.terms import Struct, Var
from siamese.engine.textformat import format_clause, format_goal
from siamese.engine.textsyntax import parse_goals, parse_program, parse_term

# --- helpers ----------------------------------------------------------------------------


def canon(x: Any, names: dict[int, str] | None = None) -> Any:
    """A comparable form: variables numbered by first occurrence, types kept apart."""
    if names is None:
        names = {}
    if type(x) is Var:
        if x.name == "_":
            return ("anon", names.setdefault(id(x), f"_{len(names)}"))
        return ("var", names.setdefault(id(x), f"v{len(names)}"))
    if type(x) is Struct:
        return ("struct", x.name, tuple(canon(a, names) for a in x.args))
    if type(x) is tuple:
        return ("list", tuple(canon(a, names) for a in x))
    if type(x) is Goal:
        return ("goal", canon(x.term, names))
    if type(x) is Not:
        return ("not", tuple(canon(i, names) for i in x.body))
    if type(x) is Or:
        return ("or", tuple(tuple(canon(i, names) for i in b) for b in x.branches))
    if type(x) is Clause:
        return (
            "clause",
            canon(x.head, names),
            tuple(canon(i, names) for i in x.body),
            x.id,
            x.description,
            tuple(sorted(x.annotations.items())),
        )
    return (type(x).__name__, x)


def syntax_errors(err: PolicyErrors) -> list[PolicySyntaxError]:
    """The errors a parser collected: all of them syntax errors."""
    return cast(list[PolicySyntaxError], err.errors)


def one_clause(text: str) -> Clause:
    items = parse_program(text, "t.rules")
    assert len(items) == 1 and type(items[0]) is Clause, items
    return items[0]


def rows(text: str) -> list[tuple[Any, ...]]:
    items = parse_program(text, "t.rules")
    assert len(items) == 1 and type(items[0]) is FactBlock, items
    return items[0].rows


def body(text: str) -> tuple[Any, ...]:
    return one_clause(text if text.endswith(".") else text + ".").body


def goal_term(text: str) -> Struct:
    items = body(f"h :- {text}.")
    assert len(items) == 1 and type(items[0]) is Goal
    return items[0].term


def syntax_error(text: str) -> PolicySyntaxError:
    with pytest.raises(PolicySyntaxError) as info:
        parse_program(text, "t.rules")
    return info.value


def S(name: str, *args: Any) -> Struct:
    return Struct(name, args)


# --- facts and terms ---------------------------------------------------------------------


def test_fact_argument_kinds() -> None:
    assert rows("f(\"alice\", bob, 1, 2.5, -3, -0.5, true, false, 'single').") == [
        ("alice", "bob", 1, 2.5, -3, -0.5, True, False, "single")
    ]


def test_booleans_are_not_numbers() -> None:
    (row,) = rows("f(true, 1).")
    assert type(row[0]) is bool and type(row[1]) is int


def test_lists_and_compound_terms() -> None:
    row = one_clause("f([a, [1, 2], []], g(x, h(?y)), k()).").head.args
    assert row[0] == ("a", (1, 2), ())
    assert canon(row[1]) == canon(S("g", "x", S("h", Var("?y"))))
    assert row[2] == S("k")


def test_string_escapes() -> None:
    (row,) = rows(r'f("a\"b", "c\\d", "e\nf", "g\th", "it\'s", ' + "'q\\'s').")
    assert row == ('a"b', "c\\d", "e\nf", "g\th", "it's", "q's")


def test_quoted_strings_keep_comment_characters() -> None:
    assert rows('f("a # b", "50% off"). # real comment') == [("a # b", "50% off")]


def test_zero_arity_facts() -> None:
    (block,) = parse_program("ready.\nready().\n")
    assert block.name == "ready" and block.rows == [(), ()] and block.lines == [1, 2]


def test_keywords_are_atoms_in_arguments() -> None:
    assert rows("f(not, in, is).") == [("not", "in", "is")]


def test_exponent_floats_and_bare_minus() -> None:
    assert rows("f(1e3, 2.5E-2, - 4).") == [(1000.0, 0.025, -4)]


def test_quoted_predicate_name() -> None:
    assert rows('"odd name"(a).') == [("a",)]
    (block,) = parse_program('"odd name"(a).')
    assert block.name == "odd name"


# --- fact blocks -------------------------------------------------------------------------


def test_ground_facts_form_one_block_per_predicate() -> None:
    text = """
role(alice, admin).
# a comment changes nothing
role(bob, editor).
role(carol, viewer, extra).
team_of(bob, [red, blue]).
team_of(carol, [green]).
allow(?u) :- role(?u, admin).
role(dave, admin).
"""
    items = parse_program(text, "r.rules")
    kinds = [(type(i).__name__, i.key) for i in items]
    assert kinds == [
        ("FactBlock", ("role", 2)),
        ("FactBlock", ("role", 3)),
        ("FactBlock", ("team_of", 2)),
        ("Clause", ("allow", 1)),
    ]
    assert items[0].rows == [("alice", "admin"), ("bob", "editor"), ("dave", "admin")]
    assert items[0].lines == [2, 4, 9]
    assert items[2].rows == [("bob", ("red", "blue")), ("carol", ("green",))]
    assert items[2].lines == [6, 7]
    assert all(i.source == "r.rules" for i in items)


def test_interleaved_facts_stay_compact() -> None:
    text = "".join(f"user(u{i}).\nstatus(u{i}, active).\n" for i in range(100))
    users, statuses = parse_program(text)
    assert (users.name, len(users.rows), users.lines[:2]) == ("user", 100, [1, 3])
    assert (statuses.name, len(statuses.rows), statuses.lines[:2]) == ("status", 100, [2, 4])


def test_non_ground_and_annotated_facts_are_clauses() -> None:
    items = parse_program('role_le(?r, ?r).\n@id("x")\nrole(a, b).\nopen(_).\n')
    assert [type(i) for i in items] == [Clause, Clause, Clause]
    assert items[0].head.args[0] is items[0].head.args[1]
    assert items[1].id == "x" and items[1].line == 3
    assert items[2].head.args[0].name == "_"


def test_fast_and_full_parser_agree() -> None:
    """Simple fact lines take a fast path; the same facts two to a line take the full parser."""
    rng = random.Random(7)
    values = ['"doc1"', "u12", "42", "-7", "3.25", "true", "false", '"a, b"', "'x y'", '""']
    facts = [f"p({', '.join(rng.choice(values) for _ in range(3))})." for _ in range(200)]
    fast = parse_program("\n".join(facts))
    slow = parse_program("\n".join(f"{a} {b}" for a, b in zip(facts[::2], facts[1::2])))
    assert canon(fast[0].rows) == canon(slow[0].rows)
    assert len(fast[0].rows) == 200


def test_fact_like_line_inside_a_rule_is_a_goal() -> None:
    items = parse_program("r(?x) :-\n    a(?x),\n    b(x).\nc(y).\n")
    assert type(items[0]) is Clause
    assert [g.term.name for g in items[0].body] == ["a", "b"]
    assert items[0].body[1].line == 3
    assert type(items[1]) is FactBlock and items[1].lines == [4]


def test_fact_like_line_after_an_annotation_gets_it() -> None:
    items = parse_program('@id("one")\nf(a).\nf(b).\n')
    assert type(items[0]) is Clause and items[0].id == "one"
    assert type(items[1]) is FactBlock and items[1].rows == [("b",)]


def test_crlf_and_bom() -> None:
    items = parse_program('\ufeffrole(a, b).\r\nrule(?x) :- role(?x, b).\r\nrole(c, "d").\r\n')
    assert items[0].rows == [("a", "b"), ("c", "d")] and items[0].lines == [1, 3]
    assert items[1].line == 2 and items[1].body[0].col == 13


def test_repeated_values_share_memory() -> None:
    block = parse_program('owner("doc1", "user45").\nowner("doc2", "user45").\n')[0]
    assert block.rows[0][1] is block.rows[1][1]


def test_parse_speed_of_simple_facts() -> None:
    text = "".join(f'owner("doc{i}", "user{i % 97}").\n' for i in range(20_000))
    start = time.perf_counter()
    (block,) = parse_program(text)
    elapsed = time.perf_counter() - start
    assert len(block.rows) == 20_000 and block.lines[-1] == 20_000
    assert elapsed < 1.0  # about 0.04 s: a guard against losing the fast path


# --- variables ---------------------------------------------------------------------------


def test_same_name_same_variable_within_a_clause_only() -> None:
    a, b = parse_program("p(?x, ?y) :- q(?x, ?Y).\np(?x, _) :- q(_, ?x).\n")
    hx, hy = a.head.args
    qx, qY = a.body[0].term.args
    assert hx is qx and hy is not qY
    assert hx.name == "?x" and qY.name == "?Y"
    assert b.head.args[0] is not hx


def test_each_underscore_is_distinct() -> None:
    c = one_clause("p(_, _) :- q(_).")
    u1, u2 = c.head.args
    (u3,) = c.body[0].term.args
    assert len({id(u1), id(u2), id(u3)}) == 3
    assert all(v.name == "_" for v in (u1, u2, u3))


# --- rules and bodies --------------------------------------------------------------------


def test_rule_locations() -> None:
    text = "\n  allow(?u) :-\n      member(?u, g),\n      not banned(?u).\n"
    c = one_clause(text)
    assert (c.line, c.col, c.source) == (2, 3, "t.rules")
    assert (c.body[0].line, c.body[0].col) == (3, 7)
    assert (c.body[1].line, c.body[1].col) == (4, 7)
    assert (c.body[1].body[0].line, c.body[1].body[0].col) == (4, 11)


def test_zero_arity_goals() -> None:
    b = body("h :- ready, ready(), true, false")
    assert [g.term for g in b] == [S("ready"), S("ready"), S("true"), S("false")]


def test_not_forms() -> None:
    (n,) = body("h(?x) :- not p(?x)")
    assert type(n) is Not and canon(n.body) == canon((Goal(S("p", Var("?x"))),))
    (n,) = body("h(?x) :- not (p(?x), q(?x))")
    assert [g.term.name for g in n.body] == ["p", "q"]
    (n,) = body("h(?x) :- not (p(?x) ; q(?x))")
    assert len(n.body) == 1 and type(n.body[0]) is Or
    (n,) = body("h(?x) :- not not p(?x)")
    assert type(n.body[0]) is Not
    (n,) = body("h(?x) :- not ?x == 3")
    assert n.body[0].term.name == "eq"


def test_disjunction_branches_are_conjunctions() -> None:
    (o,) = body("h :- (a, b ; c ; d, (e ; f))")
    assert type(o) is Or and (o.line, o.col) == (1, 6)
    names = [[type(g).__name__ if type(g) is Or else g.term.name for g in br] for br in o.branches]
    assert names == [["a", "b"], ["c"], ["d", "Or"]]


def test_parenthesised_conjunction_is_inlined() -> None:
    b = body("h :- a, (b, c), d")
    assert [g.term.name for g in b] == ["a", "b", "c", "d"]


def test_top_level_disjunction() -> None:
    (o,) = body("h :- a ; b, c")
    assert type(o) is Or and len(o.branches) == 2


def test_disjunction_with_comments_between_lines() -> None:
    text = "c(?x) :-\n    ( a(?x)     % first option\n    ; b(?x)     % second option\n    ).\n"
    (o,) = one_clause(text).body
    assert [br[0].term.name for br in o.branches] == ["a", "b"]


# --- infix built-ins and arithmetic --------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "name"),
    [("==", "eq"), ("!=", "neq"), ("<", "lt"), ("<=", "lte"), (">", "gt"), (">=", "gte")],
)
def test_comparisons(op: str, name: str) -> None:
    t = goal_term(f"?a {op} 3")
    assert t.name == name and t.args[1] == 3 and t.args[0].name == "?a"


def test_membership() -> None:
    t = goal_term("?a in [read, list]")
    assert t.name == "member" and t.args[1] == ("read", "list")
    t = goal_term("admin in ?roles")
    assert t.name == "member" and t.args[0] == "admin"


def test_is_builds_an_expression_tree() -> None:
    x, a, b = Var("?x"), Var("?a"), Var("?b")
    cases = {
        "?x is ?a + ?b * 2": S("+", a, S("*", b, 2)),
        "?x is (?a + ?b) * 2": S("*", S("+", a, b), 2),
        "?x is ?a - 1 - 2": S("-", S("-", a, 1), 2),
        "?x is ?a - (1 - 2)": S("-", a, S("-", 1, 2)),
        "?x is ?a // 2 / 3": S("/", S("//", a, 2), 3),
        "?x is -?a": S("-", 0, a),
        "?x is -3": -3,
        "?x is 2 - -3": S("-", 2, -3),
        "?x is -(?a)": S("-", 0, a),
        "?x is len(?a) + 1": S("+", S("len", a), 1),
        "?x is max(?a + 1, ?b)": S("max", S("+", a, 1), b),
        "?x is ?a % 2": S("%", a, 2),
        "?x is ?a % 3 + ?b % 2": S("+", S("%", a, 3), S("%", b, 2)),
    }
    for text, expr in cases.items():
        t = goal_term(text)
        assert t.name == "is", text
        assert canon(t.args) == canon((x, expr)), text


def test_comparison_operands_are_expressions() -> None:
    a, b = Var("?a"), Var("?b")
    assert canon(goal_term("?a + 1 > ?b")) == canon(S("gt", S("+", a, 1), b))
    assert canon(goal_term("(?a + 1) * 2 > ?b")) == canon(S("gt", S("*", S("+", a, 1), 2), b))
    assert canon(goal_term("?a % 2 == 0")) == canon(S("eq", S("%", a, 2), 0))


def test_percent_is_a_comment_outside_arithmetic() -> None:
    c = one_clause("h(?x) :- a(?x), b(?x) % note: ?x % 2 is fun\n    , c(?x).")
    assert [g.term.name for g in c.body] == ["a", "b", "c"]
    c = one_clause("h(?y) :- ?y is 3, b(?y) % a comment\n.")
    assert [g.term.name for g in c.body] == ["is", "b"]


# --- annotations -------------------------------------------------------------------------


def test_annotations_attach_to_the_next_clause() -> None:
    text = (
        '@id("r1")\n@description("Owners")\n@owner("team-a")\n'
        "allow(?u) :- owner(?u).\nx(?y) :- y(?y).\n"
    )
    first, second = parse_program(text)
    assert first.id == "r1" and first.description == "Owners"
    assert first.annotations == {"id": "r1", "description": "Owners", "owner": "team-a"}
    assert first.line == 4 and first.label == "r1"
    assert second.id is None and second.annotations == {} and second.label == "<input>:5"


# --- the SPEC §2 example ---------------------------------------------------------------------

SPEC_EXAMPLE = """\
# line comment
role("alice", "admin").                     % facts end with a period
role(bob, editor).                          % a bare lowercase word is a string atom
team_of(bob, [red, blue]).                  % lists; numbers 1, 2.5, -3; true, false

@id("owner-may-do-anything")                % optional annotations, shown in explanations
@description("Owners have full access to their own resources")
allow(?user, ?action, ?doc) :- owner(?doc, ?user).

allow(?u, read, ?doc) :-
    member_of(?u, ?group),
    grant(?group, viewer, ?folder),
    inside(?doc, ?folder).

deny(?u, _, _) :- status(?u, suspended).

inside(?d, ?f) :- parent(?d, ?f).
inside(?d, ?f) :- parent(?d, ?p), inside(?p, ?f).   % recursion: cycle-safe (§4)

allow(?u, read, ?r) :- input("subject.properties.department", ?dep),
                        department(?r, ?dep), not classified(?r).
allow(?u, ?a, ?r) :- ?a in [read, list], public(?r).
allow(?u, delete, ?r) :- input("claims.roles", ?roles), admin in ?roles.
"""


def test_spec_example_parses_completely() -> None:
    items = parse_program(SPEC_EXAMPLE, "spec.rules")
    facts = [i for i in items if type(i) is FactBlock]
    rules = [i for i in items if type(i) is Clause]
    assert [(b.name, b.rows, b.lines) for b in facts] == [
        ("role", [("alice", "admin"), ("bob", "editor")], [2, 3]),
        ("team_of", [("bob", ("red", "blue"))], [4]),
    ]
    assert [(r.head.name, r.line) for r in rules] == [
        ("allow", 8),
        ("allow", 10),
        ("deny", 15),
        ("inside", 17),
        ("inside", 18),
        ("allow", 20),
        ("allow", 22),
        ("allow", 23),
    ]
    owner = rules[0]
    assert owner.id == "owner-may-do-anything"
    assert owner.description == "Owners have full access to their own resources"
    assert all(r.id is None and not r.annotations for r in rules[1:])
    dept = rules[5]
    assert type(dept.body[2]) is Not and dept.body[2].body[0].term.name == "classified"
    assert dept.body[0].term.args[0] == "subject.properties.department"
    assert [g.term.name for g in rules[6].body] == ["member", "public"]
    assert rules[7].body[1].term.args[0] == "admin"


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ("foo(a.", 1, 6, "expected ',' or ')' but found '.'"),
        ("foo(a)\nbar(b).", 1, 7, "missing '.' at end of clause"),
        ("foo(a) :- b(a)", 1, 15, "missing '.' at end of clause"),
        ('ok(a).\nfoo("abc).', 2, 5, "unterminated string"),
        ("foo($).", 1, 5, "unexpected character '$'"),
        ("?x(a).", 1, 1, "variables cannot be predicate names"),
        ("a :- ?p(x).", 1, 6, "variables cannot be predicate names"),
        (
            "allow(?u) :-\n    a(?u)\n    b(?u).",
            3,
            5,
            "expected ',' or '.' after goal but found 'b'",
        ),
        ('@id("x")\n', 1, 1, "annotation '@id' is not followed by a clause"),
        ('@id("x")\n@id("y")\nfoo(a).', 2, 2, "duplicate annotation '@id'"),
        ("foo(_x).", 1, 5, "unexpected name '_x': only '_' alone is an anonymous variable"),
        ("foo(a) :- ?x.", 1, 13, "expected a comparison, 'in' or 'is' after '?x' but found '.'"),
        (
            "foo(a) :- ?x + 1.",
            1,
            17,
            "expected a comparison, 'in' or 'is' after the expression but found '.'",
        ),
        ('foo(a) :- "abc".', 1, 11, "expected a goal but found '\"abc\"'"),
        ('foo("a\\qb").', 1, 7, "unknown escape '\\q' in string"),
        (
            "foo(a) :- x = 1.",
            1,
            13,
            "unexpected character '=' (use '==' to compare, 'is' to compute)",
        ),
        ("foo(a) :- (b(a), c(a).", 1, 22, "expected ',', ';' or ')' but found '.'"),
        ("foo(a) :- b(a), .", 1, 17, "expected a goal but found '.'"),
        ("foo(a) :- not.", 1, 14, "expected a goal after 'not' but found '.'"),
        ("foo(a) bar.", 1, 8, "expected '.' or ':-' after the head but found 'bar'"),
        ("42.", 1, 1, "expected a fact or rule but found '42'"),
        ("f([a, b).", 1, 8, "expected ',' or ']' but found ')'"),
        ("f(a) :- g(a) :- h.", 1, 14, "expected ',' or '.' after goal but found ':-'"),
        ("f(a) :- ?x is.", 1, 14, "expected a term but found '.'"),
        ("f(a) :- ?.", 1, 9, "expected a variable name after '?'"),
    ],
)
def test_error_locations_and_messages(text: str, line: int, col: int, message: str) -> None:
    err = syntax_error(text)
    assert (err.source, err.line, err.col, err.message) == ("t.rules", line, col, message)


def test_capitalised_name_error_suggests_fixes() -> None:
    err = syntax_error("foo(Alice).")
    assert (err.line, err.col) == (1, 5)
    assert err.message == (
        "unexpected name 'Alice': variables start with '?' (?Alice), "
        'and strings that start with a capital letter are quoted ("Alice")'
    )


def test_error_text_shows_the_line_and_a_caret() -> None:
    err = syntax_error("ok(a).\n  foo(a b).\n")
    assert str(err) == (
        "t.rules:2:9: expected ',' or ')' but found 'b'\n      foo(a b).\n            ^"
    )


def test_every_bad_clause_is_reported() -> None:
    text = "good(a).\nbad(.\nfine(?x) :- good(?x).\nworse(a) :- , b.\nlast(a)\n"
    with pytest.raises(PolicyErrors) as info:
        parse_program(text, "m.rules")
    found = [(e.line, e.col, e.message) for e in syntax_errors(info.value)]
    assert found == [
        (2, 5, "expected a term but found '.'"),
        (4, 13, "expected a goal but found ','"),
        (5, 8, "missing '.' at end of clause"),
    ]
    assert str(info.value).startswith("m.rules:2:5: expected a term but found '.'")


def test_missing_period_recovers_at_the_next_line() -> None:
    with pytest.raises(PolicyErrors) as info:
        parse_program("a(x)\nb(y)\nc(z).\nd(.\n")
    assert [(e.line, e.message) for e in syntax_errors(info.value)] == [
        (1, "missing '.' at end of clause"),
        (2, "missing '.' at end of clause"),
        (4, "expected a term but found '.'"),
    ]


def test_errors_between_fast_lines() -> None:
    text = (
        "".join(f"f({i}).\n" for i in range(5)) + "g(\n" + "".join(f"f({i}).\n" for i in range(3))
    )
    err = syntax_error(text)
    assert (err.line, err.col, err.message) == (7, 5, "expected ',' or ')' but found '.'")


# --- parse_goals and parse_term ---------------------------------------------------------------


def test_parse_goals() -> None:
    items, names = parse_goals("ancestor(?a, grace), not suspended(?a), ?n is ?a + _")
    assert [type(i).__name__ for i in items] == ["Goal", "Not", "Goal"]
    assert set(names) == {"?a", "?n"}
    assert items[0].term.args[0] is names["?a"] is items[1].body[0].term.args[0]
    items, names = parse_goals("ready.")
    assert items[0].term == S("ready") and names == {}


def test_parse_goals_errors() -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_goals("a(?x) b(?x)")
    err = info.value
    assert (err.source, err.line, err.col) == ("<query>", 1, 7)
    assert err.message == "expected ',' or the end of the query but found 'b'"
    with pytest.raises(PolicySyntaxError) as info:
        parse_goals("")
    assert info.value.message == "expected a goal but found end of input"


def test_parse_term() -> None:
    t = parse_term('[a, f(?x, 2), -3, 2.5, "x y", true, []]')
    assert canon(t) == canon(("a", S("f", Var("?x"), 2), -3, 2.5, "x y", True, ()))
    with pytest.raises(PolicySyntaxError) as info:
        parse_term("f(a) g")
    assert (info.value.col, info.value.message) == (6, "expected the end of the term but found 'g'")


# --- printing and the round trip ------------------------------------------------------------


ROUND_TRIP_TEXTS = [
    SPEC_EXAMPLE,
    'p("quote\\"d", "new\\nline", "tab\\t", "back\\\\slash", "Caps", "not", "with space").',
    "p(-3, 2.5, 1e+20, true, false, [], [a, [b]], f(g(?x)), k()) :- q(?x).",
    "even(?n) :- ?n % 2 == 0, ?m is ?n % 3 + 1, ?k in ?l % 2.",
    "s(?a, ?b) :- (?a + 1) * 2 > ?b, ?c is -?a, ?e is 2 - -3, ?g is ?a - (1 - 2) - 3 // 4.",
    "t :- ready, true, (x ; y, z ; w), not (a, b), not c, not (d ; e), not not f.",
    '@id("r")\n@description("Line one\\nline two")\n@team("a-b")\nallow(?u) :- "odd name"(?u).',
    'u(_, ?x, _) :- "%"(1, 2), "+"(?x, 1) == 3, ?x != "is", "in"(?x).',
]


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_round_trip_of_written_clauses(text: str) -> None:
    clauses = [c for c in parse_program(text) if type(c) is Clause]
    for c in clauses:
        again = one_clause(format_clause(c))
        assert canon(again) == canon(c), format_clause(c)


def test_format_clause_output() -> None:
    c = one_clause('@id("r")\nallow(?u, ?x) :- ?x is (?u + 1) * 2, not (a ; b(?u)), ?u % 2 == 0.')
    assert format_clause(c) == (
        '@id("r")\nallow(?u, ?x) :- ?x is (?u + 1) * 2, not (a ; b(?u)), "%"(?u, 2) == 0.'
    )
    assert format_clause(one_clause("p(?x) :- q(?x).\n")) == "p(?x) :- q(?x)."
    assert format_goal(Goal(S("member", "admin", Var("?r")))) == "admin in ?r"


def _random_term(rng: random.Random, vars_: list[Var], depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return rng.choice(["a", "bob", "Alice", "with space", "", "not", "x_1", "é", 'q"'])
    if kind == 1:
        return rng.randint(-1000, 1000)
    if kind == 2:
        return rng.choice([0.5, -2.25, 1e-05, 3.0])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return rng.choice(vars_)
    if kind == 5:
        return Var("_")
    if kind == 6:
        return tuple(_random_term(rng, vars_, depth + 1) for _ in range(rng.randrange(3)))
    name = rng.choice(["f", "g", "Odd Name", "+", "is"])
    return Struct(name, tuple(_random_term(rng, vars_, depth + 1) for _ in range(rng.randrange(3))))


def _random_expr(rng: random.Random, vars_: list[Var], depth: int = 0) -> Any:
    if depth > 2 or rng.random() < 0.3:
        return rng.choice(
            [rng.randint(-5, 9), rng.choice(vars_), Struct("len", (rng.choice(vars_),))]
        )
    op = rng.choice(["+", "-", "*", "/", "//", "%"])
    return Struct(op, (_random_expr(rng, vars_, depth + 1), _random_expr(rng, vars_, depth + 1)))


def _random_goal(rng: random.Random, vars_: list[Var], depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 2 else 3)
    if kind == 0:
        name = rng.choice(["p", "q", "ready", "Odd", "not", "true"])
        return Goal(Struct(name, tuple(_random_term(rng, vars_) for _ in range(rng.randrange(3)))))
    if kind == 1:
        name = rng.choice(["eq", "neq", "lt", "lte", "gt", "gte", "is", "member"])
        return Goal(Struct(name, (_random_expr(rng, vars_), _random_expr(rng, vars_))))
    if kind == 2:
        return Goal(Struct("member", (_random_term(rng, vars_), _random_term(rng, vars_))))
    if kind == 3:
        return Not(tuple(_random_goal(rng, vars_, depth + 1) for _ in range(rng.randint(1, 2))))
    branches = tuple(
        tuple(_random_goal(rng, vars_, depth + 1) for _ in range(rng.randint(1, 2)))
        for _ in range(rng.randint(2, 3))
    )
    return Or(branches)


def test_round_trip_of_generated_clauses() -> None:
    rng = random.Random(2024)
    for _ in range(300):
        vars_ = [Var("?X"), Var("?y_2"), Var("?Z")]
        head = Struct(
            rng.choice(["h", "allow", "Quoted Head"]),
            tuple(_random_term(rng, vars_) for _ in range(rng.randrange(4))),
        )
        body_ = tuple(_random_goal(rng, vars_) for _ in range(rng.randint(1, 4)))
        annotations = {"id": "r-1", "note": 'says "hi"'} if rng.random() < 0.3 else {}
        clause = Clause(
            head, body_, id=annotations.get("id"), annotations=annotations, source="t.rules"
        )
        text = format_clause(clause)
        assert canon(one_clause(text)) == canon(clause), text
