"""Conditions on the unknown resource, as a plan leaves them: atoms (a comparison, a
membership, the negation of a condition) joined in disjunctive normal form, simplified, and
written in Cerbos' query-plan expression format or as text.

A condition is a set of *branches* (or), each a frozenset of atoms (and). An unknown is the
resource's id or one of its properties: ``request.resource.id``,
``request.resource.attr.<name>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..engine import format_term, to_json

__all__ = [
    "FALSE",
    "ID",
    "TRUE",
    "Atom",
    "Branch",
    "Cmp",
    "Condition",
    "Const",
    "Has",
    "In",
    "Neg",
    "Unknown",
    "attr",
    "simplify",
    "simplify_branch",
    "to_cerbos",
    "to_text",
]


@dataclass(frozen=True)
class Unknown:
    """What the plan leaves open: a variable of the filter."""

    variable: str

    def __str__(self) -> str:
        return self.variable.removeprefix("request.")


ID = Unknown("request.resource.id")
ATTR = "request.resource.attr."


def attr(path: str) -> Unknown:
    return Unknown(ATTR + path)


def _key(term: Any) -> tuple[str, Any]:
    """What makes two values the same, as the engine's unification says (booleans apart from
    numbers, 1 the same as 1.0, strings apart from both)."""
    t = type(term)
    if t is bool:
        return ("b", term)
    if t is int or t is float:
        return ("n", term)
    if t is str:
        return ("s", term)
    return ("t", format_term(term))


@dataclass(frozen=True)
class Const:
    """A known value (a ground term), compared by the engine's equality."""

    term: Any = field(compare=False, hash=False)
    key: tuple[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _key(self.term))

    def json(self) -> Any:
        return to_json(self.term)

    def __str__(self) -> str:
        return format_term(self.term) if type(self.term) is not str else \
            '"' + self.term.replace("\\", "\\\\").replace('"', '\\"') + '"'


Operand = Unknown | Const

FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class Cmp:
    op: str  # eq, ne, lt, le, gt, ge
    left: Unknown
    right: Operand


@dataclass(frozen=True)
class In:
    left: Unknown
    values: frozenset[Const]


@dataclass(frozen=True)
class Has:
    """The resource has this property (a policy read it with ``input``, which fails when it
    is missing). Written as ``eq(x, x)``: false for a missing property, as every comparison
    is; left out where another comparison of the property already says it."""

    left: Unknown


@dataclass(frozen=True)
class Neg:
    """``not (condition)``: true when the condition is false, and also when a property it
    reads is missing (the engine's ``not`` of an ``input`` goal that fails)."""

    condition: frozenset[frozenset[Any]]


Atom = Cmp | In | Has | Neg
Branch = frozenset[Atom]
Condition = frozenset[Branch]
TRUE: Condition = frozenset({frozenset()})
FALSE: Condition = frozenset()


def cmp(op: str, a: Operand, b: Operand) -> Atom:
    """A comparison with an unknown on its left (an unknown compared with an unknown keeps
    the order given)."""
    if isinstance(a, Unknown):
        return Cmp(op, a, b)
    assert isinstance(b, Unknown)
    return Cmp(FLIP[op], b, a)


def _members(atom: Atom) -> tuple[Unknown, frozenset[Const]] | None:
    if isinstance(atom, In):
        return atom.left, atom.values
    if isinstance(atom, Cmp) and atom.op == "eq" and isinstance(atom.right, Const):
        return atom.left, frozenset({atom.right})
    return None


def _ordered(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    numbers = (int, float)
    return (ta in numbers and tb in numbers) or (ta is str and tb is str)


_TESTS = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
          "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


def _holds(op: str, value: Const, right: Const) -> bool | None:
    """Whether ``value op right`` holds for known values (None: cannot tell)."""
    if op == "eq":
        return value.key == right.key
    if op == "ne":
        return value.key != right.key
    if type(value.term) is bool or type(right.term) is bool:
        return None if op not in _TESTS else False
    if not _ordered(value.term, right.term):
        return False  # values of different types are not ordered: the engine's comparison fails
    return bool(_TESTS[op](value.term, right.term))


def simplify_branch(atoms: Iterable[Atom]) -> Branch | None:
    """The atoms of one branch, simplified: memberships of the same unknown intersected,
    comparisons decided where the unknown's value is known; None when they contradict."""
    members: dict[Unknown, frozenset[Const]] = {}
    rest: list[Atom] = []
    present: set[Unknown] = set()
    for atom in atoms:
        if isinstance(atom, Has):
            present.add(atom.left)
            continue
        if isinstance(atom, Neg):
            inner = simplify(atom.condition)
            if inner == TRUE:
                return None
            if inner != FALSE:
                rest.append(Neg(inner))
            continue
        m = _members(atom)
        if m is None:
            rest.append(atom)
            continue
        u, values = m
        values = members[u] & values if u in members else values
        if not values:
            return None
        members[u] = values
    kept: set[Atom] = set()
    for atom in rest:
        if isinstance(atom, Neg):
            decided = _negation_on_members(atom, members)
            if decided is None:
                kept.add(atom)
                continue
            u, passing = decided
            if not passing:
                return None
            members[u] = passing
            continue
        if isinstance(atom, Cmp) and atom.left in members and isinstance(atom.right, Const):
            verdicts = {_holds(atom.op, v, atom.right) for v in members[atom.left]}
            if verdicts == {False}:
                return None
            if verdicts == {True}:
                continue
            if None not in verdicts:  # some values pass: keep only those
                passing = frozenset(v for v in members[atom.left]
                                    if _holds(atom.op, v, atom.right))
                members[atom.left] = passing
                continue
        kept.add(atom)
    for u, values in members.items():
        if len(values) == 1:
            kept.add(Cmp("eq", u, next(iter(values))))
        else:
            kept.add(In(u, values))
    # a property compared (outside a negation) is present wherever the comparison holds
    compared = set(members)
    for atom in kept:
        if isinstance(atom, Cmp):
            compared.add(atom.left)
            if isinstance(atom.right, Unknown):
                compared.add(atom.right)
    kept.update(Has(u) for u in present - compared)
    return frozenset(kept)


def _decide(atom: Atom, value: Const) -> bool | None:
    """Whether an atom on one unknown holds when the unknown is ``value``."""
    if isinstance(atom, Has):
        return True
    if isinstance(atom, In):
        return value in atom.values
    if isinstance(atom, Cmp) and isinstance(atom.right, Const):
        return _holds(atom.op, value, atom.right)
    return None


def _negation_on_members(
    neg: Neg, members: dict[Unknown, frozenset[Const]]
) -> tuple[Unknown, frozenset[Const]] | None:
    """A ``not (...)`` on a single unknown whose possible values the branch already lists,
    decided value by value: (the unknown, the values for which it holds), or None. (The
    unknown has a value there, so the negation's "missing property" case cannot arise.)"""
    atoms = [a for b in neg.condition for a in b]
    lefts = {a.left for a in atoms if not isinstance(a, Neg)}
    if len(lefts) != 1 or any(isinstance(a, Neg) for a in atoms):
        return None
    (u,) = lefts
    if u not in members:
        return None
    passing = set()
    for value in members[u]:
        inner = False
        for b in neg.condition:
            verdicts = [_decide(a, value) for a in b]
            if None in verdicts:
                return None
            if all(verdicts):
                inner = True
                break
        if not inner:
            passing.add(value)
    return u, frozenset(passing)


def simplify(branches: Iterable[Iterable[Atom]]) -> Condition:
    """A disjunction simplified: contradicting branches dropped, duplicates and branches
    implied by a smaller one removed, branches that differ only in the value of one unknown
    merged into a membership; TRUE when a branch has no atom left."""
    out: set[Branch] = set()
    for b in branches:
        s = simplify_branch(b)
        if s is None:
            continue
        if not s:
            return TRUE
        out.add(s)
    merged = _merge(out)
    # absorption: a branch that holds every atom of a smaller one adds nothing
    kept = [b for b in merged if not any(o < b for o in merged)]
    return frozenset(kept)


def _merge(branches: set[Branch]) -> set[Branch]:
    """Branches alike but for the values of one unknown's membership, as one membership."""
    unknowns = sorted({m[0] for b in branches for a in b if (m := _members(a)) is not None},
                      key=lambda u: (u != ID, u.variable))
    for u in unknowns:
        groups: dict[Branch, set[Const]] = {}
        others: set[Branch] = set()
        for b in branches:
            mine = [a for a in b if (m := _members(a)) is not None and m[0] == u]
            if len(mine) != 1:
                others.add(b)
                continue
            m = _members(mine[0])
            assert m is not None
            groups.setdefault(b - {mine[0]}, set()).update(m[1])
        branches = set(others)
        for rest, values in groups.items():
            atom: Atom = (Cmp("eq", u, next(iter(values))) if len(values) == 1
                          else In(u, frozenset(values)))
            branches.add(rest | {atom})
    return branches


# --- writing conditions ------------------------------------------------------------------


def _sorted_values(values: frozenset[Const]) -> list[Const]:
    return sorted(values, key=lambda c: (c.key[0], str(c.key[1])))


def _atom_order(atom: Atom) -> tuple[Any, ...]:
    if isinstance(atom, Neg):
        return (2, "")
    return (0 if atom.left == ID else 1, atom.left.variable, str(atom))


def _branch_order(b: Branch) -> list[Atom]:
    return sorted(b, key=_atom_order)


def _operand(x: Operand) -> dict[str, Any]:
    return {"variable": x.variable} if isinstance(x, Unknown) else {"value": x.json()}


def _atom_cerbos(atom: Atom) -> dict[str, Any]:
    if isinstance(atom, Has):
        operands = [_operand(atom.left), _operand(atom.left)]
        return {"expression": {"operator": "eq", "operands": operands}}
    if isinstance(atom, Cmp):
        operands = [_operand(atom.left), _operand(atom.right)]
        return {"expression": {"operator": atom.op, "operands": operands}}
    if isinstance(atom, In):
        values = [v.json() for v in _sorted_values(atom.values)]
        return {"expression": {"operator": "in", "operands": [_operand(atom.left),
                                                              {"value": values}]}}
    return {"expression": {"operator": "not", "operands": [to_cerbos(atom.condition)]}}


def _join(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    if len(parts) == 1:
        return parts[0]
    return {"expression": {"operator": op, "operands": parts}}


def to_cerbos(condition: Condition) -> dict[str, Any]:
    """The condition as a Cerbos query-plan operand (``{"expression": ...}``, or
    ``{"value": true|false}`` for a constant)."""
    if condition == TRUE:
        return {"value": True}
    if condition == FALSE:
        return {"value": False}
    branches = sorted((_branch_order(b) for b in condition), key=lambda b: [str(a) for a in b])
    return _join("or", [_join("and", [_atom_cerbos(a) for a in b]) for b in branches])


def both(allow: Condition, deny: Condition) -> dict[str, Any]:
    """``allow and not deny`` as a Cerbos operand (neither constant)."""
    parts = []
    if allow != TRUE:
        parts.append(to_cerbos(allow))
    if deny != FALSE:
        parts.append({"expression": {"operator": "not", "operands": [to_cerbos(deny)]}})
    return _join("and", parts)


def _atom_text(atom: Atom) -> str:
    if isinstance(atom, Has):
        return f"has({atom.left})"
    if isinstance(atom, Cmp):
        return f"{atom.left} {SYMBOL[atom.op]} {atom.right}"
    if isinstance(atom, In):
        return f"{atom.left} in [{', '.join(str(v) for v in _sorted_values(atom.values))}]"
    return f"not ({to_text(atom.condition)})"


def to_text(condition: Condition) -> str:
    """The condition as one line of text: ``resource.attr.department == "eng" and ...``."""
    if condition == TRUE:
        return "true"
    if condition == FALSE:
        return "false"
    texts = sorted(" and ".join(_atom_text(a) for a in _branch_order(b)) for b in condition)
    if len(texts) == 1:
        return texts[0]
    return " or ".join(f"({t})" if " and " in t else t for t in texts)
