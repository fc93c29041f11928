"""The term classes and helpers of the original siamese-prototype engine, for custom
async built-ins written against it: ``async def b(goal, bindings)`` receives a
:class:`Term` whose arguments are values or :class:`Variable` objects, and yields
binding dicts (``{Variable: value}``), typically made with :meth:`Unificator.unify`."""

from __future__ import annotations

from typing import Any

from .errors import EngineError
from .terms import JsonMap, Struct, Var, deref, from_json, undo, unify

__all__ = [
    "AsyncCall",
    "Bindings",
    "PrologError",
    "Term",
    "UnificationError",
    "Unificator",
    "Variable",
]


class PrologError(EngineError):
    """The original engine's base error."""


class UnificationError(PrologError):
    pass


class Variable:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variable) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("Variable", self.name))

    def __repr__(self) -> str:
        return self.name


class Term:
    __slots__ = ("args", "name")

    def __init__(self, name: str, args: tuple[Any, ...] = ()) -> None:
        self.name = name
        self.args = tuple(args)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and other.name == self.name and other.args == self.args

    def __hash__(self) -> int:
        return hash((self.name, self.args))

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(map(repr, self.args))})"


Bindings = dict


class Unificator:
    """Dict-based unification, as in the original engine (returns a new dict, or None)."""

    @staticmethod
    def substitute(term: Any, bindings: dict[Any, Any]) -> Any:
        while isinstance(term, Variable) and term in bindings:
            term = bindings[term]
        if isinstance(term, Term):
            return Term(term.name, tuple(Unificator.substitute(a, bindings) for a in term.args))
        if isinstance(term, (list, tuple)):
            return type(term)(Unificator.substitute(a, bindings) for a in term)
        return term

    @staticmethod
    def unify(a: Any, b: Any, bindings: dict[Any, Any]) -> dict[Any, Any] | None:
        out = dict(bindings)
        return out if Unificator._unify(a, b, out) else None

    @staticmethod
    def _unify(a: Any, b: Any, env: dict[Any, Any]) -> bool:
        a = Unificator.substitute(a, env)
        b = Unificator.substitute(b, env)
        if isinstance(a, Variable):
            if a != b:
                env[a] = b
            return True
        if isinstance(b, Variable):
            env[b] = a
            return True
        if isinstance(a, Term) and isinstance(b, Term):
            return (
                a.name == b.name
                and len(a.args) == len(b.args)
                and all(Unificator._unify(x, y, env) for x, y in zip(a.args, b.args))
            )
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(Unificator._unify(x, y, env) for x, y in zip(a, b))
        return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def to_compat(t: Any, names: dict[str, Var]) -> Any:
    t = deref(t)
    tt = type(t)
    if tt is Var:
        name = t.name if t.name.startswith("?") else "?_G"
        if name in names and names[name] is not t:
            name = f"{name}_{len(names)}"
        names[name] = t
        return Variable(name)
    if tt is Struct:
        return Term(t.name, tuple(to_compat(a, names) for a in t.args))
    if tt is tuple:
        return [to_compat(a, names) for a in t]
    if tt is JsonMap:
        return {k: to_compat(v, names) for k, v in t.items()}
    return t


def from_compat(v: Any, names: dict[str, Var]) -> Any:
    if isinstance(v, Variable):
        mine = names.get(v.name)
        if mine is None:
            mine = names[v.name] = Var(v.name)
        return mine
    if isinstance(v, Term):
        return Struct(v.name, tuple(from_compat(a, names) for a in v.args))
    if isinstance(v, (list, tuple)):
        return tuple(from_compat(a, names) for a in v)
    if isinstance(v, dict):
        return from_json(v)
    if v is None:
        return "null"
    return v


class AsyncCall:
    """One call of a custom async built-in: its async generator and the variable names."""

    __slots__ = ("agen", "names")

    def __init__(self, fn: Any, name: str, args: tuple[Any, ...]) -> None:
        self.names: dict[str, Var] = {}
        goal = Term(name, tuple(to_compat(a, self.names) for a in args))
        self.agen = fn(goal, {})

    def __anext__(self) -> Any:
        return self.agen.__anext__()

    def bind(self, trail: list[Var], bindings: Any) -> bool:
        """Unify the variables of the call with one yielded bindings dict."""
        if bindings is None:  # "failure is not falsy": only None fails, {} succeeds
            return False
        mark = len(trail)
        for var, _ in list(bindings.items()):
            if not isinstance(var, Variable):
                continue
            mine = self.names.get(var.name)
            if mine is None:
                continue
            value = from_compat(Unificator.substitute(var, bindings), self.names)
            if not unify(mine, value, trail):
                undo(trail, mark)
                return False
        return True
