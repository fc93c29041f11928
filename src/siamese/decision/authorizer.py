"""The authorizer: a request and a policy set in, an :class:`Outcome` out.

allow iff ``allow(S, A, R)`` has a proof and ``deny(S, A, R)`` has none; default deny;
any error or limit denies and says which (Cedar: deny overrides, errors never allow).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..engine import (
    EngineError,
    LimitExceeded,
    Limits,
    Program,
    Var,
    Verdict,
    WhyNot,
    decide,
    enumerate_values,
    response_headers,
)
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


def _noted(outcome: Outcome, notes: Sequence[str]) -> Outcome:
    """What built-ins reported (a fetch that failed...) is shown, and never cached."""
    if not notes:
        return outcome
    def explanation() -> dict[str, Any]:
        return {**outcome.explanation, "notes": list(dict.fromkeys(notes))}

    return outcome.replace(explanation=explanation, cacheable=False)


class PolicyLike(Protocol):
    program: Program
    revision: str


class Authorizer:
    """Turns the engine's verdict on ``allow``/``deny`` for a request into an
    :class:`Outcome` (reasons, explanation JSON, cacheability)."""

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

    async def evaluate(
        self, policy: PolicyLike, request: Request, gateway: bool = False
    ) -> Outcome:
        r = self.evaluate_now(policy, request, gateway)
        return r if isinstance(r, Outcome) else await r

    def evaluate_now(
        self, policy: PolicyLike, request: Request, gateway: bool = False
    ) -> Outcome | Awaitable[Outcome]:
        """The outcome when the engine answers at once (most decisions: no coroutine at
        all), else an awaitable of it: :meth:`evaluate` for callers that always await.
        ``gateway``: a gateway asks, and an allow carries the policy's response headers."""
        v = decide(policy.program, (request.subject, request.action, request.resource),
                   input=request.input, limits=self.limits, clock=self.clock,
                   wall_clock=self.wall_clock, explain=self.explain_denials)
        if isinstance(v, Verdict):
            if gateway and v.allowed:
                return self._with_headers(policy, request, v)
            return _outcome(policy.revision, request, v, ())
        return self._finish(policy, request, v, gateway)

    async def _finish(
        self, policy: PolicyLike, request: Request, pending: Awaitable[Verdict], gateway: bool
    ) -> Outcome:
        v = await pending
        if gateway and v.allowed:
            return await self._with_headers(policy, request, v)
        return _outcome(policy.revision, request, v, ())

    async def _with_headers(self, policy: PolicyLike, request: Request, v: Verdict) -> Outcome:
        try:
            found = await response_headers(policy.program, input=request.input,
                                           limits=self.limits, clock=self.clock,
                                           wall_clock=self.wall_clock)
        except Exception as e:
            return _noted(_failed(policy.revision, e), v.notes)
        return _outcome(policy.revision, request, v, found)

    async def search(
        self, policy: PolicyLike, request: Request, unknown: str, limit: int = 10_000
    ) -> list[str]:
        """The ids for the ``unknown`` part of the request ("subject", "action" or
        "resource") that the policy allows: ``allow`` enumerated with that argument free,
        each candidate then decided in full (so deny rules and input still apply).

        Raises the engine's errors (a search that fails is an error, not an empty answer).
        """
        position = {"subject": 0, "action": 1, "resource": 2}[unknown]
        args: list[Any] = [request.subject, request.action, request.resource]
        args[position] = Var("?" + unknown)
        candidates: list[str] = []
        seen: set[str] = set()
        values = enumerate_values(policy.program, "allow", tuple(args), position,
                                  input=request.input, limits=self.limits, clock=self.clock,
                                  wall_clock=self.wall_clock)
        async for v in values:
            if isinstance(v, str) and v not in seen:
                seen.add(v)
                candidates.append(v)
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


def _outcome(
    revision: str, request: Request, v: Verdict, headers: tuple[tuple[str, str], ...]
) -> Outcome:
    """The outcome of a verdict (what built-ins noted is added to it). Its explanation and
    rule ids are made from the verdict's at their first read."""
    kind = v.kind
    cacheable = not v.volatile
    # positional (allowed, revision, reason, explanation, errors, rule_ids, cacheable,
    # response_headers): a call with keywords costs more, once per uncached decision
    if kind == "allow":
        rule = v.rule
        outcome = Outcome(
            True, revision, f"allowed by rule {rule}" if rule else "allowed",
            lambda: _explained(v, {"kind": "allow", "proof": v.proof}), (),
            lambda: v.rule_ids, cacheable, headers,
        )
    elif kind == "deny":
        rule = v.rule
        outcome = Outcome(
            False, revision, f"denied by rule {rule}" if rule else "denied by a deny rule",
            lambda: _explained(v, {"kind": "deny", "proof": v.proof}), (),
            lambda: v.rule_ids, cacheable,
        )
    elif kind == "default-deny":
        reason = f"no rule allows {request.subject} to {request.action} {request.resource}"
        outcome = Outcome(
            False, revision, reason,
            lambda: _explained(v, {"kind": "default-deny",
                                   "why_not": list(map(WhyNot.to_dict, v.why_not))}),
            (), (), cacheable,
        )
    elif kind == "no-allow-rules":
        outcome = Outcome(False, revision, "no allow rules in the policy set",
                          {"kind": "default-deny", "why_not": []}, cacheable=cacheable)
    else:
        assert v.error is not None
        outcome = _failed(revision, v.error)
    return _noted(outcome, v.notes) if v.notes else outcome


def _explained(v: Verdict, explanation: dict[str, Any]) -> dict[str, Any]:
    """The explanation, and what kept the engine from making it whole (if anything)."""
    if v.explain_error is not None:
        explanation["explain_error"] = v.explain_error
    return explanation
