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
from typing import Any, cast

from .driver import Query
from .errors import EvaluationError
from .fastpath import CannotTell, SliceOver
from .goals import CALL, build_goal, unify_head
from .limits import Limits
from .program import Predicate, Program
from .proof import WhyNot
from .terms import Var, format_term, resolve
from .whynot import (
    NOT_COMPILED,
    Proved,
    compiled_proved,
    failures_why_not,
    prove,
    prove_or_why_not,
)

__all__ = ["Verdict", "decide", "enumerate_values", "response_headers"]

_DEFAULT_LIMITS = Limits()


class Verdict:
    """What the engine concludes about one request.

    ``kind`` is ``"allow"`` (``proof`` and ``rule_ids`` say by what), ``"deny"`` (a deny
    rule is proved: its proof), ``"default-deny"`` (no allow rule proved: ``why_not``
    when explaining), ``"no-allow-rules"`` (the program has no allow rules) or ``"error"``
    (``error`` holds it: errors never allow). ``rule``: the deciding rule (None for a
    fact). ``volatile``: a built-in whose answers change with time was used (do not
    cache); ``notes``: what built-ins reported.

    A verdict that compiled code reached makes ``proof``, ``rule_ids`` and ``why_not`` at
    their first read (most callers, a gateway's among them, never read them);
    ``explain_error`` says why they could not be made, if so."""

    __slots__ = ("_lazy", "_proof", "_rule_ids", "_why_not", "error", "explain_error", "kind",
                 "notes", "rule", "volatile")

    def __init__(
        self,
        kind: str,
        proof: list[dict[str, Any]],
        rule_ids: Sequence[str],
        why_not: list[WhyNot],
        volatile: bool = False,
        notes: Sequence[str] = (),
        error: Exception | None = None,
        *,
        lazy: Callable[[], tuple[list[dict[str, Any]], Sequence[str], list[WhyNot]]] | None = None,
        rule: str | None = None,
    ) -> None:
        self.kind = kind
        self._proof = proof
        self._rule_ids = tuple(rule_ids)
        self._why_not = why_not
        self.volatile = volatile
        self.notes = notes
        self.error = error
        self._lazy = lazy
        self.rule = rule if lazy is not None or not rule_ids else rule_ids[0]
        self.explain_error: str | None = None

    def _made(self) -> None:
        lazy = self._lazy
        if lazy is not None:
            self._lazy = None
            try:
                proof, rule_ids, self._why_not = lazy()
            except Exception as e:  # the verdict stands; its explanation says what failed
                self.explain_error = f"{type(e).__name__}: {e}"
                proof, rule_ids = [], () if self.rule is None else (self.rule,)
            self._proof = proof
            self._rule_ids = tuple(rule_ids)

    @property
    def proof(self) -> list[dict[str, Any]]:
        self._made()
        return self._proof

    @property
    def rule_ids(self) -> tuple[str, ...]:
        self._made()
        return self._rule_ids

    @property
    def why_not(self) -> list[WhyNot]:
        self._made()
        return self._why_not

    @property
    def allowed(self) -> bool:
        return self.kind == "allow"

    def __repr__(self) -> str:
        return f"<Verdict {self.kind} {self.rule}>"


def _verdict(
    q: Query | None, kind: str, proof: list[dict[str, Any]], rule_ids: list[str],
    why_not: list[WhyNot], error: Exception | None = None,
) -> Verdict:
    """A verdict with what the query's built-ins said (none ran if it has no context)."""
    ctx = q._ctx if q is not None else None
    if ctx is None:
        return Verdict(kind, proof, rule_ids, why_not, False, (), error)
    return Verdict(kind, proof, rule_ids, why_not, ctx.volatile, ctx.notes, error)


def _compiled(q: Query, kind: str, lazy: Any, rule: str | None) -> Verdict:
    """A verdict that compiled code reached, its explanation made by ``lazy`` when read."""
    ctx = q._ctx
    if ctx is None:
        return Verdict(kind, [], (), [], lazy=lazy, rule=rule)
    return Verdict(kind, [], (), [], ctx.volatile, ctx.notes, lazy=lazy, rule=rule)


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
        again = _Again(program, input, limits, clock, wall_clock)
        deny_pred = program.predicates.get((deny, n))
        deny_goal = None
        if deny_pred is not None and deny_pred.defined:
            deny_goal = (CALL, deny_pred, args, None)
            r = compiled_proved(q, deny_goal)  # a plain call when the rules allow it
            if r is NOT_COMPILED:
                program.counts.driven += 1
                return _driven(q, program, args, deny_goal, explain, allow)
            if type(r) is Proved:
                program.counts.compiled += 1
                return _compiled(q, "deny", again.proof(r), r.label)
        allow_pred = program.predicates.get((allow, n))
        if allow_pred is None or not allow_pred.defined:
            return _verdict(q, "no-allow-rules", [], [], [])
        allow_goal = (CALL, allow_pred, args, None)
        r = compiled_proved(q, allow_goal)
        if r is NOT_COMPILED:
            program.counts.driven += 1
            return _driven(q, program, args, None, explain, allow)
        program.counts.compiled += 1
    except Exception as e:  # errors never allow: the verdict says which
        return _verdict(q, "error", [], [], [], e)
    if type(r) is Proved:
        return _compiled(q, "allow", again.proof(r), r.label)
    if not explain:
        return _verdict(q, "default-deny", [], [], [])
    return _compiled(q, "default-deny", again.why_not(allow_goal, cast(list, r)), None)


class _Again:
    """Explanations made after a decision that compiled code reached, when they are read:
    by compiled code again, on a query of the same request and limits, or (a proof too
    deep for it, a slice over) by the interpreter's pass run to its end at once. The
    program is immutable and its tables only complete: they give the same answers."""

    __slots__ = ("clock", "input", "limits", "program", "wall_clock")

    def __init__(self, program: Program, input: Any, limits: Limits,
                 clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self.program = program
        self.input = input
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock

    def query(self) -> Query:
        return Query(self.program, (), limits=self.limits, clock=self.clock,
                     wall_clock=self.wall_clock, input=self.input, proofs=True)

    def proof(self, proved: Proved) -> Callable[[], Any]:
        def made() -> tuple[list[dict[str, Any]], Sequence[str], list[WhyNot]]:
            found = proved.json()
            if found is None:
                q = self.query()
                found = q.drive_sync(prove(q, proved.goal))
                if found is None:  # pragma: no cover - the same program proves it again
                    raise EvaluationError("the proof could not be made again")
            return found[0], found[1], []
        return made

    def why_not(self, goal: tuple[Any, ...], failures: list[Any]) -> Callable[[], Any]:
        def made() -> tuple[list[dict[str, Any]], Sequence[str], list[WhyNot]]:
            why = failures_why_not(self.query(), goal, failures)
            if why is NOT_COMPILED:
                q = self.query()
                why = q.drive_sync(prove_or_why_not(q, goal))[1]
            return [], [], why
        return made


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
