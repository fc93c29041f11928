"""Terms of the policy language and the operations every part of the engine shares.

Runtime representation (chosen for speed, see ENGINE-NOTES.md):

* strings/atoms are ``str``; integers ``int``; floats ``float``; ``true``/``false`` are ``bool``
* lists are ``tuple``
* compound terms ``f(a, b)`` are :class:`Struct`
* JSON objects (from ``input`` or fetched data) are :class:`JsonMap`, a hashable read-only dict
* variables are :class:`Var`; a variable is bound by setting ``ref`` and recording it on a trail,
  so backtracking undoes bindings by popping the trail (no dict copies).

``bool`` is a subclass of ``int`` in Python, so ``True == 1``. Unification keeps them apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from .errors import LimitExceeded

__all__ = [
    "MAX_TERM_NODES",
    "UNBOUND",
    "JsonMap",
    "Struct",
    "Term",
    "Var",
    "bind",
    "deref",
    "format_term",
    "from_json",
    "is_ground",
    "resolve",
    "same_value",
    "to_json",
    "undo",
    "unify",
]


class _Unbound:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNBOUND"


UNBOUND: Any = _Unbound()


class Var:
    """A logic variable. ``name`` is for display only; identity is the object."""

    __slots__ = ("name", "ref")

    def __init__(self, name: str = "_") -> None:
        self.ref: Any = UNBOUND
        self.name = name

    def __repr__(self) -> str:
        if self.ref is UNBOUND:
            return self.name if self.name.startswith(("?", "_")) else "?" + self.name
        return f"{self.name}={self.ref!r}"


class Struct:
    """A compound term ``name(args...)``; also used for goals."""

    __slots__ = ("_hash", "args", "name")

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        self.name = name
        self.args = args
        self._hash: int | None = None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not Struct:
            return NotImplemented
        return _same_compound(self, other)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash((self.name, self.args))
        return h

    @property
    def arity(self) -> int:
        return len(self.args)

    def __repr__(self) -> str:
        return format_term(self)


class JsonMap(dict):
    """A JSON object as a term: a dict that can be hashed (it is never mutated)."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))


Term = Any  # str | int | float | bool | tuple | Struct | JsonMap | Var

# The most nodes (atoms, lists, compound terms; a bound variable counts as its value) a
# term may have as a tree, for every walker that copies, keys, compares or prints one. A
# rule can build a term that shares its subterms, ``h(?x, f(?x, ?x))`` called n times, in
# n steps: its tree has 2^n leaves, and a walk of it would never end. Such a walk raises
# LimitExceeded("max_term_nodes") instead (Limits.max_term_nodes). The bound
# leaves room for any value a request can carry: a 1 MB JSON body has at most about
# 500,000 values.
MAX_TERM_NODES = 1_000_000
# an atom counts 1, a list or a compound term 10 (1 as an item of its parent, + _COMPOUND):
# a walk spends about ten times longer on one, so a bound on the count is a bound on time,
# and input lists of atoms (flat, cheap to walk) get the most room
_COMPOUND = 9


def too_big(limit: int, what: str = "a term") -> LimitExceeded:
    return LimitExceeded("max_term_nodes", limit, f"{what} with more nodes (a term built by rules)")


def deref(t: Term) -> Term:
    while type(t) is Var:
        r = t.ref
        if r is UNBOUND:
            return t
        t = r
    return t


def bind(v: Var, t: Term, trail: list[Var]) -> None:
    v.ref = t
    trail.append(v)


def undo(trail: list[Var], mark: int) -> None:
    while len(trail) > mark:
        trail.pop().ref = UNBOUND


def same_value(a: Any, b: Any) -> bool:
    """Equality of two non-variable atomic values, keeping booleans apart from numbers."""
    if a is b:
        return True
    ta = type(a)
    tb = type(b)
    if ta is str or tb is str:
        return ta is tb and a == b
    if (ta is bool) is not (tb is bool):
        return False
    if ta is tuple or ta is Struct:
        return _same_compound(a, b)
    if ta is JsonMap:
        return a == b and _deep_same(a, b)
    return bool(a == b)


def _deep_same(a: Any, b: Any) -> bool:
    if type(a) is tuple and type(b) is tuple:
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return True


def _same_compound(a: Any, b: Any) -> bool:
    """``same_value`` of a list or compound term: each pair of subterms compared once (a
    term a rule built by doubling shares its subterms: its tree is exponentially larger)."""
    seen: set[tuple[int, int]] = set()
    stack = [(a, b)]
    while stack:
        a, b = stack.pop()
        if a is b:
            continue
        ta = type(a)
        tb = type(b)
        if ta is tuple or ta is Struct:
            if tb is not ta:
                return False
            if ta is Struct:
                if a.name != b.name:
                    return False
                a = a.args
                b = b.args
            if len(a) != len(b):
                return False
            pair = (id(a), id(b))
            if pair in seen:
                continue
            seen.add(pair)
            stack.extend(zip(a, b))
        elif tb is tuple or tb is Struct or not same_value(a, b):
            return False
    return True


def unify(a: Term, b: Term, trail: list[Var]) -> bool:
    """Unify two terms, recording bindings on ``trail``.

    On failure the bindings made by this call are undone, so the caller's state is
    exactly as before. With the occurs check (see :func:`_occurs`): no cyclic terms.
    """
    mark = len(trail)
    if _unify(a, b, trail):
        return True
    undo(trail, mark)
    return False


def _unify(a: Term, b: Term, trail: list[Var], seen: set[tuple[int, int]] | None = None) -> bool:
    """``seen``: the pairs of compound terms of two or more arguments already unified by
    this call. Bindings only grow during a call, so a pair met again (a subterm shared, as
    in a term a rule built by doubling) is unified already: each pair is walked once, and
    two such terms unify in time linear in their distinct nodes, not in their trees."""
    while type(a) is Var:
        r = a.ref
        if r is UNBOUND:
            break
        a = r
    while type(b) is Var:
        r = b.ref
        if r is UNBOUND:
            break
        b = r
    if a is b:
        return True
    ta = type(a)
    tb = type(b)
    if ta is Var:
        if (tb is tuple or tb is Struct) and _occurs(a, b):
            return False
        a.ref = b
        trail.append(a)
        return True
    if tb is Var:
        if (ta is tuple or ta is Struct) and _occurs(b, a):
            return False
        b.ref = a
        trail.append(b)
        return True
    if ta is str or tb is str:
        return ta is tb and a == b
    if ta is tuple:
        if tb is not tuple or len(a) != len(b):
            return False
        if len(a) > 1:
            if seen is None:
                seen = set()
            pair = (id(a), id(b))  # both alive (reachable from the roots) during the call
            if pair in seen:
                return True
            seen.add(pair)
        for x, y in zip(a, b):  # noqa: SIM110 - all(<genexpr>) adds a frame per nesting level
            if not _unify(x, y, trail, seen):
                return False
        return True
    if ta is Struct:
        if tb is not Struct or a.name != b.name or len(a.args) != len(b.args):
            return False
        if len(a.args) > 1:
            if seen is None:
                seen = set()
            pair = (id(a), id(b))
            if pair in seen:
                return True
            seen.add(pair)
        for x, y in zip(a.args, b.args):  # noqa: SIM110 - as above: no genexpr in the unifier
            if not _unify(x, y, trail, seen):
                return False
        return True
    if tb is tuple or tb is Struct:
        return False
    return same_value(a, b)


def _occurs(v: Var, t: Term) -> bool:
    """Whether the unbound variable ``v`` occurs in ``t``: the occurs check. Binding ``v`` to
    such a term would make it cyclic (``?x == f(?x)``), which no term walker (printing,
    hashing, tables) could finish, so that unification fails instead. Only compound terms
    are checked: binding a variable to an atom, the common case, costs nothing more. Each
    compound node is visited once, so a term that shares its subterms (a DAG, exponentially
    larger as a tree) is checked in time linear in its distinct nodes."""
    stack = [t]
    seen: set[int] = set()
    while stack:
        t = stack.pop()
        while type(t) is Var:
            r = t.ref
            if r is UNBOUND:
                break
            t = r
        if t is v:
            return True
        tt = type(t)
        if tt is tuple or tt is Struct:
            i = id(t)  # the term is alive (reachable from the root) while it is walked
            if i in seen:
                continue
            seen.add(i)
            stack.extend(t if tt is tuple else t.args)
    return False


def resolve(t: Term, limit: int = MAX_TERM_NODES) -> Term:
    """The term with every bound variable replaced by its value (unbound ones stay).
    Raises LimitExceeded("max_term_nodes") for a term of more than ``limit`` nodes."""
    while type(t) is Var:
        r = t.ref
        if r is UNBOUND:
            return t
        t = r
    tt = type(t)
    if tt is tuple or tt is Struct:
        return _resolve(t, [limit], limit)
    return t


def _resolve(t: Any, left: list[int], limit: int) -> Any:
    items = t if type(t) is tuple else t.args
    left[0] -= len(items) + _COMPOUND
    if left[0] < 0:
        raise too_big(limit)
    out = []
    same = True
    for x in items:
        y = x
        while type(y) is Var:
            r = y.ref
            if r is UNBOUND:
                break
            y = r
        ty = type(y)
        if ty is tuple or ty is Struct:
            y = _resolve(y, left, limit)
        if y is not x:
            same = False
        out.append(y)
    if same:  # nothing bound inside: the term itself (its hash is kept)
        return t
    return tuple(out) if type(t) is tuple else Struct(t.name, tuple(out))


def is_ground(t: Term, limit: int = MAX_TERM_NODES) -> bool:
    """Whether ``t`` holds no unbound variable (LimitExceeded past ``limit`` nodes)."""
    left = limit
    stack = [t]
    while stack:
        t = stack.pop()
        while type(t) is Var:
            r = t.ref
            if r is UNBOUND:
                return False
            t = r
        tt = type(t)
        if tt is tuple or tt is Struct:
            items = t if tt is tuple else t.args
            left -= len(items) + _COMPOUND
            if left < 0:
                raise too_big(limit)
            stack.extend(items)
    return True


def copy_term(t: Term, mapping: dict[Var, Var], limit: int = MAX_TERM_NODES) -> Term:
    """A copy of ``t`` (bindings resolved) whose unbound variables are fresh, shared via
    mapping. Raises LimitExceeded("max_term_nodes") for a term of more than ``limit`` nodes."""
    t = deref(t)
    tt = type(t)
    if tt is Var:
        nv = mapping.get(t)
        if nv is None:
            nv = mapping[t] = Var(t.name)
        return nv
    if tt is tuple or tt is Struct:
        return _copy(t, mapping, [limit], limit)
    return t


def _copy(t: Any, mapping: dict[Var, Var], left: list[int], limit: int) -> Any:
    items = t if type(t) is tuple else t.args
    left[0] -= len(items) + _COMPOUND
    if left[0] < 0:
        raise too_big(limit)
    out = []
    same = True
    for x in items:
        y = x
        while type(y) is Var:
            r = y.ref
            if r is UNBOUND:
                nv = mapping.get(y)
                if nv is None:
                    nv = mapping[y] = Var(y.name)
                y = nv
                break
            y = r
        else:
            ty = type(y)
            if ty is tuple or ty is Struct:
                y = _copy(y, mapping, left, limit)
        if y is not x:
            same = False
        out.append(y)
    if same:  # no variable inside: the term itself
        return t
    return tuple(out) if type(t) is tuple else Struct(t.name, tuple(out))


# --- conversion to and from JSON-like Python values ---------------------------------


def from_json(value: Any) -> Term:
    """A JSON value as a term: lists become tuples, objects JsonMap, null the atom ``null``."""
    if value is None:
        return "null"
    tv = type(value)
    if tv is list or tv is tuple:
        return tuple(from_json(x) for x in value)
    if tv is dict:
        return JsonMap((k, from_json(v)) for k, v in value.items())
    return value


def to_json(t: Term, limit: int = MAX_TERM_NODES) -> Any:
    """A term as a JSON-friendly Python value (unbound variables become their name).
    Raises LimitExceeded("max_term_nodes") for a term of more than ``limit`` nodes."""
    return _to_json(t, [limit], limit)


def _to_json(t: Term, left: list[int], limit: int) -> Any:
    t = deref(t)
    tt = type(t)
    if tt is tuple or tt is Struct:
        items = t if tt is tuple else t.args
        left[0] -= len(items) + _COMPOUND
        if left[0] < 0:
            raise too_big(limit)
        out = [_to_json(x, left, limit) for x in items]
        return out if tt is tuple else {t.name: out}
    if tt is JsonMap:
        return {k: _to_json(v, left, limit) for k, v in t.items()}
    if tt is Var:
        return t.name if t.name.startswith("?") else "?" + t.name
    return t


# --- printing in the text syntax ----------------------------------------------------

_KEYWORDS = frozenset({"true", "false", "not", "in", "is"})


@lru_cache(maxsize=32768)
def _atom_text(s: str) -> str:
    """An atom as written: bare when it reads back as the same atom, else quoted.
    (Cached: explanations print the same atoms over and over.)"""
    # bare: [a-z][A-Za-z0-9_]* (an ASCII identifier that starts with a lower-case letter)
    if s.isascii() and s.isidentifier() and "a" <= s[0] <= "z" and s not in _KEYWORDS:
        return s
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def format_term(t: Term, limit: int = MAX_TERM_NODES) -> str:
    """The term in the text syntax of ``*.rules`` files (parseable back).
    Raises LimitExceeded("max_term_nodes") for a term of more than ``limit`` nodes."""
    return _format(t, [limit], limit)


def _format(t: Term, left: list[int], limit: int) -> str:
    t = deref(t)
    tt = type(t)
    if tt is str:
        return _atom_text(t)
    if tt is bool:
        return "true" if t else "false"
    if tt is int or tt is float:
        return repr(t)
    if tt is Var:
        return t.name if t.name.startswith(("?", "_")) else "?" + t.name
    if tt is tuple:
        left[0] -= len(t) + _COMPOUND
        if left[0] < 0:
            raise too_big(limit)
        return "[" + ", ".join([_format(x, left, limit) for x in t]) + "]"
    if tt is Struct:
        return _format_call(t.name, t.args, left, limit)
    if tt is JsonMap:
        import json

        return json.dumps(_to_json(t, left, limit), sort_keys=True)
    return repr(t)


def format_call(name: str, args: tuple[Term, ...], limit: int = MAX_TERM_NODES) -> str:
    """``format_term(Struct(name, args))`` without the term (explanations print many)."""
    return _format_call(name, args, [limit], limit)


def _format_call(name: str, args: tuple[Term, ...], left: list[int], limit: int) -> str:
    left[0] -= len(args) + _COMPOUND
    if left[0] < 0:
        raise too_big(limit)
    for a in args:
        if type(a) is not str:
            return _atom_text(name) + "(" + ", ".join([_format(x, left, limit) for x in args]) + ")"
    if not args:
        return _atom_text(name) + "()"
    return _atom_text(name) + "(" + ", ".join(map(_atom_text, args)) + ")"


def format_args(name: str, args: Iterable[Term]) -> str:
    return format_term(Struct(name, tuple(args)))


# --- index and table keys of atoms ---------------------------------------------------------


class _BoolKeyT:
    """Index keys for booleans, so that ``true`` and ``1`` never share an index bucket."""

    __slots__ = ("v",)

    def __init__(self, v: bool) -> None:
        self.v = v

    def __repr__(self) -> str:
        return f"BoolKey({self.v})"


_BoolKey = {True: _BoolKeyT(True), False: _BoolKeyT(False)}


def key_value(v: Any) -> Any:
    """An atom as a dict key: itself, but a boolean never equal to 1 or 0."""
    return _BoolKey[v] if type(v) is bool else v


def key_tuple(values: tuple[Any, ...]) -> tuple[Any, ...]:
    for v in values:
        if type(v) is bool:
            return tuple(key_value(x) for x in values)
    return values


def match_args(args: tuple[Any, ...], row: tuple[Any, ...], trail: list[Var]) -> bool:
    """Unify a call's arguments with a fact row or a table answer (the caller undoes on
    failure). Rows are ground; an answer may hold variables, which only ``_unify`` binds."""
    for a, v in zip(args, row):
        while type(a) is Var:
            r = a.ref
            if r is UNBOUND:
                a.ref = v
                trail.append(a)
                break
            a = r
        else:
            if a is v:
                continue
            if type(a) is str:
                if type(v) is str and a == v:
                    continue
                if type(v) is not Var:
                    return False
            if not _unify(a, v, trail):
                return False
    return True
