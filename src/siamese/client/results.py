"""What the client answers: a :class:`Decision`, a :class:`SearchPage`, a :class:`Plan`,
each read strictly from the server's JSON answer (anything else is a MalformedAnswer), or
made fail-closed from the error that stopped it.

The field names are those of the server's answers: an AuthZEN answer's ``decision``, and
its ``context``'s ``revision`` and ``decision_id``; ``reason`` is ``context.reason_user``
and ``explanation`` is ``context.reason_admin``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..plan import ALWAYS_ALLOWED, ALWAYS_DENIED, CONDITIONAL
from .errors import (
    AuthenticationError,
    ClientError,
    MalformedAnswer,
    RequestRejected,
    ServerError,
)

__all__ = [
    "SEMANTICS",
    "Decision",
    "Plan",
    "SearchPage",
    "decision_from",
    "error_for_status",
    "evaluations_from",
    "plan_from",
    "search_from",
]

# options.evaluations_semantic of an AuthZEN batch (the server declares them in
# siamese.server.schemas, which the client may not import; a test checks they agree)
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
PLAN_KINDS = (ALWAYS_ALLOWED, ALWAYS_DENIED, CONDITIONAL)


@dataclass(frozen=True)
class Decision:
    """One decision. ``decision`` is True only when the server answered ``"decision": true``
    in a well-formed answer; a decision the client could not get is a deny with ``error``
    set (and no revision). ``cached``: it came from the client's own cache (then
    ``decision_id`` names the server's decision that is reused)."""

    decision: bool
    reason: str = ""
    explanation: Any = None
    revision: str | None = None
    decision_id: str | None = None
    request_id: str | None = None  # the X-Request-ID the call was sent with
    error: ClientError | None = field(default=None, compare=False)
    cached: bool = False

    def __post_init__(self) -> None:
        if self.error is not None and self.decision:
            raise ValueError("a decision with an error is a deny")

    @property
    def allowed(self) -> bool:
        return self.decision

    @classmethod
    def failed(cls, error: ClientError, request_id: str | None = None) -> Decision:
        """The deny that stands for a decision the client could not get."""
        return cls(False, f"denied: no decision: {error.message}", None, None, None,
                   request_id, error)


@dataclass(frozen=True)
class SearchPage:
    """One page of an AuthZEN search: ``results`` as the server wrote them
    (``{"type", "id"}`` for subjects and resources, ``{"name"}`` for actions), and
    ``next_token``, empty on the last page. A search the client could not get is an empty
    last page with ``error`` set."""

    results: tuple[dict[str, Any], ...]
    next_token: str = ""
    request_id: str | None = None
    error: ClientError | None = field(default=None, compare=False)

    @property
    def ids(self) -> tuple[str, ...]:
        """The id of each result (the name, for actions)."""
        return tuple(r["name"] if "name" in r else r["id"] for r in self.results)

    @classmethod
    def failed(cls, error: ClientError, request_id: str | None = None) -> SearchPage:
        return cls((), "", request_id, error)


@dataclass(frozen=True)
class Plan:
    """A query plan: ``kind`` (``KIND_ALWAYS_ALLOWED``, ``KIND_ALWAYS_DENIED`` or
    ``KIND_CONDITIONAL``), the ``condition`` of a conditional plan (Cerbos' query-plan
    format), and the rule behind each branch. A plan the client could not get (or that the
    server refused to make) is always-denied with ``error`` set."""

    kind: str
    condition: dict[str, Any] | None = None
    explanation: tuple[dict[str, Any], ...] = ()
    revision: str | None = None
    plan_id: str | None = None
    request_id: str | None = None
    error: ClientError | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.error is not None and self.kind != ALWAYS_DENIED:
            raise ValueError("a plan with an error is always denied")

    @property
    def filter(self) -> dict[str, Any]:
        """The filter as the server wrote it: what ``siamese.plan.sqlalchemy.where`` takes."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.condition is not None:
            out["condition"] = self.condition
        return out

    @classmethod
    def failed(cls, error: ClientError, request_id: str | None = None) -> Plan:
        return cls(ALWAYS_DENIED, None, (), None, None, request_id, error)


# --- reading answers ------------------------------------------------------------------------


def error_for_status(status: int, answer: Any) -> ClientError:
    """The error a non-200 answer stands for, with the server's message when it sent one
    (``{"error": {"message"}}``)."""
    message = f"HTTP {status}"
    if isinstance(answer, dict):
        err = answer.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            message = f"HTTP {status}: {err['message']}"
    if status in (401, 403):
        return AuthenticationError(message, status)
    if 400 <= status < 500:
        return RequestRejected(message, status)
    if 500 <= status < 600:
        return ServerError(message, status)
    return MalformedAnswer(f"unexpected answer: {message}", status)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedAnswer(f"{what} is not a JSON object", 200)
    return value


def _optional_str(ctx: dict[str, Any], key: str, what: str) -> str | None:
    value = ctx.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedAnswer(f"'{what}.{key}' is not a string", 200)
    return value


def decision_from(answer: Any, request_id: str | None, what: str = "the answer") -> Decision:
    """A decision from an AuthZEN evaluation answer. An item the server refused
    (``context.error``) is a deny carrying that error."""
    body = _object(answer, what)
    decision = body.get("decision")
    if not isinstance(decision, bool):
        raise MalformedAnswer(f"'decision' of {what} is not a JSON boolean: {decision!r:.80}",
                              200)
    ctx = _object(body.get("context", {}), f"'context' of {what}")
    err = ctx.get("error")
    if err is not None:
        if decision:
            raise MalformedAnswer(f"{what} is an allow with an error", 200)
        err = _object(err, f"'context.error' of {what}")
        status = err.get("status")
        if isinstance(status, bool) or not isinstance(status, int):
            raise MalformedAnswer(f"'context.error.status' of {what} is not an integer", 200)
        return Decision.failed(error_for_status(status, {"error": err}), request_id)
    reason = ctx.get("reason_user", "")
    if not isinstance(reason, str):
        raise MalformedAnswer(f"'context.reason_user' of {what} is not a string", 200)
    return Decision(
        decision,
        reason,
        ctx.get("reason_admin"),
        _optional_str(ctx, "revision", "context"),
        _optional_str(ctx, "decision_id", "context") or _optional_str(ctx, "id", "context"),
        request_id,
    )


def evaluations_from(
    answer: Any, count: int, semantic: str, request_id: str | None
) -> list[Decision]:
    """The decisions of an AuthZEN batch of ``count`` items, checked against the semantic:
    every item for ``execute_all``; up to the first deny (or permit) for the others."""
    body = _object(answer, "the answer")
    items = body.get("evaluations")
    if not isinstance(items, list):
        raise MalformedAnswer("'evaluations' of the answer is not an array", 200)
    decisions = [decision_from(item, request_id, f"evaluations[{i}]")
                 for i, item in enumerate(items)]
    stop = {"deny_on_first_deny": False, "permit_on_first_permit": True}.get(semantic)
    complete = len(decisions) == count
    if stop is None:
        ok = complete
    else:
        # every item before the last is not the stopping one; the last is, or the batch ran out
        ok = 0 < len(decisions) <= count and all(d.decision != stop for d in decisions[:-1])
        ok = ok and (complete or decisions[-1].decision == stop)
    if not ok:
        raise MalformedAnswer(
            f"{len(decisions)} evaluations answered for {count} items under {semantic}", 200
        )
    return decisions


def evaluations_failed(
    error: ClientError, count: int, semantic: str, request_id: str | None
) -> list[Decision]:
    """A batch the client could not get, as the server would answer a deny for each item:
    one deny under ``deny_on_first_deny`` (it stops there), a deny for every item
    otherwise."""
    n = min(count, 1) if semantic == "deny_on_first_deny" else count
    return [Decision.failed(error, request_id) for _ in range(n)]


def search_from(answer: Any, key: str, request_id: str | None) -> SearchPage:
    """A search page; each result must carry ``key`` (``id``, or ``name`` for actions) as
    a string."""
    body = _object(answer, "the answer")
    results = body.get("results")
    if not isinstance(results, list):
        raise MalformedAnswer("'results' of the answer is not an array", 200)
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not isinstance(r.get(key), str):
            raise MalformedAnswer(f"'results[{i}]' has no string '{key}'", 200)
    page = _object(body.get("page", {}), "'page' of the answer")
    token = page.get("next_token", "")
    if not isinstance(token, str):
        raise MalformedAnswer("'page.next_token' of the answer is not a string", 200)
    return SearchPage(tuple(results), token, request_id)


def plan_from(answer: Any, request_id: str | None) -> Plan:
    body = _object(answer, "the answer")
    flt = _object(body.get("filter"), "'filter' of the answer")
    kind = flt.get("kind")
    if kind not in PLAN_KINDS:
        raise MalformedAnswer(f"'filter.kind' of the answer is not a plan kind: {kind!r:.80}",
                              200)
    condition = flt.get("condition")
    if kind == CONDITIONAL:
        condition = _object(condition, "'filter.condition' of a conditional plan")
    elif condition is not None:
        raise MalformedAnswer(f"a plan of kind {kind} has a condition", 200)
    explanation = body.get("explanation", [])
    if not isinstance(explanation, list) or not all(isinstance(e, dict) for e in explanation):
        raise MalformedAnswer("'explanation' of the answer is not an array of objects", 200)
    return Plan(
        kind,
        condition,
        tuple(explanation),
        _optional_str(body, "revision", "answer"),
        _optional_str(body, "plan_id", "answer"),
        request_id,
    )


def with_request(decision: Decision, request_id: str | None, cached: bool) -> Decision:
    return replace(decision, request_id=request_id, cached=cached)


def revision_of(results: Sequence[Decision]) -> str | None:
    for d in results:
        if d.revision is not None:
            return d.revision
    return None
