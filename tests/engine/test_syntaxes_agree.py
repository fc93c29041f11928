"""One suite, both policy syntaxes: the same program written in `.rules` and in the original
engine's YAML answers every query the same, with the same rule ids in its proofs."""

from __future__ import annotations

import pytest

from siamese import RuleEngine

RULES = """
user(alice, admin, active). user(bob, user, active). user(carol, manager, suspended).
in_group(bob, eng). in_group(eng, all). in_group(all, eng).
member_of(?x, ?g) :- in_group(?x, ?g).
member_of(?x, ?g) :- in_group(?x, ?h), member_of(?h, ?g).
@id("approvers")
can_approve(?u) :- user(?u, ?r, ?s), (?r == admin ; ?r == manager), not ?s == suspended.
score(?u, ?n) :- user(?u, ?r, ?s), ?n is 2 * 3 + 1.
"""

YAML = """
facts:
  - [user, alice, admin, active]
  - [user, bob, user, active]
  - [user, carol, manager, suspended]
  - [in_group, bob, eng]
  - [in_group, eng, all]
  - [in_group, all, eng]
rules:
  - head: [member_of, '?x', '?g']
    body: [[in_group, '?x', '?g']]
  - head: [member_of, '?x', '?g']
    body: [[in_group, '?x', '?h'], [member_of, '?h', '?g']]
  - id: approvers
    head: [can_approve, '?u']
    body:
      - [user, '?u', '?r', '?s']
      - [or, [eq, '?r', admin], [eq, '?r', manager]]
      - [not, [eq, '?s', suspended]]
  - head: [score, '?u', '?n']
    body:
      - [user, '?u', '?r', '?s']
      - [is, '?n', ['+', ['*', 2, 3], 1]]
"""

QUERIES = [
    "member_of(bob, ?g)", "member_of(?x, all)", "can_approve(?u)", "score(?u, ?n)",
    "user(?u, ?r, active), not can_approve(?u)",
]


def engine(kind: str) -> RuleEngine:
    e = RuleEngine()
    e.load_text(RULES if kind == "rules" else YAML, f"p.{'rules' if kind == 'rules' else 'yaml'}")
    return e


@pytest.mark.parametrize("query", QUERIES)
def test_both_syntaxes_answer_the_same(query: str) -> None:
    key = lambda s: sorted(s.items())  # noqa: E731
    a = sorted(engine("rules").solve(query), key=key)
    b = sorted(engine("yaml").solve(query), key=key)
    assert a == b and a


@pytest.mark.parametrize("kind", ["rules", "yaml"])
async def test_both_syntaxes_prove_with_the_same_rule_id(kind: str) -> None:
    proof = await engine(kind).prove("can_approve", "alice")
    assert proof is not None and proof[0].rule == "approvers"
    assert await engine(kind).prove("can_approve", "carol") is None
