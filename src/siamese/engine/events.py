"""Proof events, and every proof made from them: trees (:class:`ProofNode`) and JSON.

A query that explains (``proofs=True``) records what proved each goal as a persistent
linked list of events ``(event, older_events)``, newest first; backtracking drops events
by going back to an older list, at no cost. An event is one of:

==========================================  ===========================================
``("rule", goal, compiled_clause)``         the goal's proof starts with this rule; the
                                            events up to the matching ``("exit",)`` are
                                            its body's
``("exit",)``                               the end of a rule's body
``("fact", goal, row_index)``               the goal matched a fact
``("builtin", goal)``                       a built-in succeeded
``("not", goal)``                           a negation succeeded (its goals had no proof)
``("answer", goal, table, answer)``         the goal took an answer of a table (whose
                                            proof the table keeps, when it explains)
==========================================  ===========================================

Every proof's JSON is put together here: by :func:`proof_json` from events and by
:func:`compiled_proof` from a compiled body's choices, of the nodes that
:mod:`~siamese.engine.proof` makes (the one place that knows a node's fields).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .goals import (
    CALL,
    G_ARGS,
    G_CALLEE,
    G_OP,
    NOT,
    build_goal,
    call_text,
    copy_goal,
    goal_text,
)
from .proof import MAX_PROOF_DEPTH, ProofNode, leaf_node, rule_node
from .tables import ground_key, variant_key
from .terms import Struct, Var, format_call, resolve

if TYPE_CHECKING:
    from .program import CompiledClause, Predicate
    from .tables import Table

__all__ = ["EventProof", "PendingProof", "ProofJson", "compiled_proof", "copy_events",
           "proof_from_events", "proof_json", "snapshot"]

ProofJson = tuple[list[dict[str, Any]], list[str]]


def _not_text(goal: tuple[Any, ...]) -> str:
    return "not (" + ", ".join(goal_text(g) for g in goal[G_CALLEE]) + ")"


def _items(events: Any) -> list[Any]:
    """The events oldest first."""
    items = []
    while events is not None:
        items.append(events[0])
        events = events[1]
    items.reverse()
    return items


def proof_json(events: Any, top: int = 1) -> ProofJson:
    """The proof of a solution as the JSON of ``ProofNode.to_dict`` and its rule ids (the
    deciding rule first, each once), made straight from the events: no tree of nodes and no
    term per goal on the way. ``top`` is the level of its roots in the explanation (2 for
    the body of a rule shown above them). A proof deep enough to be truncated takes the
    tree's path."""
    items = []
    e = events
    while e is not None:
        items.append(e[0])
        e = e[1]
    root: list[dict[str, Any]] = []
    stack: list[list[dict[str, Any]]] = [root]
    rules_open: list[dict[str, Any]] = []
    rules: list[str] = []
    for ev in reversed(items):
        kind = ev[0]
        if kind == "exit":
            if rules_open:
                d = rules_open.pop()
                stack.pop()
                if not d["children"]:
                    del d["children"]
            continue
        goal = ev[1]
        level = len(stack) + top - 1  # of a node added now: ``top`` for the roots
        if kind == "rule":
            if level >= MAX_PROOF_DEPTH:
                return _proof_json_of_tree(events, top)
            cc = ev[2]
            d = rule_node(cc, call_text(goal))
            children: list[dict[str, Any]] = []
            d["children"] = children
            stack[-1].append(d)
            stack.append(children)
            rules_open.append(d)
            if cc.label not in rules:
                rules.append(cc.label)
        elif kind == "fact":
            stack[-1].append(goal[G_CALLEE].fact_json(ev[2]))
        elif kind == "builtin":
            stack[-1].append(leaf_node(call_text(goal), "builtin"))
        elif kind == "not":
            stack[-1].append(leaf_node(_not_text(goal), "not"))
        elif kind == "answer":
            table: Table = ev[2]
            sub = None
            if table.proofs is not None:
                k = ground_key(ev[3])  # the key Machine._answer gave the answer (and its proof)
                sub = table.proofs.get(k if k is not None else variant_key(ev[3]))
            if sub is None:
                stack[-1].append(leaf_node(call_text(goal), "table"))
                continue
            sub_json, sub_rules, height = sub.shared()
            if level + height - 1 >= MAX_PROOF_DEPTH:
                return _proof_json_of_tree(events, top)
            stack[-1].append(sub_json)
            for r in sub_rules:
                if r not in rules:
                    rules.append(r)
    return root, rules


def _proof_json_of_tree(events: Any, top: int) -> ProofJson:
    nodes = proof_from_events(events)
    rules: list[str] = []
    for node in nodes:
        for r in node.rule_ids():
            if r not in rules:
                rules.append(r)
    return [n.to_dict(MAX_PROOF_DEPTH - top + 1) for n in nodes], rules


def proof_from_events(events: Any) -> list[ProofNode]:
    """Rebuild proof trees from the persistent event list of a solution."""
    return _tree(snapshot(events))


def snapshot(events: Any) -> tuple[Any, ...]:
    """The events of a solution, oldest first, with their goals' values as of now: all a
    proof tree needs once the bindings are undone (see :class:`EventProof`)."""
    out: list[Any] = []
    e = events
    while e is not None:
        ev = e[0]
        e = e[1]
        kind = ev[0]
        if kind == "exit":
            out.append(ev)
        elif kind == "not":
            out.append(("not", _not_text(ev[1])))
        else:
            goal = ev[1]
            out.append((kind, goal[G_CALLEE], tuple([resolve(a) for a in goal[G_ARGS]]),
                        *ev[2:]))
    out.reverse()
    return tuple(out)


def _tree(items: tuple[Any, ...]) -> list[ProofNode]:
    root: list[ProofNode] = []
    stack: list[list[ProofNode]] = [root]
    for ev in items:
        kind = ev[0]
        if kind == "exit":
            if len(stack) > 1:
                stack.pop()
            continue
        if kind == "not":
            stack[-1].append(ProofNode(ev[1], "not", None, None, []))
            continue
        term = Struct(ev[1].name, ev[2])
        if kind == "rule":
            cc: CompiledClause = ev[3]
            node = ProofNode(term, "rule", cc.clause.label, cc.clause.location, [], cc.clause)
            stack[-1].append(node)
            stack.append(node.children)
        elif kind == "fact":
            pred: Predicate = ev[1]
            stack[-1].append(ProofNode(term, "fact", None, pred.row_location(ev[3]), []))
        elif kind == "builtin":
            stack[-1].append(ProofNode(term, "builtin", None, None, []))
        elif kind == "answer":
            sub = _answer_proof(ev[3], ev[4])
            stack[-1].append(sub.node() if sub is not None else
                             ProofNode(term, "table", None, None, []))
    return root


def _answer_proof(table: Table, ans: tuple[Any, ...]) -> Any:
    """The proof a table keeps for one of its answers (by the key the machine gave it)."""
    if table.proofs is None:
        return None
    k = ground_key(ans)
    return table.proofs.get(k if k is not None else variant_key(ans))


class _Pending:
    """A table's proof of an answer, its tree made at the first need (most answers never
    show one): :meth:`subproofs` are the pending proofs it holds, :meth:`build` the tree
    once they are made."""

    __slots__ = ("_node",)

    def __init__(self) -> None:
        self._node: ProofNode | None = None

    def node(self) -> ProofNode:
        return self._node if self._node is not None else _force(self)

    def shared(self) -> tuple[dict[str, Any], tuple[str, ...], int]:
        return self.node().shared()

    def subproofs(self) -> list[Any]:
        raise NotImplementedError

    def build(self) -> ProofNode:
        raise NotImplementedError


class EventProof(_Pending):
    """The proof of a table's answer that the interpreter found, kept as the snapshot of
    its events."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Any, ...]) -> None:
        super().__init__()
        self.items = items

    def subproofs(self) -> list[Any]:
        return [_answer_proof(ev[3], ev[4]) for ev in self.items if ev[0] == "answer"]

    def build(self) -> ProofNode:
        return _tree(self.items)[0]


def _force(proof: Any) -> ProofNode:
    """Make a pending proof's tree, and first those of the pending proofs it holds, without
    recursion (a proof through a table over a long chain is thousands of levels deep)."""
    stack = [proof]
    while stack:
        p = stack[-1]
        if p._node is not None:
            stack.pop()
            continue
        pending = [sub for sub in p.subproofs()
                   if type(sub) is not ProofNode and sub is not None and sub._node is None]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        p._node = p.build()
    node: ProofNode = proof._node
    return node


def compiled_proof(
    cc: CompiledClause, goal: tuple[Any, ...], chosen: tuple[Any, ...], values: tuple[Any, ...]
) -> ProofJson | None:
    """The proof JSON of a compiled body's proof, as :func:`proof_json` makes it from the
    interpreter's events: ``chosen`` has, per body goal, what proved it (see
    :class:`~siamese.engine.fastpath.FastClause`) and ``values`` the clause's variables.
    None if a sub-proof is too deep to show this way."""
    rules = [cc.label]
    children = _compiled_children(cc, chosen, values, 2, rules)
    if children is None:
        return None
    node = rule_node(cc, call_text(goal))
    node["children"] = children
    return [node], rules


def _compiled_children(
    cc: CompiledClause, chosen: tuple[Any, ...], values: tuple[Any, ...], level: int,
    rules: list[str],
) -> list[dict[str, Any]] | None:
    """The nodes of a compiled body's goals at ``level`` (None: too deep)."""
    children: list[dict[str, Any]] = []
    for g, ch in zip(cc.body, chosen):
        op = g[G_OP]
        if op != CALL:
            built = build_goal(g, list(values))
            if op == NOT:
                children.append(leaf_node(_not_text(built), "not"))
            else:
                children.append(leaf_node(call_text(built), "builtin"))
            continue
        pred: Predicate = g[G_CALLEE]
        if type(ch) is int:
            children.append(pred.fact_json(ch))
            continue
        if len(ch) == 2:  # (table, answer)
            table, ans = ch
            sub = table.proofs.get(ans) if table.proofs is not None else None
            if sub is None:
                children.append(leaf_node(format_call(pred.name, ans), "table"))
                continue
            sub_json, sub_rules, height = sub.shared()
            if level + height - 1 >= MAX_PROOF_DEPTH:
                return None
            children.append(sub_json)
            for r in sub_rules:
                if r not in rules:
                    rules.append(r)
            continue
        # a rule's proof, compiled: (clause, chosen, values)
        if level >= MAX_PROOF_DEPTH:
            return None
        sub_cc, sub_chosen, sub_values = ch
        d = rule_node(sub_cc, call_text(build_goal(g, list(values))))
        if sub_cc.label not in rules:
            rules.append(sub_cc.label)
        sub_children = _compiled_children(sub_cc, sub_chosen, sub_values, level + 1, rules)
        if sub_children is None:
            return None
        if sub_children:
            d["children"] = sub_children
        children.append(d)
    return children


class PendingProof(_Pending):
    """The proof of a table's answer that compiled code found, kept as its choices (see
    :class:`~siamese.engine.fastpath.Solver`): the tree :func:`proof_from_events` would
    make of the same derivation."""

    __slots__ = ("answer", "choice", "pred")

    def __init__(self, pred: Predicate, answer: tuple[Any, ...], choice: Any) -> None:
        super().__init__()
        self.pred = pred
        self.answer = answer
        self.choice = choice

    def subproofs(self) -> list[Any]:
        out: list[Any] = []
        todo = [self.choice]
        while todo:
            choice = todo.pop()
            if type(choice) is int:
                continue
            for g, ch in zip(choice[0].body, choice[1]):
                if g[G_OP] != CALL or type(ch) is int or ch is None:
                    continue
                if len(ch) == 2:
                    out.append(_answer_proof(*ch))
                else:
                    todo.append(ch)
        return out

    def build(self) -> ProofNode:
        return _choice_node(self.pred, self.answer, self.choice)


def _choice_node(pred: Predicate, args: tuple[Any, ...], choice: Any) -> ProofNode:
    """The proof tree of a call of ``pred`` with ``args`` (resolved) proved by ``choice``:
    a fact's row index, or (clause, chosen, values) of a compiled body."""
    term = Struct(pred.name, args)
    if type(choice) is int:
        return ProofNode(term, "fact", None, pred.row_location(choice), [])
    cc, chosen, values = choice
    children: list[ProofNode] = []
    for g, ch in zip(cc.body, chosen):
        built = build_goal(g, list(values))
        op = g[G_OP]
        if op == NOT:
            children.append(ProofNode(_not_text(built), "not", None, None, []))
            continue
        goal_term = Struct(g[G_CALLEE].name, built[G_ARGS])
        if op != CALL:
            children.append(ProofNode(goal_term, "builtin", None, None, []))
        elif type(ch) is int:  # a fact (of a predicate that may have rules too)
            children.append(ProofNode(goal_term, "fact", None, g[G_CALLEE].row_location(ch), []))
        elif len(ch) == 2:  # (table, answer)
            sub = _answer_proof(*ch)
            children.append(sub.node() if sub is not None else
                            ProofNode(goal_term, "table", None, None, []))
        else:  # a rule's solution: a fact of it, or (clause, chosen, values)
            children.append(_choice_node(g[G_CALLEE], built[G_ARGS], ch))
    return ProofNode(term, "rule", cc.clause.label, cc.clause.location, children, cc.clause)


def copy_events(events: Any, mapping: dict[Var, Var]) -> Any:
    """The events with the goals' variables renamed by ``mapping`` (a consumer's copy)."""
    out: Any = None
    for ev in _items(events):
        if ev[0] in ("rule", "fact", "builtin", "not", "answer") and ev[1] is not None:
            ev = (ev[0], copy_goal(ev[1], mapping)) + ev[2:]  # noqa: RUF005 - faster than *
        out = (ev, out)
    return out

