"""Proof trees and "why not" explanations, and their JSON form (``render`` prints that)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .ast import Clause
from .terms import Struct, format_call, format_term, to_json

if TYPE_CHECKING:
    from .program import CompiledClause

MAX_PROOF_DEPTH = 100  # levels of a proof tree in an explanation
# a query's proofs (/v1/query, siamese query): the goal asked is one level of its own
QUERY_PROOF_DEPTH = MAX_PROOF_DEPTH + 1
MAX_GOAL_TEXT = 300  # a goal holding a fetched document must not bloat every explanation


def shorten(text: str, limit: int = MAX_GOAL_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class ProofNode:
    """One proved goal: by a rule (with the proofs of its body), a fact, a built-in,
    a negation (``not G`` with no proof of G) or a tabled answer."""

    goal: Struct | str
    kind: str  # "rule" | "fact" | "builtin" | "not" | "table"
    rule: str | None  # the rule's @id, or file:line
    location: str | None  # file:line of the rule or fact
    children: list[ProofNode] = field(default_factory=list)
    clause: Clause | None = field(default=None, repr=False, compare=False)
    # made once for the proofs that tables keep and many explanations share (read-only)
    _json: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _height: int = field(default=0, init=False, repr=False, compare=False)
    _rules: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)
    _shared: tuple[dict[str, Any], tuple[str, ...], int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def node(self) -> ProofNode:
        """Itself (a table keeps proofs as nodes, or pending: see events.PendingProof)."""
        return self

    def shared_json(self) -> dict[str, Any]:
        """``to_dict()``, made once: callers must not change it."""
        if self._json is None:
            self._json = self.to_dict()
        return self._json

    @property
    def height(self) -> int:
        """Levels of the tree under and including this node (made without recursion: a
        proof through a table over a long chain is thousands of levels deep)."""
        if not self._height:
            stack: list[ProofNode] = [self]
            while stack:
                node = stack[-1]
                todo = [c for c in node.children if not c._height]
                if todo:
                    stack.extend(todo)
                    continue
                stack.pop()
                node._height = 1 + max((c._height for c in node.children), default=0)
        return self._height

    def shared_rule_ids(self) -> tuple[str, ...]:
        """``rule_ids()``, made once."""
        if self._rules is None:
            self._rules = tuple(self.rule_ids())
        return self._rules

    def shared(self) -> tuple[dict[str, Any], tuple[str, ...], int]:
        """``(shared_json(), shared_rule_ids(), height)`` in one call (a tabled answer's proof
        is asked for them by every explanation that uses the answer)."""
        if self._shared is None:
            self._shared = (self.shared_json(), self.shared_rule_ids(), self.height)
        return self._shared

    @property
    def goal_text(self) -> str:
        text = self.goal if isinstance(self.goal, str) else format_term(self.goal)
        return shorten(text)

    def to_dict(self, depth: int = MAX_PROOF_DEPTH) -> dict[str, Any]:
        """The proof as JSON-ready dicts; below ``depth`` levels a node says ``truncated``
        (JSON encoders stop at a few hundred levels of nesting, proofs need not)."""
        d: dict[str, Any] = {"goal": self.goal_text, "kind": self.kind}
        if self.rule is not None:
            d["rule"] = self.rule
        if self.location is not None:
            d["location"] = self.location
        if self.clause is not None and self.clause.description:
            d["description"] = self.clause.description
        if self.children:
            if depth <= 1:
                d["truncated"] = True
            else:
                d["children"] = [c.to_dict(depth - 1) for c in self.children]
        return d

    def _preorder(self) -> list[ProofNode]:
        """The nodes, parents before children, in order (without recursion)."""
        out: list[ProofNode] = []
        stack: list[ProofNode] = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def rule_ids(self) -> list[str]:
        return [n.rule for n in self._preorder() if n.kind == "rule" and n.rule]

    def fact_locations(self) -> list[str]:
        return [n.location for n in self._preorder() if n.kind == "fact" and n.location]


@dataclass
class WhyNot:
    """Why a clause did not prove a goal: its head matched, and ``failed_goal`` (at
    ``failed_location``) had no proof with the ``bindings`` the goals before it gave."""

    rule: str
    location: str
    goal: Struct
    failed_goal: str
    failed_location: str
    bindings: dict[str, Any]
    nested: list[WhyNot] = field(default_factory=list)
    # every binding is a string (a compiled body's): the JSON holds the bindings as they are
    strings: bool = field(default=False, repr=False, compare=False)
    _json: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The reason as JSON-ready dicts, made once: callers must not change it."""
        if self._json is None:
            self._json = self._make_dict()
        return self._json

    def _make_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rule": self.rule,
            "location": self.location,
            "goal": shorten(format_call(self.goal.name, self.goal.args)),
            "failed_goal": shorten(self.failed_goal),
            "failed_location": self.failed_location,
            "bindings": self.bindings if self.strings else {
                k: v if type(v) is str else to_json(v) for k, v in self.bindings.items()
            },
        }
        if self.nested:
            d["because"] = [n.to_dict() for n in self.nested]
        return d


# --- the nodes of a proof's JSON (ProofNode.to_dict makes the same from a tree) ---------------


def fact_node(name: str, row: tuple[Any, ...], location: str) -> dict[str, Any]:
    """A fact's node of a proof's JSON (rows are ground: the call is the row)."""
    return {"goal": shorten(format_call(name, row)), "kind": "fact", "location": location}


def rule_node(cc: CompiledClause, goal_text: str) -> dict[str, Any]:
    """A rule's node of a proof's JSON, without its children (``ProofNode.to_dict``)."""
    d: dict[str, Any] = {"goal": shorten(goal_text), "kind": "rule", "rule": cc.label,
                         "location": cc.location}
    description = cc.clause.description
    if description:
        d["description"] = description
    return d


def leaf_node(goal_text: str, kind: str) -> dict[str, Any]:
    """A node of a proof's JSON for a built-in, a negation or a table's answer shown
    without its own proof."""
    return {"goal": shorten(goal_text), "kind": kind}
