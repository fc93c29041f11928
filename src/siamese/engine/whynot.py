"""Explaining a call: its first proof as JSON, or else why not.

One pass over a call's clauses does both (:func:`prove_or_why_not`): the facts first,
then each clause as a query would try it. A clause whose body has a proof gives the
proof; for each clause whose head matches and whose body fails, the "why not" names the
first body goal that fails and the bindings at that point (from the first proof of the
goals before it). A deny then costs one search of the call's clauses, not two.

:func:`compiled_pass` is the same pass as a plain call, when compiled bodies
(:mod:`fastpath`) can answer alone; the passes here are generators of the machine's
requests (drive them with :meth:`~siamese.engine.driver.Query.drive`).
"""

from __future__ import annotations

import operator
from collections.abc import Generator
from typing import Any

from .events import ProofJson, compiled_proof, proof_json, rule_node
from .fastpath import NO_HEAD, SliceOver
from .goals import (
    BUILTIN,
    CALL,
    CALL_RAW,
    G_ARGS,
    G_CALLEE,
    G_OP,
    G_SRC,
    MARK,
    Slot,
    build_goal,
    call_text,
    goal_text,
    resolved_goal,
    unify_head,
)
from .machine import PAUSE, Machine
from .program import CompiledClause, Predicate, candidates
from .proof import WhyNot
from .terms import UNBOUND, Struct, Var, deref, match_args, resolve, undo

__all__ = ["NOT_COMPILED", "compiled_pass", "prove", "prove_or_why_not", "why_not"]

Pass = Generator[Any, Any, tuple[ProofJson | None, list[WhyNot]]]


class _NotCompiled:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_COMPILED"


NOT_COMPILED: Any = _NotCompiled()


def why_not(m: Machine, goal: tuple[Any, ...], depth: int = 2) -> Generator[
    Any, Any, list[WhyNot]
]:
    """The "why not" of a failing call: for each clause whose head matches, the first body
    goal that fails and the bindings at that point; nested ``depth`` levels into the
    failed goal's own clauses."""
    _, out = yield from _clause_pass(m, goal, depth, False)
    return out


def prove(m: Machine, goal: tuple[Any, ...]) -> Generator[Any, Any, ProofJson | None]:
    """The first proof of a call as JSON and its rule ids (the deciding rule first), by
    the one pass of :func:`prove_or_why_not` without its "why not"; None without one."""
    found, _ = yield from _one_pass(m, goal, 0, False)
    return found


def prove_or_why_not(m: Machine, goal: tuple[Any, ...], depth: int = 2) -> Pass:
    """``((proof, rule_ids), [])`` for the first proof of the call, in the order a query
    finds it, or ``(None, why_not)``. (Machines with ``proofs=True``; a tabled predicate
    is asked as a query first.)"""
    return _one_pass(m, goal, depth, True)


def _one_pass(m: Machine, goal: tuple[Any, ...], depth: int, why: bool) -> Pass:
    if (goal[G_OP] == CALL or goal[G_OP] == CALL_RAW) and goal[G_CALLEE].tabled:
        return _tabled_pass(m, goal, depth, why)
    return _clause_pass(m, goal, depth, True, why)  # the generator itself: one level less


def _tabled_pass(m: Machine, goal: tuple[Any, ...], depth: int, why: bool) -> Pass:
    trail = m.trail
    mark = len(trail)
    found = yield from m.exhaust([goal])
    if found:
        proof = proof_json(m.events)
        undo(trail, mark)
        return proof, []
    undo(trail, mark)
    out = (yield from why_not(m, goal, depth)) if why else []
    return None, out


def _clause_pass(
    m: Machine, goal: tuple[Any, ...], depth: int, prove: bool, why: bool = True
) -> Pass:
    out: list[WhyNot] = []
    if goal[G_OP] != CALL and goal[G_OP] != CALL_RAW:
        return None, out
    pred: Predicate = goal[G_CALLEE]
    args = goal[G_ARGS]
    trail = m.trail
    if prove and pred.rows:  # a call tries the facts first
        mark = len(trail)
        rows = pred.rows
        for k in candidates(pred, args):
            if match_args(args, rows[k], trail):
                undo(trail, mark)
                return ([pred.fact_json(k)], []), out
            undo(trail, mark)
    values: Any = _UNSET  # the call's values, if all strings (for compiled bodies)
    for cc in pred.clauses:
        fast = cc.fast
        if fast is not None:
            if values is _UNSET:
                values = _string_values(args)
            if values is not None:
                try:
                    r = fast.run(m, values)
                except SliceOver:  # the turn the compiled run owed; then interpret it
                    yield PAUSE
                    r = None
                if r is NO_HEAD:
                    continue
                if r is not None:  # else the compiled body could not tell: interpret it
                    if r[0]:
                        if not prove:  # this clause proves the goal: not a reason why not
                            continue
                        found = compiled_proof(cc, goal, r[1])
                        if found is not None:
                            return found, []
                    else:
                        if why:
                            failed = _fast_failed_goal(cc, r[1], r[2])
                            nested: list[WhyNot] = []
                            if depth > 0 and failed[G_CALLEE].clauses:
                                mark = len(trail)
                                nested = yield from why_not(m, failed, depth - 1)
                                undo(trail, mark)
                            out.append(_fast_why_not(cc, goal, values, r[1], r[2], failed,
                                                     nested))
                        continue
        mark = len(trail)
        frame: list[Any] = [None] * cc.nvars
        if not unify_head(cc.head, args, frame, trail):
            undo(trail, mark)
            continue
        body = [build_goal(g, frame) for g in cc.body]
        c = cc.clause
        if not body:
            if prove:  # the head as matched proves the call
                node = rule_node(cc, call_text(goal))
                undo(trail, mark)
                return ([node], [cc.label]), []
            undo(trail, mark)
            continue
        if not why:  # a proof or nothing: no progress markers
            proved = yield from m.exhaust(body)
            if proved and prove:
                break
            undo(trail, mark)
            continue
        # One exhaustive run of the body with a marker after each goal: the furthest
        # marker reached is the longest prefix of goals with a proof, so the goal after it
        # is the first that fails; the bindings are those of the first time it was reached.
        progress = _Progress(cc, frame, body, trail)
        goals: list[Any] = []
        for i, g in enumerate(body):
            goals.append(g)
            goals.append((MARK, progress.reached, i, None))
        proved = yield from m.exhaust(goals)
        if proved:
            if not prove:  # this clause proves the goal: not a reason why not
                undo(trail, mark)
                continue
            break
        progress.finish()
        head = Struct(pred.name, tuple([resolve(a) for a in args]))  # as the head matched
        undo(trail, mark)
        fg = body[progress.best + 1]
        nested = []
        if depth > 0 and fg[G_OP] == CALL and fg[G_CALLEE].clauses:
            nested = yield from why_not(m, progress.goal, depth - 1)
            undo(trail, mark)
        src = fg[G_SRC]
        loc = f"{c.source}:{src.line}:{src.col}" if src is not None else c.location
        out.append(
            WhyNot(
                rule=c.label,
                location=c.location,
                goal=head,
                failed_goal=progress.text,
                failed_location=loc,
                bindings=progress.bindings,
                nested=nested,
            )
        )
    else:
        return None, out
    # a proof (``break``): its bindings are still live, the head as proved
    node = rule_node(cc, call_text(goal))
    children, rules = proof_json(m.events, top=2)
    if children:
        node["children"] = children
    undo(trail, mark)
    return ([node], [cc.label, *(r for r in rules if r != cc.label)]), []


def compiled_pass(
    m: Machine, goal: tuple[Any, ...], depth: int = 2, why: bool = True
) -> tuple[ProofJson | None, list[WhyNot]] | Any:
    """The one pass (:func:`prove_or_why_not`, or :func:`prove` without ``why``) as a
    plain call, for a call of strings to a predicate whose clauses are all compiled
    (or ruled out by a constant in their head): no generator, no driver.
    ``NOT_COMPILED`` when it cannot answer alone (not such a call, an interpreted clause
    whose head matches, a table not computed yet, a nested "why not", a run longer than
    a slice): the caller then drives the pass, which starts again."""
    pred: Predicate = goal[G_CALLEE]
    if goal[G_OP] != CALL or not pred.compiled:
        return NOT_COMPILED
    values = _string_values(goal[G_ARGS])
    if values is None:
        return NOT_COMPILED
    if pred.rows:  # facts first; with strings only, a row matches when it is equal
        rows = pred.rows
        for k in candidates(pred, values):
            if rows[k] == values:
                return ([pred.fact_json(k)], []), []
    out: list[WhyNot] = []
    for cc in pred.clauses:
        fast = cc.fast
        if fast is None:  # interpreted: passed over only if its head cannot match
            for j, t in cc.head_consts:
                if t != values[j]:  # the values are strings: no other term is equal
                    break
            else:
                return NOT_COMPILED
            continue
        try:
            r = fast.run(m, values)
        except SliceOver:
            m.pause_owed = True
            return NOT_COMPILED
        if r is NO_HEAD:
            continue
        if r is None:
            return NOT_COMPILED
        if r[0]:
            found = compiled_proof(cc, goal, r[1])
            return NOT_COMPILED if found is None else (found, [])
        if why:
            failed = _fast_failed_goal(cc, r[1], r[2])
            if depth > 0 and failed[G_CALLEE].clauses:
                return NOT_COMPILED
            out.append(_fast_why_not(cc, goal, values, r[1], r[2], failed, []))
    return None, out


def _fast_failed_goal(cc: CompiledClause, best: int, bound: tuple[Any, ...]) -> tuple[Any, ...]:
    """The goal a compiled body failed at, with the values its variables had then (a fresh
    variable for each one still unbound)."""
    fg = cc.body[best + 1]
    fresh: dict[int, Var] | None = None
    fargs = []
    for a in fg[G_ARGS]:
        if type(a) is Slot:
            val = bound[a.i]
            if val is None:
                if fresh is None:
                    fresh = {}
                val = fresh.get(a.i)
                if val is None:
                    val = fresh[a.i] = Var(a.name)
            fargs.append(val)
        else:
            fargs.append(a)
    return (CALL, fg[G_CALLEE], tuple(fargs), fg[G_SRC])


def _fast_why_not(
    cc: CompiledClause, goal: tuple[Any, ...], values: tuple[Any, ...], best: int,
    bound: tuple[Any, ...], failed: tuple[Any, ...], nested: list[WhyNot],
) -> WhyNot:
    """The "why not" of a compiled body that failed: the goal after the longest proved
    prefix, with the variables as they were then."""
    fast = cc.fast
    bindings = {name: bound[i] for name, i in fast.shown[best + 1]}
    return WhyNot(cc.label, cc.location, Struct(goal[G_CALLEE].name, values), call_text(failed),
                  fast.locations[best + 1], bindings, nested, True)


_UNSET: Any = object()


def _string_values(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A call's arguments as the strings they are bound to, or None if one is not a string."""
    for a in args:
        if type(a) is not str:
            values = tuple([deref(x) for x in args])
            for v in values:
                if type(v) is not str:
                    return None
            return values
    return args


class _Progress:
    """How far a "why not" run got through a clause body (see :func:`_clause_pass`).

    A new furthest point keeps only the bindings made since the head matched (the trail's
    tail and the values it bound), a cheap copy: most runs that reach far end in a proof and
    never need them. A run that fails calls :meth:`finish`, which puts the bindings of the
    furthest point back for a moment and reads the bindings and the failed goal from them."""

    __slots__ = ("best", "body", "cc", "frame", "goal", "refs", "start", "text_now", "trail",
                 "values", "vars")

    def __init__(
        self, cc: CompiledClause, frame: list[Any], body: list[Any], trail: list[Var]
    ) -> None:
        self.cc = cc
        self.frame = frame
        self.body = body
        self.trail = trail
        self.start = len(trail)
        self.best = -1
        self.vars: list[Var] = []
        self.refs: list[Any] = []

    def reached(self, i: int) -> None:
        if i <= self.best:
            return
        self.best = i
        if i + 1 < len(self.body):
            vs = self.vars = self.trail[self.start:]
            self.refs = list(map(_REF, vs))

    def finish(self) -> None:
        """After a run without a proof: the values at the furthest point reached. Undoes the
        run's bindings (the caller undoes the head's next)."""
        undo(self.trail, self.start)
        for v, r in zip(self.vars, self.refs):
            v.ref = r
        try:
            nxt = self.body[self.best + 1]
            self.values = [resolve(v) for v in self.frame]  # None (no value yet) stays
            self.goal = resolved_goal(nxt)
            # a negation or a disjunction keeps its variables: its text must be made now
            self.text_now = None if nxt[G_OP] in (CALL, BUILTIN) else goal_text(nxt)
        finally:
            for v in self.vars:
                v.ref = UNBOUND

    @property
    def text(self) -> str:
        return self.text_now if self.text_now is not None else goal_text(self.goal)

    @property
    def bindings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, val in zip(self.cc.var_names, self.values):
            if val is None or type(val) is Var or name == "_" or not name.startswith("?"):
                continue
            out[name] = val
        return out


_REF = operator.attrgetter("ref")
