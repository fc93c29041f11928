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
from typing import Any, cast

from .events import ProofJson, compiled_proof, proof_json, rule_node
from .fastgen import atom_const
from .fastpath import MAX_NESTING, NO_HEAD, CannotTell, SliceOver
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

__all__ = ["NOT_COMPILED", "Proved", "compiled_pass", "compiled_proved", "failures_why_not",
           "prove", "prove_or_why_not", "why_not"]

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
    values: Any = _UNSET  # the call's values, if all atoms (for compiled bodies)
    for cc in pred.clauses:
        fast = cc.fast
        if fast is not None:
            if values is _UNSET:
                values = _atom_values(args)
            if values is not None:
                try:
                    r = fast.run(m, values)
                except SliceOver:  # the turn the compiled run owed; then interpret it
                    yield PAUSE
                    r = None
                except CannotTell:
                    r = None
                if r is NO_HEAD:
                    continue
                if r is not None:  # else the compiled body could not tell: interpret it
                    if r[0]:
                        if not prove:  # this clause proves the goal: not a reason why not
                            continue
                        found = compiled_proof(cc, goal, r[1], r[2])
                        if found is not None:
                            return found, []
                    else:
                        if why:
                            failed = _fast_failed_goal(cc, r[1], r[2], None)
                            nested: list[WhyNot] = []
                            if depth > 0 and _has_rules(failed):
                                mark = len(trail)
                                nested = yield from why_not(m, failed, depth - 1)
                                undo(trail, mark)
                            out.append(_fast_why_not(cc, Struct(pred.name, values), r[1],
                                                     r[2], failed, nested, fast.shown))
                        continue
        mark = len(trail)
        frame: list[Any] = [None] * cc.nvars
        if not unify_head(cc.head, args, frame, trail):
            undo(trail, mark)
            continue
        m.program.counts.interpreted_clauses += 1
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


class Proved:
    """A compiled proof of a call, its JSON made at the first need: a fact of the
    predicate (``cc`` None, ``chosen`` its row) or a compiled body's choices."""

    __slots__ = ("cc", "chosen", "goal", "values")

    def __init__(self, cc: CompiledClause | None, goal: tuple[Any, ...], chosen: Any,
                 values: tuple[Any, ...]) -> None:
        self.cc = cc
        self.goal = goal
        self.chosen = chosen
        self.values = values

    @property
    def label(self) -> str | None:
        """The deciding rule (None for a fact)."""
        return self.cc.label if self.cc is not None else None

    def json(self) -> ProofJson | None:
        """As :func:`prove` gives it; None if a sub-proof is too deep to show this way."""
        if self.cc is None:
            return [self.goal[G_CALLEE].fact_json(self.chosen)], []
        return compiled_proof(self.cc, self.goal, self.chosen, self.values)


def compiled_proved(m: Machine, goal: tuple[Any, ...]) -> Proved | list[Any] | Any:
    """:func:`prove` by compiled code alone (see :func:`compiled_pass`): the first proof,
    or without one the failures its clauses' runs found (``(clause, best, values)``: see
    :func:`failures_why_not`), or ``NOT_COMPILED``."""
    pred: Predicate = goal[G_CALLEE]
    if goal[G_OP] != CALL or not pred.compiled or m.limits.max_depth <= MAX_NESTING + 2:
        return NOT_COMPILED
    values = _atom_values(goal[G_ARGS])
    if values is None:
        return NOT_COMPILED
    if pred.rows:  # facts first; a call of atoms finds its row by the ground index
        for k in candidates(pred, values):
            return Proved(None, goal, k, values)
    failures: list[Any] = []
    try:
        for cc in pred.clauses:
            fast = cc.fast
            if fast is None:  # interpreted: passed over only if its head cannot match
                if not _ruled_out(cc, values):
                    return NOT_COMPILED
                continue
            r = fast.run(m, values)
            if r is not NO_HEAD:
                if r[0]:
                    return Proved(cc, goal, r[1], r[2])
                failures.append((cc, r[1], r[2]))
    except SliceOver:
        m.pause_owed = True
        return NOT_COMPILED
    except CannotTell:
        return NOT_COMPILED
    return failures


def failures_why_not(m: Machine, goal: tuple[Any, ...], failures: list[Any],
                     depth: int = 2) -> list[WhyNot] | Any:
    """The "why not" of a call of atoms from the failures of its compiled clauses (as
    :func:`compiled_proved` found them), the nested reasons by compiled code, or
    ``NOT_COMPILED``: what :func:`compiled_pass` makes, without running the clauses again."""
    pred: Predicate = goal[G_CALLEE]
    struct = Struct(pred.name, _atom_values(goal[G_ARGS]) or ())
    out: list[WhyNot] = []
    try:
        for cc, best, snap in failures:
            failed = _fast_failed_goal(cc, best, snap, None)
            nested: Any = []
            if depth > 0 and _has_rules(failed):
                nested = _compiled_why_not(m, failed, depth - 1)
                if nested is NOT_COMPILED:
                    return NOT_COMPILED
            out.append(_fast_why_not(cc, struct, best, snap, failed, nested, cc.fast.shown))
    except SliceOver:
        m.pause_owed = True
        return NOT_COMPILED
    except CannotTell:
        return NOT_COMPILED
    return out


def compiled_pass(
    m: Machine, goal: tuple[Any, ...], depth: int = 2, why: bool = True
) -> tuple[ProofJson | None, list[WhyNot]] | Any:
    """The one pass (:func:`prove_or_why_not`, or :func:`prove` without ``why``) as a
    plain call, for a call of atoms to a predicate whose clauses are all compiled
    (or ruled out by a constant in their head): no generator, no driver.
    ``NOT_COMPILED`` when it cannot answer alone (not such a call, an interpreted clause
    whose head matches, a run longer than a slice, a proof too deep to show so): the
    caller then drives the pass, which starts again."""
    r = compiled_proved(m, goal)
    if r is NOT_COMPILED:
        return NOT_COMPILED
    if type(r) is Proved:
        found = r.json()
        return NOT_COMPILED if found is None else (found, [])
    if not why:
        return None, []
    out = failures_why_not(m, goal, cast(list, r), depth)
    return NOT_COMPILED if out is NOT_COMPILED else (None, out)


def _compiled_why_not(m: Machine, goal: tuple[Any, ...], depth: int) -> list[WhyNot] | Any:
    """:func:`why_not` of a failed goal by compiled code alone (its arguments atoms or
    distinct unbound variables), or ``NOT_COMPILED``. Raises what compiled runs raise."""
    pred: Predicate = goal[G_CALLEE]
    args = goal[G_ARGS]
    vals: list[Any] = []
    bound: set[int] = set()
    free: set[Var] = set()
    for j, a in enumerate(args):
        a = deref(a)
        if type(a) is Var:
            if a in free:
                return NOT_COMPILED  # the interpreter would share it between arguments
            free.add(a)
            vals.append(None)
        elif atom_const(a):
            vals.append(a)
            bound.add(j)
        else:
            return NOT_COMPILED
    mode = frozenset(bound)
    values = tuple(vals)
    everything = len(mode) == len(args)
    out: list[WhyNot] = []
    for cc in pred.clauses:
        if not cc.body:
            continue  # a clause without a body proves or does not match: no reason
        fast = cc.fast
        if fast is None:
            if not _ruled_out(cc, values):
                return NOT_COMPILED
            continue
        if everything:
            run, shown = fast.run, fast.shown
        else:
            found = fast.in_mode(mode)
            if found is None:
                return NOT_COMPILED
            run, shown = found
        r = run(m, values)
        if r is NO_HEAD or r[0]:  # a clause that proves the goal is not a reason why not
            continue
        # as the interpreter's frame holds them: an unbound argument's variable in the
        # head variable it met; the head as matched shows its constants there
        alias: dict[int, Var] = {}
        shown_args = list(values)
        for j, t in enumerate(cc.head):
            if j in mode:
                continue
            if type(t) is Slot:
                alias[t.i] = deref(args[j])
                shown_args[j] = alias[t.i]
            else:
                shown_args[j] = t
        failed = _fast_failed_goal(cc, r[1], r[2], alias)
        nested: Any = []
        if depth > 0 and _has_rules(failed):
            nested = _compiled_why_not(m, failed, depth - 1)
            if nested is NOT_COMPILED:
                return NOT_COMPILED
        out.append(_fast_why_not(cc, Struct(pred.name, tuple(shown_args)), r[1], r[2], failed,
                                 nested, shown))
    return out


def _ruled_out(cc: CompiledClause, values: tuple[Any, ...]) -> bool:
    """Whether a constant of the clause's head differs from a bound value of the call (an
    atom constant equal by ``==``: a boolean constant is never ruled out so)."""
    for j, t in cc.head_consts:
        v = values[j]
        if v is not None and atom_const(t) and t != v:
            return True
    return False


def _has_rules(goal: tuple[Any, ...]) -> bool:
    """Whether a failed goal is a call of a predicate with rules (a "why not" goes into it)."""
    return goal[G_OP] == CALL and bool(goal[G_CALLEE].clauses)


def _fast_failed_goal(
    cc: CompiledClause, best: int, bound: tuple[Any, ...], alias: dict[int, Var] | None
) -> tuple[Any, ...]:
    """The goal a compiled body failed at, with the values its variables had then (the
    call's variable for a head variable that met one, else a fresh one where unbound),
    resolved as the interpreter's "why not" shows it."""
    frame = list(bound)
    if alias:
        for i, v in alias.items():
            if frame[i] is None:
                frame[i] = v
    return build_goal(cc.body[best + 1], frame)


def _fast_why_not(
    cc: CompiledClause, goal: Struct, best: int, bound: tuple[Any, ...],
    failed: tuple[Any, ...], nested: list[WhyNot], shown: Any,
) -> WhyNot:
    """The "why not" of a compiled body that failed: the goal after the longest proved
    prefix, with the variables as they were then."""
    fast = cc.fast
    bindings = {name: bound[i] for name, i in shown[best + 1]}
    return WhyNot(cc.label, cc.location, goal, goal_text(failed), fast.locations[best + 1],
                  bindings, nested, True)


_UNSET: Any = object()


def _atom_values(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A call's arguments as the atoms they are bound to, or None if one is not an atom
    (compiled code holds atoms only: see :mod:`fastgen`)."""
    for a in args:
        if type(a) is not str:
            values = tuple([deref(x) for x in args])
            for v in values:
                if not atom_const(v):
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
