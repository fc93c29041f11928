"""The YAML format of the original engine, and JSON fact files."""

# These tests walk parse results (Clause | FactBlock items, Goal | Not | Or bodies) whose
# shape the input text fixes and the assertions check; narrowing every access would only
# add casts, so mypy's union-attr check is off for this file.
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import json
from typing import Any

import pytest

from siamese.engine.ast import Clause, FactBlock, Goal, Not, Or
from siamese.engine.errors import PolicyErrors, PolicySyntaxError
from siamese.engine.terms import JsonMap, Struct
from siamese.engine.textsyntax import parse_program
from siamese.engine.yamlsyntax import parse_json_facts, parse_yaml

from .test_textsyntax import canon, syntax_errors


def yaml_error(text: str) -> PolicySyntaxError:
    with pytest.raises(PolicySyntaxError) as info:
        parse_yaml(text, "users.yaml")
    return info.value


def one_rule(text: str) -> Clause:
    items = parse_yaml(text, "r.yaml")
    assert len(items) == 1 and type(items[0]) is Clause, items
    return items[0]


def rule_yaml(body: str) -> str:
    return "rules:\n  - head: [h, '?X']\n    body:\n" + body


# --- the SPEC §3 example ----------------------------------------------------------------------

SPEC_YAML = """\
facts:
  - [parent, david, john]
rules:
  - head: [grandparent, '?GP', '?GC']
    body:
      - [parent, '?GP', '?P']
      - [parent, '?P', '?GC']
  - id: admins-approve                 # optional, as @id
    description: Admins and managers approve orders
    head: [can_approve, '?U']
    body:
      - [user, '?U', '?Role', '?Status']
      - [or, [eq, '?Role', admin], [eq, '?Role', manager]]   # real disjunction of goals
      - [not, [eq, '?Status', suspended]]
"""

SPEC_AS_TEXT = """\
parent(david, john).
grandparent(?GP, ?GC) :- parent(?GP, ?P), parent(?P, ?GC).
@id("admins-approve")
@description("Admins and managers approve orders")
can_approve(?U) :- user(?U, ?Role, ?Status), (?Role == admin ; ?Role == manager),
                   not ?Status == suspended.
"""


def test_spec_example() -> None:
    facts, grand, approve = parse_yaml(SPEC_YAML, "spec.yaml")
    assert type(facts) is FactBlock
    assert (facts.name, facts.rows, facts.lines, facts.source) == (
        "parent",
        [("david", "john")],
        [2],
        "spec.yaml",
    )
    assert (grand.line, grand.col, grand.id) == (4, 5, None)
    gp = grand.head.args[0]
    assert gp is grand.body[0].term.args[0] and gp.name == "?GP"
    assert [(g.line, g.col) for g in grand.body] == [(6, 9), (7, 9)]
    assert approve.id == "admins-approve"
    assert approve.description == "Admins and managers approve orders"
    assert approve.annotations == {
        "id": "admins-approve",
        "description": "Admins and managers approve orders",
    }
    user, either, neither = approve.body
    assert type(either) is Or and (either.line, either.col) == (13, 9)
    assert [br[0].term.args[1] for br in either.branches] == ["admin", "manager"]
    assert type(neither) is Not and neither.body[0].term.name == "eq"
    assert neither.body[0].term.args[0] is user.term.args[2]


def test_yaml_and_text_give_the_same_program() -> None:
    def shape(items: list[Any]) -> list[Any]:
        out = []
        for i in items:
            if type(i) is FactBlock:
                out.append(("facts", i.name, canon(i.rows)))
            else:
                out.append(canon(i))
        return out

    assert shape(parse_yaml(SPEC_YAML)) == shape(parse_program(SPEC_AS_TEXT))


# --- terms ----------------------------------------------------------------------------------


def test_scalars() -> None:
    text = (
        "facts:\n"
        "  - [f, word, 'quoted 12', '12', 12, -3, 2.5, true, yes, no, null, ~, 2024-01-31]\n"
    )
    (block,) = parse_yaml(text)
    assert block.rows == [
        ("word", "quoted 12", "12", 12, -3, 2.5, True, True, False, "null", "null", "2024-01-31")
    ]
    row = block.rows[0]
    assert type(row[6]) is bool and type(row[3]) is int


def test_variables_and_anonymous_in_facts_and_rules() -> None:
    items = parse_yaml("facts:\n  - [role_le, '?R', '?R']\n  - [open, _, _]\n")
    assert [type(i) for i in items] == [Clause, Clause]
    assert items[0].head.args[0] is items[0].head.args[1]
    a, b = items[1].head.args
    assert a is not b and a.name == b.name == "_"
    rule = one_rule(rule_yaml("      - [p, '?X', '?Y', _]\n      - [q, '?Y', _]\n"))
    p, q = (g.term for g in rule.body)
    assert rule.head.args[0] is p.args[0] and p.args[1] is q.args[0]
    assert p.args[2] is not q.args[1]


def test_variables_do_not_leak_between_rules() -> None:
    text = (
        "rules:\n"
        "  - head: [a, '?X']\n    body: [[b, '?X']]\n"
        "  - head: [c, '?X']\n    body: [[d, '?X']]\n"
    )
    first, second = parse_yaml(text)
    assert first.head.args[0] is not second.head.args[0]


def test_nested_lists_are_compound_terms_and_list_mappings_are_lists() -> None:
    (block,) = parse_yaml("facts:\n  - [f, [g, a, [h, 1]], {list: [a, [k, b], {list: []}]}]\n")
    (row,) = block.rows
    assert canon(row) == canon(
        (Struct("g", ("a", Struct("h", (1,)))), ("a", Struct("k", ("b",)), ()))
    )


def test_facts_are_grouped_per_predicate() -> None:
    text = "facts:\n  - [a, 1]\n  - [a, 2]\n  - [b, 1]\n  - [a, 3]\n  - [a, 3, 4]\n"
    items = parse_yaml(text)
    assert [(i.name, i.rows, i.lines) for i in items] == [
        ("a", [(1,), (2,), (3,)], [2, 3, 5]),
        ("b", [(1,)], [4]),
        ("a", [(3, 4)], [6]),
    ]


def test_facts_come_before_rules_whatever_the_key_order() -> None:
    text = "rules:\n  - head: [r]\n    body: [[f]]\nfacts:\n  - [f]\nversion: 2\n"
    items = parse_yaml(text)
    assert [type(i) for i in items] == [FactBlock, Clause]


def test_empty_documents_and_sections() -> None:
    assert parse_yaml("") == []
    assert parse_yaml("# nothing\n") == []
    assert parse_yaml("facts:\nrules: []\n") == []


def test_rule_without_body_is_a_fact_clause() -> None:
    (c,) = parse_yaml("rules:\n  - head: [always, '?X']\n")
    assert type(c) is Clause and c.body == () and c.head.name == "always"
    (c,) = parse_yaml("rules:\n  - head: [ready]\n    body:\n")
    assert c.body == ()


def test_merge_keys() -> None:
    text = "base: &b\n  head: [h]\nrules:\n  - <<: *b\n    body: [[p]]\n"
    (c,) = parse_yaml(text)
    assert c.head.name == "h" and c.body[0].term.name == "p"


# --- goals ------------------------------------------------------------------------------------


def test_or_branches_may_be_conjunctions() -> None:
    rule = one_rule(
        rule_yaml("      - [or, [a, '?X'], [[b, '?X'], [c, '?X']], [and, [d, '?X'], [e, '?X']]]\n")
    )
    (either,) = rule.body
    assert [[g.term.name for g in br] for br in either.branches] == [["a"], ["b", "c"], ["d", "e"]]


def test_not_and_and() -> None:
    rule = one_rule(
        rule_yaml(
            "      - [not, [a, '?X'], [b, '?X']]\n"
            "      - [not, [[c, '?X'], [d, '?X']]]\n"
            "      - [and, [e, '?X'], [f, '?X']]\n"
            "      - [not, [or, [g, '?X'], [h, '?X']]]\n"
        )
    )
    n1, n2, e, f, n3 = rule.body
    assert [g.term.name for g in n1.body] == ["a", "b"]
    assert [g.term.name for g in n2.body] == ["c", "d"]
    assert (e.term.name, f.term.name) == ("e", "f")
    assert type(n3.body[0]) is Or
    assert (n1.line, n1.col) == (4, 9)


def test_comparison_goals_are_calls() -> None:
    rule = one_rule(rule_yaml("      - [gt, '?X', 5]\n"))
    assert rule.body == (Goal(Struct("gt", (rule.head.args[0], 5)), 4, 9),)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ("- a\n- b\n", 1, 1, "top level must be a mapping with 'facts' and/or 'rules'"),
        ("facts: 3\n", 1, 8, "facts must be a list"),
        ("rules: {a: 1}\n", 1, 8, "rules must be a list"),
        ("facts:\n  - parent\n", 2, 5, "a fact must be a non-empty list [predicate, args...]"),
        ("facts:\n  - []\n", 2, 5, "a fact must be a non-empty list [predicate, args...]"),
        ("facts:\n  - [1, a]\n", 2, 6, "predicate name must be a string, not 1"),
        ("facts:\n  - [[a], b]\n", 2, 6, "predicate name must be a string, not a list"),
        ("facts:\n  - ['?P', a]\n", 2, 6, "variables cannot be predicate names"),
        ("facts:\n  - [p, []]\n", 2, 9, "an empty list is not a term (write {list: []})"),
        ("facts:\n  - [p, {a: 1}]\n", 2, 9, "a mapping in a term must be {list: [...]}"),
        ("rules:\n  - [a]\n", 2, 5, "a rule must be a mapping with 'head' and 'body'"),
        ("rules:\n  - body: []\n", 2, 5, "rule without head"),
        (
            "rules:\n  - head: [a]\n    bdy: []\n",
            3,
            5,
            "unknown key 'bdy' in rule (expected head, body, id, description)",
        ),
        (
            "rules:\n  - head: a\n",
            2,
            11,
            "a rule head must be a non-empty list [predicate, args...]",
        ),
        (
            "rules:\n  - head: [a]\n    body: [b]\n",
            3,
            12,
            "a goal must be a non-empty list [predicate, args...]",
        ),
        ("rules:\n  - head: [a]\n    body:\n      - [or]\n", 4, 9, "'or' needs at least one goal"),
        ("rules:\n  - head: [a]\n    id: [x]\n", 3, 9, "rule id must be a string"),
        (
            "facts:\n  - [a, !!binary aGk=]\n",
            2,
            9,
            "unsupported value 'aGk=' (tag:yaml.org,2002:binary)",
        ),
        ("facts:\n  - [a, b\n  - [c]\n", 3, 5, "invalid yaml: did not find expected ',' or ']'"),
        ("facts: [\n", 2, 1, "invalid yaml: did not find expected node content"),
        (
            "a: 1\n---\nb: 2\n",
            2,
            1,
            "invalid yaml: expected a single document in the stream, but found another document",
        ),
    ],
)
def test_error_locations_and_messages(text: str, line: int, col: int, message: str) -> None:
    err = yaml_error(text)
    assert (err.source, err.line, err.col, err.message) == ("users.yaml", line, col, message)


def test_body_must_be_a_list() -> None:
    text = "\n".join(["# padding"] * 10) + (
        "\nrules:\n  - head: [a]\n    body:\n      - [b]\n  - head: [c]\n    body: d\n"
    )
    err = yaml_error(text)
    assert str(err).splitlines()[0] == "users.yaml:16:11: rule body must be a list"
    assert str(err).splitlines()[1] == "        body: d"


def test_every_bad_item_is_reported() -> None:
    text = "facts:\n  - [ok, 1]\n  - 7\nrules:\n  - head: [r]\n    body: x\n  - body: []\n"
    with pytest.raises(PolicyErrors) as info:
        parse_yaml(text, "m.yaml")
    assert [(e.line, e.col, e.message) for e in syntax_errors(info.value)] == [
        (3, 5, "a fact must be a non-empty list [predicate, args...]"),
        (6, 11, "rule body must be a list"),
        (7, 5, "rule without head"),
    ]


# --- JSON facts -------------------------------------------------------------------------------


def test_json_facts() -> None:
    text = (
        '{"_comment": "generated",\n'
        ' "facts": [\n'
        '  ["role", "alice", "admin"],\n'
        '  ["role", "bob", "?x"],\n'
        '  ["tags", "doc1", ["a", "b"], {"k": [1, null]}, null, 2.5, true]\n'
        "]}"
    )
    roles, tags = parse_json_facts(text, "users.json")
    assert (roles.name, roles.rows, roles.lines, roles.source) == (
        "role",
        [("alice", "admin"), ("bob", "?x")],
        [3, 4],
        "users.json",
    )
    assert type(roles.rows[1][1]) is str  # data: never a variable
    (row,) = tags.rows
    assert row[:2] == ("doc1", ("a", "b"))
    assert type(row[2]) is JsonMap and row[2] == {"k": (1, "null")}
    assert row[3:] == ("null", 2.5, True)
    assert tags.lines == [5]


def test_json_fact_lines_in_a_one_line_file() -> None:
    text = json.dumps({"facts": [["a", i] for i in range(3)]})
    (block,) = parse_json_facts(text)
    assert block.lines == [1, 1, 1] and block.rows == [(0,), (1,), (2,)]


def test_json_empty_and_null_facts() -> None:
    assert parse_json_facts("{}") == []
    assert parse_json_facts('{"facts": null}') == []
    assert parse_json_facts(' { "facts" : [ ] } \n') == []


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        ('{"facts": [\n  ["a", 1],\n  ["b" 2]\n]}', 3, 8, "invalid json: Expecting ',' delimiter"),
        ('{"facts": [1,]}', 1, 14, "invalid json: Expecting value"),
        ('{"facts": []} x', 1, 15, "invalid json: Extra data"),
        ("[1]", 1, 1, "top level must be an object with 'facts'"),
        ('{"facts": 3}', 1, 11, "facts must be a list"),
        (
            '{"facts": [\n  ["a"],\n  []\n]}',
            3,
            3,
            "a fact must be a non-empty list [predicate, args...]",
        ),
        ('{"facts": [["a"], "b"]}', 1, 19, "a fact must be a non-empty list [predicate, args...]"),
        ('{"facts": [\n\n   [3, "x"]]}', 3, 4, "predicate name must be a string, not 3"),
    ],
)
def test_json_errors(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_json_facts(text, "d.json")
    err = info.value
    assert (err.source, err.line, err.col, err.message) == ("d.json", line, col, message)


def test_json_reports_every_bad_fact() -> None:
    with pytest.raises(PolicyErrors) as info:
        parse_json_facts('{"facts": [\n  [],\n  ["ok"],\n  [null]\n]}', "d.json")
    assert [(e.line, e.col) for e in syntax_errors(info.value)] == [(2, 3), (4, 3)]


def test_long_json_lines_are_not_echoed() -> None:
    text = '{"facts": [' + ", ".join(['["a", 1]'] * 100) + ", []]}"
    with pytest.raises(PolicySyntaxError) as info:
        parse_json_facts(text, "d.json")
    assert "\n" not in str(info.value)
