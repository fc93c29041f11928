"""The decision API: the narrow questions the decision layer asks the engine.

* :func:`decide`: is ``allow(args)`` proved and ``deny(args)`` not? A :class:`Verdict`
  with the proof, or with why not; any error is in the verdict, never raised.
* :func:`response_headers`: the ``response_header(Name, Value)`` answers for a request
  (asked only after an allow, by the callers that send headers).
* :func:`enumerate_values`: the values one argument of a predicate can take with the
  others given (AuthZEN's search), rule by rule.

``decide`` answers at once (no coroutine) when compiled clause bodies can decide alone,
which is most decisions; else it returns an awaitable of the verdict.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from .driver import Query
from .errors import EvaluationError
from .fastpath import CannotTell, SliceOver
from .goals import CALL, build_goal, unify_head
from .limits import Limits
from .program import Predicate, Program
from .proof import WhyNot
from .terms import Var, format_term, resolve
from .whynot import NOT_COMPILED, compiled_pass, prove, prove_or_why_not

__all__ = ["Verdict", "decide", "enumerate_values", "response_headers"]

_DEFAULT_LIMITS = Limits()


class Verdict:
    """What the engine concludes about one request.

    ``kind`` is ``"allow"`` (``proof`` and ``rule_ids`` say by what), ``"deny"`` (a deny
    rule is proved: its proof), ``"default-deny"`` (no allow rule proved: ``why_not``
    when explaining), ``"no-allow-rules"`` (the program has no allow rules) or ``"error"``
    (``error`` holds it: errors never allow). ``volatile``: a built-in whose answers change
    with time was used (do not cache); ``notes``: what built-ins reported."""

    __slots__ = ("error", "kind", "notes", "proof", "rule_ids", "volatile", "why_not")

    def __init__(
        self,
        kind: str,
        proof: list[dict[str, Any]],
        rule_ids: list[str],
        why_not: list[WhyNot],
        volatile: bool = False,
        notes: Sequence[str] = (),
        error: Exception | None = None,
    ) -> None:
        self.kind = kind
        self.proof = proof
        self.rule_ids = tuple(rule_ids)
        self.why_not = why_not
        self.volatile = volatile
        self.notes = notes
        self.error = error

    @property
    def allowed(self) -> bool:
        return self.kind == "allow"

    def __repr__(self) -> str:
        return f"<Verdict {self.kind} {self.rule_ids}>"


def _verdict(
    q: Query | None, kind: str, proof: list[dict[str, Any]], rule_ids: list[str],
    why_not: list[WhyNot], error: Exception | None = None,
) -> Verdict:
    """A verdict with what the query's built-ins said (none ran if it has no context)."""
    ctx = q._ctx if q is not None else None
    if ctx is None:
        return Verdict(kind, proof, rule_ids, why_not, False, (), error)
    return Verdict(kind, proof, rule_ids, why_not, ctx.volatile, ctx.notes, error)


def decide(
    program: Program,
    args: tuple[Any, ...],
    *,
    input: Any = None,
    limits: Limits = _DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    explain: bool = True,
    allow: str = "allow",
    deny: str = "deny",
) -> Verdict | Awaitable[Verdict]:
    """Allow iff ``allow(*args)`` has a proof and ``deny(*args)`` has none (deny overrides;
    default deny). ``explain``: say why not when no allow rule is proved. One query for
    the whole decision: the deny and the allow passes share its limits and tables.

    The verdict itself when the compiled passes answer alone, else an awaitable of it."""
    q: Query | None = None
    try:
        q = Query(program, (), limits=limits, clock=clock, wall_clock=wall_clock, input=input,
                  proofs=True)
        n = len(args)
        deny_pred = program.predicates.get((deny, n))
        deny_goal = None
        if deny_pred is not None and deny_pred.defined:
            deny_goal = (CALL, deny_pred, args, None)
            r = compiled_pass(q, deny_goal, 0, False)  # a plain call when the rules allow it
            if r is NOT_COMPILED:
                program.counts.driven += 1
                return _driven(q, program, args, deny_goal, explain, allow)
            if r[0] is not None:
                program.counts.compiled += 1
                return _verdict(q, "deny", r[0][0], r[0][1], [])
        allow_pred = program.predicates.get((allow, n))
        if allow_pred is None or not allow_pred.defined:
            return _verdict(q, "no-allow-rules", [], [], [])
        allow_goal = (CALL, allow_pred, args, None)
        r = compiled_pass(q, allow_goal, 2, explain)
        if r is NOT_COMPILED:
            program.counts.driven += 1
            return _driven(q, program, args, None, explain, allow)
        program.counts.compiled += 1
    except Exception as e:  # errors never allow: the verdict says which
        return _verdict(q, "error", [], [], [], e)
    # a compiled built-in may have noted something (its context then exists)
    if r[0] is not None:
        return _verdict(q, "allow", r[0][0], r[0][1], [])
    return _verdict(q, "default-deny", [], [], r[1])


async def _driven(
    q: Query, program: Program, args: tuple[Any, ...], deny_goal: tuple[Any, ...] | None,
    explain: bool, allow: str,
) -> Verdict:
    """The verdict when some pass must be driven (a built-in that awaits, an interpreted
    rule...): the deny pass first if ``deny_goal`` is given, then the allow pass."""
    try:
        if deny_goal is not None:
            denied = await q.drive(prove(q, deny_goal))
            if denied is not None:
                return _verdict(q, "deny", denied[0], denied[1], [])
        allow_pred = program.predicates.get((allow, len(args)))
        if allow_pred is None or not allow_pred.defined:
            return _verdict(q, "no-allow-rules", [], [], [])
        allow_goal = (CALL, allow_pred, args, None)
        why_not: list[WhyNot] = []
        if explain:  # one pass: the proof, or else the why-not
            found, why_not = await q.drive(prove_or_why_not(q, allow_goal))
        else:
            found = await q.drive(prove(q, allow_goal))
    except Exception as e:
        return _verdict(q, "error", [], [], [], e)
    if found is not None:
        return _verdict(q, "allow", found[0], found[1], [])
    return _verdict(q, "default-deny", [], [], why_not)


async def response_headers(
    program: Program,
    *,
    input: Any = None,
    limits: Limits = _DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    name: str = "response_header",
) -> tuple[tuple[str, str], ...]:
    """Every ``response_header(Name, Value)`` answer whose name is a string and whose value
    is bound (a value that is not a string is written as the text syntax writes it), in
    the order found. Raises the engine's errors."""
    pred = program.predicates.get((name, 2))
    if pred is None or not pred.defined:
        return ()
    found = _compiled_headers(program, pred, input, limits, clock, wall_clock)
    if found is not None:
        return found
    n, v = Var("?name"), Var("?value")
    q = Query(program, ((CALL, pred, (n, v), None),), limits=limits, clock=clock,
              wall_clock=wall_clock, input=input)
    out: list[tuple[str, str]] = []
    agen = q.solve()
    try:
        async for _ in agen:
            nv, vv = resolve(n), resolve(v)
            if isinstance(nv, str) and not isinstance(vv, Var):
                out.append((nv, vv if isinstance(vv, str) else format_term(vv)))
    finally:
        await agen.aclose()
    return tuple(out)


def _compiled_headers(
    program: Program, pred: Predicate, input: Any, limits: Limits,
    clock: Callable[[], float], wall_clock: Callable[[], float],
) -> tuple[tuple[str, str], ...] | None:
    """:func:`response_headers` by the predicate's generated solutions, or None when
    compiled code cannot give them all (the query then runs; its answers are the same)."""
    compiler = program.compiler
    solver = compiler.solver(pred, frozenset(), 0) if compiler is not None else None
    if solver is None:
        return None
    q = Query(program, (), limits=limits, clock=clock, wall_clock=wall_clock, input=input)
    out: list[tuple[str, str]] = []
    try:
        for (nv, vv), _ in solver.gen(q, (None, None)):
            if type(nv) is str:  # every value compiled code holds is an atom
                out.append((nv, vv if type(vv) is str else format_term(vv)))
    except (CannotTell, SliceOver):
        return None
    return tuple(out)


async def enumerate_values(
    program: Program,
    name: str,
    args: tuple[Any, ...],
    position: int,
    *,
    input: Any = None,
    limits: Limits = _DEFAULT_LIMITS,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[Any]:
    """The values of argument ``position`` of ``name(args...)`` (a variable there) that
    the facts and the rules give, facts first, then each rule in order, with
    repeats. A rule that cannot enumerate it (say ``startswith(?path, "/api/")`` with the
    path free) is passed over instead of failing the search; the other errors are raised."""
    pred = program.predicates.get((name, len(args)))
    if pred is None or not pred.defined:
        return
    for row in pred.rows:
        if all(row[i] == a for i, a in enumerate(args) if i != position):
            yield row[position]
    for clause in pred.clauses:
        free = Var(args[position].name)  # the last query may have left the other bound
        call = (*args[:position], free, *args[position + 1:])
        q = Query(program, (), limits=limits, clock=clock, wall_clock=wall_clock, input=input)
        frame: list[Any] = [None] * clause.nvars
        if not unify_head(clause.head, call, frame, q.trail):
            continue
        q.goals = tuple(build_goal(g, frame) for g in clause.body)
        agen = q.solve()
        try:
            async for _ in agen:
                yield resolve(free)
        except EvaluationError:
            continue  # this rule cannot enumerate the value
        finally:
            await agen.aclose()
