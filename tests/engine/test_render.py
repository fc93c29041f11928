"""The one text renderer of proofs and "why not"s (from their JSON form)."""

from __future__ import annotations

from typing import Any

from siamese import RuleEngine
from siamese.engine.proof import MAX_PROOF_DEPTH
from siamese.engine.render import Style, proof_lines, why_not_lines

POLICY = """
@id("owner")
@description("owners may read")
allow(?u, read, ?d) :- owner(?d, ?u), not banned(?u).
owner(doc1, alice).
chain(0).
chain(?n) :- ?n > 0, ?m is ?n - 1, chain(?m).
"""


def engine() -> RuleEngine:
    e = RuleEngine(tabling=False)
    e.load_text(POLICY, "t.rules")
    return e


async def test_a_proof_names_each_goal_its_rule_location_and_description() -> None:
    proof = await engine().prove("allow", "alice", "read", "doc1")
    assert proof is not None
    assert proof_lines(proof[0].to_dict()) == [
        "allow(alice, read, doc1)  [rule owner @ t.rules:4]",
        "  # owners may read",
        "  owner(doc1, alice)  [fact @ t.rules:5]",
        "  not (banned(alice))  [no proof of it]",
    ]


async def test_a_why_not_names_the_failed_goal_and_the_bindings() -> None:
    why = await engine().why_not("allow", "bob", "read", "doc1")
    assert why_not_lines(why[0].to_dict(), indent="  ") == [
        "  rule owner @ t.rules:4 matched allow(bob, read, doc1)",
        "    but owner(doc1, bob) has no proof @ t.rules:4:24",
        "    with ?u=bob, ?d=doc1",
    ]


def test_binding_values_that_are_not_strings_print_as_json() -> None:
    w = {"rule": "r", "location": "a:1", "goal": "p(1)", "failed_goal": "q(?x)",
         "failed_location": "a:1:9", "bindings": {"?n": 1, "?b": True, "?l": ["a", None]}}
    assert why_not_lines(w)[2] == '  with ?n=1, ?b=true, ?l=["a", null]'


async def test_a_proof_cut_at_the_depth_limit_says_so() -> None:
    proof = await engine().prove("chain", MAX_PROOF_DEPTH * 2)
    assert proof is not None
    lines = proof_lines(proof[0].to_dict())
    assert lines[-1] == "  " * MAX_PROOF_DEPTH + "[deeper proofs left out]"


def test_nesting_deeper_than_the_recursion_limit() -> None:
    node: dict[str, Any] = {"goal": "g", "kind": "table"}
    for _ in range(5000):  # an explanation read back from a log is not bounded by the engine
        node = {"goal": "g", "kind": "rule", "rule": "r", "children": [node]}
    assert len(proof_lines(node)) == 5001


def test_colours_only_when_asked() -> None:
    node = {"goal": "p(a)", "kind": "fact", "location": "a:1"}
    assert proof_lines(node, Style(color=False)) == ["p(a)  [fact @ a:1]"]
    coloured = "\033[1mp(a)\033[0m  \033[2m[fact @ a:1]\033[0m"
    assert proof_lines(node, Style(color=True)) == [coloured]
