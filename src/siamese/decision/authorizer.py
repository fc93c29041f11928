"""The authorizer: a request and a policy set in, an :class:`Outcome` out.

allow iff ``allow(S, A, R)`` has a proof and ``deny(S, A, R)`` has none; default deny;
any error or limit denies and says which (Cedar: deny overrides, errors never allow).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from ..engine.errors import EngineError, EvaluationError, LimitExceeded
from ..engine.program import CALL, Program
from ..engine.proof import WhyNot
from ..engine.solver import NOT_COMPILED, Limits, Query, build_goal, unify_head
from ..engine.terms import Var, format_term, resolve
from .models import Outcome, Request

log = logging.getLogger("siamese.decision")

__all__ = ["Authorizer", "PolicyLike"]


_DEFAULT_LIMITS = Limits()  # a frozen dataclass: one shared default is safe


def _failed(revision: str, e: Exception) -> Outcome:
    """A decision that raised: a deny that says why (Cedar: errors never allow)."""
    if isinstance(e, LimitExceeded):
        return Outcome(False, revision, f"denied: limit exceeded ({e.limit})",
                       {"kind": "error", "error": str(e)}, errors=(str(e),),
                       cacheable=False, limit=e.limit)
    if isinstance(e, EngineError):
        return Outcome(False, revision, "denied: policy evaluation failed",
                       {"kind": "error", "error": str(e)}, errors=(str(e),), cacheable=False)
    # fail closed on anything unexpected, and say so
    log.error("decision failed", exc_info=e)
    return Outcome(False, revision, "denied: internal error",
                   {"kind": "error", "error": repr(e)}, errors=(repr(e),), cacheable=False)


def _noted(outcome: Outcome, notes: list[str]) -> Outcome:
    """What built-ins reported (a fetch that failed...) is shown, and never cached."""
    if not notes:
        return outcome
    explanation = {**outcome.explanation, "notes": list(dict.fromkeys(notes))}
    return replace(outcome, explanation=explanation, cacheable=False)


class PolicyLike(Protocol):
    program: Program
    revision: str


class Authorizer:
    def __init__(
        self,
        *,
        limits: Limits = _DEFAULT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        explain_denials: bool = True,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock
        self.explain_denials = explain_denials

    def _query(self, program: Program, name: str, args: tuple[Any, ...], request: Request,
               proofs: bool = True) -> Query:
        goal = (CALL, program.predicate(name, len(args)), args, None)
        return Query(program, (goal,), limits=self.limits, clock=self.clock,
                     wall_clock=self.wall_clock, input=request.input, proofs=proofs)

    async def evaluate(
        self, policy: PolicyLike, request: Request, gateway: bool = False
    ) -> Outcome:
        r = self.evaluate_now(policy, request, gateway)
        return r if isinstance(r, Outcome) else await r

    def evaluate_now(
        self, policy: PolicyLike, request: Request, gateway: bool = False
    ) -> Outcome | Awaitable[Outcome]:
        """The outcome when the compiled passes answer alone (most decisions: no coroutine
        at all), else an awaitable of it: :meth:`evaluate` for callers that always await."""
        revision = policy.revision
        args = (request.subject, request.action, request.resource)
        notes: list[str] = []  # what built-ins reported (a fetch that failed...)
        try:
            r = self._decide(policy.program, revision, args, request, gateway, notes)
        except Exception as e:
            return _failed(revision, e)
        if type(r) is Outcome:
            return _noted(r, notes)
        return self._finish(revision, r, notes)

    @staticmethod
    async def _finish(revision: str, driven: Awaitable[Outcome], notes: list[str]) -> Outcome:
        try:
            outcome = await driven
        except Exception as e:
            outcome = _failed(revision, e)
        return _noted(outcome, notes)

    def _decide(
        self, program: Program, revision: str, args: tuple[str, str, str], request: Request,
        gateway: bool, notes: list[str],
    ) -> Any:
        """The outcome when the compiled passes answer alone (most decisions: no coroutine
        at all), else the coroutine that drives the passes."""
        # one query for the whole decision: deny, then allow share its limits (steps,
        # timeout), its tables and its notes
        q = Query(program, (), limits=self.limits, clock=self.clock,
                  wall_clock=self.wall_clock, input=request.input, proofs=True)
        q.notes = notes
        deny_pred = program.predicates.get(("deny", 3))
        deny = None
        if deny_pred is not None and deny_pred.defined:
            deny = (CALL, deny_pred, args, None)
            r = q.compiled_pass(deny, 0, False)  # a plain call when the rules allow it
            if r is NOT_COMPILED:
                return self._driven(q, program, revision, args, deny, request, gateway)
            if r[0] is not None:
                return self._denied(q, revision, r[0])
        allow_pred = program.predicates.get(("allow", 3))
        if allow_pred is None or not allow_pred.defined:
            return self._no_allow_rules(q, revision)
        allow = (CALL, allow_pred, args, None)
        r = q.compiled_pass(allow, 2, self.explain_denials)
        if r is NOT_COMPILED or (gateway and r[0] is not None):  # headers: a query of their own
            return self._driven(q, program, revision, args, None, request, gateway)
        return self._allow_or_default(q, revision, request, r[0], r[1], ())

    async def _driven(
        self, q: Query, program: Program, revision: str, args: tuple[str, str, str],
        deny: tuple[Any, ...] | None, request: Request, gateway: bool,
    ) -> Outcome:
        """The decision when some pass must be driven (a built-in that awaits, an interpreted
        rule...): the deny pass first if ``deny`` is given, then the allow pass."""
        if deny is not None:
            denied = await q.drive(q.prove(deny))
            if denied is not None:
                return self._denied(q, revision, denied)
        allow_pred = program.predicates.get(("allow", 3))
        if allow_pred is None or not allow_pred.defined:
            return self._no_allow_rules(q, revision)
        allow = (CALL, allow_pred, args, None)
        why_not: list[WhyNot] = []
        if self.explain_denials:  # one pass: the proof, or else the why-not
            found, why_not = await q.drive(q.prove_or_why_not(allow))
        else:
            found = await q.drive(q.prove(allow))
        headers: tuple[tuple[str, str], ...] = ()
        if found is not None and gateway:
            headers = await self._headers(program, request)
        return self._allow_or_default(q, revision, request, found, why_not, headers)

    @staticmethod
    def _denied(q: Query, revision: str, denied: tuple[list[dict[str, Any]], list[str]]
                ) -> Outcome:
        proof, rule_list = denied
        rules = tuple(rule_list)
        return Outcome(
            False, revision,
            f"denied by rule {rules[0]}" if rules else "denied by a deny rule",
            {"kind": "deny", "proof": proof}, rule_ids=rules, cacheable=not q.volatile,
        )

    @staticmethod
    def _no_allow_rules(q: Query, revision: str) -> Outcome:
        return Outcome(False, revision, "no allow rules in the policy set",
                       {"kind": "default-deny", "why_not": []}, cacheable=not q.volatile)

    @staticmethod
    def _allow_or_default(
        q: Query, revision: str, request: Request,
        found: tuple[list[dict[str, Any]], list[str]] | None, why_not: list[WhyNot],
        headers: tuple[tuple[str, str], ...],
    ) -> Outcome:
        if found is not None:
            proof, rule_list = found
            rules = tuple(rule_list)
            return Outcome(
                True, revision,
                f"allowed by rule {rules[0]}" if rules else "allowed",
                {"kind": "allow", "proof": proof}, rule_ids=rules,
                cacheable=not q.volatile, response_headers=headers,
            )
        why = list(map(WhyNot.to_dict, why_not))
        reason = f"no rule allows {request.subject} to {request.action} {request.resource}"
        return Outcome(False, revision, reason, {"kind": "default-deny", "why_not": why},
                       cacheable=not q.volatile)

    async def search(
        self, policy: PolicyLike, request: Request, unknown: str, limit: int = 10_000
    ) -> list[str]:
        """The ids for the ``unknown`` part of the request ("subject", "action" or
        "resource") that the policy allows: ``allow`` enumerated with that argument free,
        each candidate then decided in full (so deny rules and input still apply).

        Raises the engine's errors (a search that fails is an error, not an empty answer).
        """
        program = policy.program
        position = {"subject": 0, "action": 1, "resource": 2}[unknown]
        allow_pred = program.predicates.get(("allow", 3))
        if allow_pred is None or not allow_pred.defined:
            return []
        candidates: list[str] = []
        seen: set[str] = set()
        # the facts of allow, then each rule on its own: a rule that cannot enumerate the
        # unknown (say ``startswith(?path, "/api/")`` with the path free) is left out of the
        # search instead of failing it; rules that can still contribute their answers
        known = [(i, v) for i, v in enumerate(
            (request.subject, request.action, request.resource)) if i != position]
        for row in allow_pred.rows:
            v = row[position]
            if isinstance(v, str) and v not in seen and all(row[i] == k for i, k in known):
                seen.add(v)
                candidates.append(v)
        for clause in allow_pred.clauses:
            free = Var("?" + unknown)
            args: list[Any] = [request.subject, request.action, request.resource]
            args[position] = free
            q = self._query(program, "allow", tuple(args), request, proofs=False)
            frame: list[Any] = [None] * clause.nvars
            if not unify_head(clause.head, tuple(args), frame, q.trail):
                continue
            q.goals = tuple(build_goal(g, frame) for g in clause.body)
            agen = q.solve()
            try:
                async for _ in agen:
                    v = resolve(free)
                    if isinstance(v, str) and v not in seen:
                        seen.add(v)
                        candidates.append(v)
            except EvaluationError:
                log.debug("search: %s cannot enumerate the %s", clause.clause.label, unknown)
            finally:
                await agen.aclose()
        out: list[str] = []
        for c in candidates:
            concrete = request.with_id(unknown, c)
            outcome = await self.evaluate(policy, concrete)
            if outcome.errors:
                raise EngineError(outcome.errors[0])
            if outcome.allowed:
                out.append(c)
                if len(out) >= limit:
                    break
        return out

    async def _headers(self, program: Program, request: Request) -> tuple[tuple[str, str], ...]:
        pred = program.predicates.get(("response_header", 2))
        if pred is None or not pred.defined:
            return ()
        name, value = Var("?name"), Var("?value")
        q = self._query(program, "response_header", (name, value), request, proofs=False)
        out: list[tuple[str, str]] = []
        agen = q.solve()
        try:
            async for _ in agen:
                n, v = resolve(name), resolve(value)
                if isinstance(n, str) and not isinstance(v, Var):
                    out.append((n, v if isinstance(v, str) else format_term(v)))
        finally:
            await agen.aclose()
        return tuple(out)

