"""Partial evaluation of a decision whose resource is unknown.

``allow(S, A, R)`` and ``deny(S, A, R)`` are evaluated with the subject, the action and the
context known and the resource left open: its id is the unknown ``request.resource.id`` and
each ``input("resource.properties.<name>", ?V)`` the unknown
``request.resource.attr.<name>``. What cannot be decided without them is kept as conditions
(see :mod:`.expr`), one branch per way a rule can hold.

How each goal is planned:

- A call of a predicate that does not read the request (``Predicate.request_independent``:
  facts, tables, rules over them) is answered by the engine itself, a query of its own, with
  each unknown in its arguments replaced by a fresh variable: every answer gives a branch in
  which the unknown equals the answer's value (``owner(?r, alice)`` becomes
  ``resource.id in [...]``; a tabled folder ancestry, the documents under the granted
  folders).
- A call of a predicate that reads the request is unfolded: its clauses are planned in turn.
  Recursion through such a predicate is refused.
- ``input`` reads the known request, or gives an unknown; comparisons (``eq``, ``neq``,
  ``gt``, ``gte``, ``lt``, ``lte``) and ``member``/``in`` on an unknown become conditions;
  any other built-in given an unknown is refused (``regex`` of a resource property cannot
  be a filter). ``not`` of a goal that depends on an unknown becomes ``not (...)``.

The engine's limits bound the work: the steps of the planner and of each query, the
solutions of each query and the branches of the plan, and the time of the whole. A plan that
would exceed them is a :class:`PlanError` naming the limit, never a partial filter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..engine import (
    BodyItem,
    Clause,
    EngineError,
    Goal,
    LimitExceeded,
    Limits,
    Not,
    Or,
    Predicate,
    Program,
    Query,
    Struct,
    Var,
    compile_query,
    from_json,
    lookup_path,
    resolve,
    same_value,
)
from .expr import ID, Atom, Cmp, Const, Has, In, Neg, Unknown, attr, cmp

__all__ = ["PlanError", "Planner", "RuleBranches"]

Subst = dict[Any, Any]  # a variable's value; an unknown's value in one branch

_COMPARISONS = {"neq": "ne", "gt": "gt", "gte": "ge", "lt": "lt", "lte": "le"}
_PROPERTIES = "resource.properties."


class PlanError(EngineError):
    """A plan that cannot be made: it names the rule and the reason, or the limit."""


@dataclass
class RuleBranches:
    """The branches by which one clause of ``allow`` (or ``deny``) holds."""

    label: str  # the rule's @id, else its file:line
    location: str
    branches: list[tuple[Atom, ...]]


def _walk(t: Any, s: Subst) -> Any:
    # an unknown that a branch has matched with a value is that value there
    while (type(t) is Var or type(t) is Unknown) and t in s:
        t = s[t]
    return t


def _deep(t: Any, s: Subst) -> Any:
    t = _walk(t, s)
    if type(t) is Struct:
        return Struct(t.name, tuple(_deep(a, s) for a in t.args))
    if type(t) is tuple:
        return tuple(_deep(a, s) for a in t)
    return t


def _has(t: Any, kind: type) -> bool:
    if type(t) is kind:
        return True
    if type(t) is Struct:
        return any(_has(a, kind) for a in t.args)
    if type(t) is tuple:
        return any(_has(a, kind) for a in t)
    return False


def _swap(t: Any, kind: type, fresh: dict[Any, Var]) -> Any:
    """``t`` with each variable (or each unknown: ``kind``) in it replaced by a fresh
    variable, the same one for the same original (``fresh`` keeps the pairs)."""
    if type(t) is kind:
        v = fresh.get(t)
        if v is None:
            v = fresh[t] = Var(t.name if isinstance(t, Var) else "?" + str(t))
        return v
    if type(t) is Struct:
        return Struct(t.name, tuple(_swap(a, kind, fresh) for a in t.args))
    if type(t) is tuple:
        return tuple(_swap(a, kind, fresh) for a in t)
    return t


def _copy(t: Any, fresh: dict[Any, Var]) -> Any:
    return _swap(t, Var, fresh)


def _copy_items(items: tuple[BodyItem, ...], fresh: dict[Any, Var]) -> list[BodyItem]:
    out: list[BodyItem] = []
    for item in items:
        if isinstance(item, Goal):
            out.append(Goal(_copy(item.term, fresh), item.line, item.col))
        elif isinstance(item, Not):
            out.append(Not(tuple(_copy_items(item.body, fresh)), item.line, item.col))
        else:
            out.append(Or(tuple(tuple(_copy_items(b, fresh)) for b in item.branches),
                          item.line, item.col))
    return out


class Planner:
    """Plans the goals of one request against a finished program (see the module)."""

    def __init__(
        self,
        program: Program,
        known: dict[str, Any],
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.program = program
        self.known = known
        self.limits = limits
        self.clock = clock
        self.deadline = clock() + limits.timeout_ms / 1000.0 if limits.timeout_ms else None
        self.steps = 0
        self.branches = 0

    # -- limits ------------------------------------------------------------------------------

    def _tick(self, now: bool = False) -> None:
        """Count a step; look at the clock every 64 steps, or ``now``."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise PlanError(f"plan stopped: limit exceeded (max_steps: {self.limits.max_steps})")
        if self.deadline is not None and (now or self.steps % 64 == 0) \
                and self.clock() > self.deadline:
            raise PlanError(
                f"plan stopped: limit exceeded (timeout_ms: {self.limits.timeout_ms:g})"
            )

    # -- entry -------------------------------------------------------------------------------

    def plan(self, name: str, args: tuple[Any, ...]) -> list[RuleBranches]:
        """The branches of each clause of ``name(args)`` (none when it is not defined)."""
        pred = self.program.predicates.get((name, len(args)))
        if pred is None or not pred.defined:
            return []
        out: list[RuleBranches] = []
        for i, row in enumerate(pred.rows):
            got = self._match_row(args, row, {}, ())
            if got is not None:
                self._count()
                where = pred.row_location(i)
                out.append(RuleBranches(where, where, [got[1]]))
        for cc in pred.clauses:
            c: Clause = cc.clause
            branches = []
            for _, atoms in self._clause(c, args, {}, (), (pred,)):
                self._count()
                branches.append(atoms)
            out.append(RuleBranches(c.label, c.location, branches))
        return out

    def _count(self) -> None:
        self.branches += 1
        if self.branches > self.limits.max_solutions:
            raise PlanError(
                f"plan stopped: limit exceeded (max_solutions: {self.limits.max_solutions} "
                "branches)"
            )

    # -- unification with unknowns ------------------------------------------------------------

    def _unify(self, a: Any, b: Any, s: Subst, atoms: tuple[Atom, ...],
               where: str) -> tuple[Subst, tuple[Atom, ...]] | None:
        a, b = _walk(a, s), _walk(b, s)
        if a is b:
            return s, atoms
        if type(a) is Var:
            return {**s, a: b}, atoms
        if type(b) is Var:
            return {**s, b: a}, atoms
        if type(a) is Unknown or type(b) is Unknown:
            u, other = (a, b) if type(a) is Unknown else (b, a)
            if type(other) is Unknown:
                return s, (*atoms, Cmp("eq", u, other))
            other = _deep(other, s)
            if _has(other, Var) or _has(other, Unknown) or (type(other) is not str and \
                    type(other) not in (int, float, bool)):
                raise PlanError(f"{where}: the resource's {u} is matched against "
                                "a list, an object or a compound term: a filter compares "
                                "it with a single value")
            # the branch goes on with the value: later goals are asked with it, not for
            # every value the unknown could have
            return {**s, u: other}, (*atoms, Cmp("eq", u, Const(other)))
        if type(a) is Struct and type(b) is Struct:
            if a.name != b.name or len(a.args) != len(b.args):
                return None
            return self._unify_all(a.args, b.args, s, atoms, where)
        if type(a) is tuple and type(b) is tuple:
            if len(a) != len(b):
                return None
            return self._unify_all(a, b, s, atoms, where)
        if type(a) in (Struct, tuple) or type(b) in (Struct, tuple):
            return None
        return (s, atoms) if same_value(a, b) else None

    def _unify_all(self, xs: tuple[Any, ...], ys: tuple[Any, ...], s: Subst,
                   atoms: tuple[Atom, ...], where: str) -> tuple[Subst, tuple[Atom, ...]] | None:
        got: tuple[Subst, tuple[Atom, ...]] | None = (s, atoms)
        for x, y in zip(xs, ys):
            assert got is not None
            got = self._unify(x, y, got[0], got[1], where)
            if got is None:
                return None
        return got

    def _match_row(self, args: tuple[Any, ...], row: tuple[Any, ...], s: Subst,
                   atoms: tuple[Atom, ...]) -> tuple[Subst, tuple[Atom, ...]] | None:
        self._tick()
        return self._unify_all(args, row, s, atoms, "<facts>")

    # -- clauses and bodies -----------------------------------------------------------------

    def _clause(self, c: Clause, args: tuple[Any, ...], s: Subst, atoms: tuple[Atom, ...],
                stack: tuple[Predicate, ...]) -> Iterator[tuple[Subst, tuple[Atom, ...]]]:
        fresh: dict[Var, Var] = {}
        head = _copy(c.head, fresh)
        got = self._unify_all(head.args, args, s, atoms, c.location)
        if got is None:
            return
        body = _copy_items(c.body, fresh)
        yield from self._solve(body, got[0], got[1], c, stack)

    def _solve(self, items: list[BodyItem], s: Subst, atoms: tuple[Atom, ...], c: Clause,
               stack: tuple[Predicate, ...]) -> Iterator[tuple[Subst, tuple[Atom, ...]]]:
        if not items:
            yield s, atoms
            return
        self._tick()
        i = self._pick(items, s)
        item, rest = items[i], items[:i] + items[i + 1:]
        if isinstance(item, Goal):
            for s2, a2 in self._goal(item, s, atoms, c, stack):
                yield from self._solve(rest, s2, a2, c, stack)
        elif isinstance(item, Not):
            inner = [a for _, a in self._solve(list(item.body), s, (), c, stack)]
            if any(not a for a in inner):
                return  # the negated goals hold whatever the resource: not fails
            if not inner:
                yield from self._solve(rest, s, atoms, c, stack)
            else:
                neg = Neg(frozenset(frozenset(a) for a in inner))
                yield from self._solve(rest, s, (*atoms, neg), c, stack)
        else:
            for branch in item.branches:
                yield from self._solve([*branch, *rest], s, atoms, c, stack)

    def _pick(self, items: list[BodyItem], s: Subst) -> int:
        """The goal to plan next: the first that the engine can answer with what is known
        (a call without an unknown of a predicate that does not read the request, a
        built-in whose arguments are all bound, an ``input`` of the known request), else
        the first in order. A plan is a set of conditions, not a first proof: taking such
        goals first keeps a goal on an unknown from being asked for every resource and then
        joined (moving a goal later only binds more of its variables first)."""
        for i, item in enumerate(items):
            if not isinstance(item, Goal):
                continue
            name = item.term.name
            args = tuple(_deep(a, s) for a in item.term.args)
            if any(_has(a, Unknown) for a in args):
                continue
            if name == "input":
                if type(args[0]) is str and not args[0].startswith("resource"):
                    return i
            elif name in self.program.builtins:
                if not any(_has(a, Var) for a in args):
                    return i
            else:
                pred = self.program.predicates.get((name, len(args)))
                if pred is None or pred.request_independent:
                    return i
        return 0

    def _goal(self, g: Goal, s: Subst, atoms: tuple[Atom, ...], c: Clause,
              stack: tuple[Predicate, ...]) -> Iterator[tuple[Subst, tuple[Atom, ...]]]:
        name = g.term.name
        args = tuple(_deep(a, s) for a in g.term.args)
        where = f"{c.source}:{g.line}:{g.col}: rule {c.label}"
        if name in self.program.builtins:
            yield from self._builtin(name, args, s, atoms, where)
            return
        pred = self.program.predicates.get((name, len(args)))
        if pred is None or not pred.defined:
            return
        if pred.request_independent:
            yield from self._ask(g, name, args, s, atoms, where)
            return
        if pred in stack:
            raise PlanError(f"{where}: {name}/{len(args)} is recursive and reads the request: "
                            "it cannot be planned")
        for row in pred.rows:
            got = self._match_row(args, row, s, atoms)
            if got is not None:
                yield got
        for cc in pred.clauses:
            yield from self._clause(cc.clause, args, s, atoms, (*stack, pred))

    # -- the engine's own answers -----------------------------------------------------------

    def _ask(self, g: Goal, name: str, args: tuple[Any, ...], s: Subst, atoms: tuple[Atom, ...],
             where: str) -> Iterator[tuple[Subst, tuple[Atom, ...]]]:
        """``name(args)`` answered by the engine, each unknown a variable of the query: an
        answer's value of that variable is what the unknown must equal."""
        unknowns: dict[Unknown, Var] = {}
        asked = tuple(_swap(a, Unknown, unknowns) for a in args)
        # the plan's own variables are not bound by the query: fresh ones stand for them
        fresh: dict[Var, Var] = {}
        asked = tuple(_copy(a, fresh) for a in asked)
        order = list(fresh)
        standing = set(unknowns.values())
        answers = self._query(Goal(Struct(name, asked), g.line, g.col),
                              [fresh[v] for v in order], where)
        for values in answers:
            by = dict(zip(order, values))
            s2 = dict(s)
            for v in order:
                if v not in standing and not _has(by[v], Var):
                    s2[v] = by[v]
            got: tuple[Subst, tuple[Atom, ...]] | None = (s2, atoms)
            for u, v in unknowns.items():
                if _has(by[v], Var):
                    continue  # the answer holds for any value of the unknown
                assert got is not None
                got = self._unify(u, by[v], got[0], got[1], where)
                if got is None:
                    break
            if got is not None:
                yield got

    def _query(self, goal: Goal, outputs: list[Var], where: str) -> list[list[Any]]:
        """Every answer of one goal: the values of ``outputs``."""
        self._tick(now=True)
        try:
            goals = compile_query(self.program, [goal])
            q = Query(self.program, goals, limits=self._left(), input=self.known,
                      proofs=False)
            answers = []
            for _ in q.solve_sync():
                answers.append([resolve(v) for v in outputs])
                self._tick()
            return answers
        except LimitExceeded as e:
            raise PlanError(f"{where}: plan stopped: limit exceeded ({e.limit}: "
                            f"{e.value})") from None
        except PlanError:
            raise
        except EngineError as e:
            raise PlanError(f"{where}: {e}") from None

    def _left(self) -> Limits:
        """The limits of one query: what is left of the plan's time."""
        if self.deadline is None:
            return self.limits
        left_ms = max(0.001, (self.deadline - self.clock()) * 1000.0)
        return Limits(max_depth=self.limits.max_depth, max_solutions=self.limits.max_solutions,
                      max_steps=self.limits.max_steps, timeout_ms=left_ms)

    # -- built-ins ---------------------------------------------------------------------------

    def _builtin(self, name: str, args: tuple[Any, ...], s: Subst, atoms: tuple[Atom, ...],
                 where: str) -> Iterator[tuple[Subst, tuple[Atom, ...]]]:
        if name == "input":
            yield from self._input(args, s, atoms, where)
            return
        if self.program.builtins[name].is_async:
            raise PlanError(f"{where}: built-in '{name}' reaches outside the server: a plan "
                            "does not call it")
        if not any(_has(a, Unknown) for a in args):
            yield from self._ask(Goal(Struct(name, args)), name, args, s, atoms, where)
            return
        if name == "eq" and not any(type(a) is Struct for a in args):
            got = self._unify(args[0], args[1], s, atoms, where)
            if got is not None:
                yield got
            return
        if name in _COMPARISONS:
            left, right = args
            for side in (left, right):
                if type(side) is Var:
                    raise PlanError(f"{where}: {name} compares an unbound variable")
                if type(side) is Struct or (type(side) is not Unknown and _has(side, Unknown)):
                    raise PlanError(f"{where}: {name} computes with the resource's "
                                    "properties: only a property itself can be compared")
            a = left if type(left) is Unknown else Const(left)
            b = right if type(right) is Unknown else Const(right)
            yield s, (*atoms, cmp(_COMPARISONS[name], a, b))
            return
        if name in ("member", "in") and type(args[0]) is Unknown \
                and type(args[1]) is tuple and not _has(args[1], Unknown) \
                and not _has(args[1], Var):
            if args[1]:
                yield s, (*atoms, In(args[0], frozenset(Const(v) for v in args[1])))
            return
        raise PlanError(f"{where}: built-in '{name}' is given the resource's id or a "
                        "property, and its result cannot be a filter condition")

    def _input(self, args: tuple[Any, ...], s: Subst, atoms: tuple[Atom, ...],
               where: str) -> Iterator[tuple[Subst, tuple[Atom, ...]]]:
        path = args[0] if args else None
        if type(path) is not str:
            raise PlanError(f"{where}: input's path must be known to plan it")
        if path == "resource.id":
            value: Any = ID
        elif path.startswith(_PROPERTIES) and len(path) > len(_PROPERTIES):
            value = attr(path[len(_PROPERTIES):])
        elif path in ("resource", "resource.properties") or (
                path.startswith("resource.") and path != "resource.type"):
            raise PlanError(f"{where}: input(\"{path}\") reads the whole resource or a part of "
                            "it that a filter cannot name")
        else:
            found, data = lookup_path(self.known, path)
            if not found:
                return
            value = from_json(data)
        value = _walk(value, s)
        if type(value) is Unknown and value != ID:
            atoms = (*atoms, Has(value))  # input fails when the property is missing
        got = self._unify(args[1], value, s, atoms, where)
        if got is not None:
            yield got
