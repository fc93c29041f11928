"""Query plans: "which documents may alice read?" as a condition on the resource that the
application's own database can run (see the README's "Filtering lists").

:func:`plan_resources` evaluates ``allow`` and ``deny`` with the resource unknown
(:mod:`.partial`); what remains is a condition on the resource's id and properties
(:mod:`.expr`), written in Cerbos' query-plan format. :mod:`.sqlalchemy` turns it into a
SQLAlchemy ``WHERE`` clause.

==============  =================================================================
``request``     the plan's request: AuthZEN-shaped, a resource type and no id
``expr``        conditions: atoms in disjunctive normal form, simplified, written out
``partial``     the partial evaluator
==============  =================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine import EngineError, Limits
from .expr import FALSE, ID, TRUE, Condition, both, simplify, to_text
from .partial import PlanError, Planner, RuleBranches
from .request import PlanRequest

__all__ = [
    "ALWAYS_ALLOWED",
    "ALWAYS_DENIED",
    "CONDITIONAL",
    "Plan",
    "PlanError",
    "PlanRequest",
    "plan_resources",
]

ALWAYS_ALLOWED = "KIND_ALWAYS_ALLOWED"
ALWAYS_DENIED = "KIND_ALWAYS_DENIED"
CONDITIONAL = "KIND_CONDITIONAL"


@dataclass
class Plan:
    """A plan's answer: its kind, the condition (only when conditional, as a Cerbos operand),
    and the rule behind each branch."""

    kind: str
    revision: str
    condition: dict[str, Any] | None = None
    explanation: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""  # the condition as one line of text

    def to_dict(self) -> dict[str, Any]:
        """``{"revision", "filter": {"kind", "condition"?}, "explanation"}``."""
        flt: dict[str, Any] = {"kind": self.kind}
        if self.condition is not None:
            flt["condition"] = self.condition
        return {"revision": self.revision, "filter": flt, "explanation": self.explanation}


def _explained(rules: list[RuleBranches], effect: str) -> tuple[Condition, list[dict[str, Any]]]:
    conditions = []
    out = []
    for r in rules:
        cond = simplify(r.branches)
        if cond == FALSE:
            continue
        conditions.append(cond)
        text = to_text(cond)
        out.append({"rule": r.label, "location": r.location, "effect": effect,
                    "condition": text})
    return simplify(b for c in conditions for b in c), out


def plan_resources(
    policy: Any,
    request: PlanRequest,
    limits: Limits | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Plan:
    """The plan of ``request`` under ``policy`` (anything with ``.program`` and
    ``.revision``: a loaded policy set), within ``limits`` (its time by ``clock``). Raises
    :class:`PlanError` naming the rule and the reason, or the limit exceeded; never answers
    a partial filter."""
    planner = Planner(policy.program, request.input, limits or Limits(), clock)
    args = (request.subject, request.action, ID)
    try:
        deny, deny_why = _explained(planner.plan("deny", args), "deny")
        if deny == TRUE:  # denied whatever the resource: the allow rules cannot change it
            return Plan(ALWAYS_DENIED, policy.revision, None, deny_why, "false")
        allow, allow_why = _explained(planner.plan("allow", args), "allow")
    except PlanError:
        raise
    except RecursionError:
        raise PlanError("plan stopped: the rules nest too deeply to plan") from None
    except EngineError as e:
        raise PlanError(str(e)) from None
    revision = policy.revision
    if allow == FALSE:
        return Plan(ALWAYS_DENIED, revision, None, [], "false")
    if allow == TRUE and deny == FALSE:
        return Plan(ALWAYS_ALLOWED, revision, None, allow_why, "true")
    condition = both(allow, deny)
    text = to_text(allow) if deny == FALSE else (
        f"not ({to_text(deny)})" if allow == TRUE
        else f"({to_text(allow)}) and not ({to_text(deny)})")
    return Plan(CONDITIONAL, revision, condition, allow_why + deny_why, text)
