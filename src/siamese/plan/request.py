"""The request of a query plan: an AuthZEN-shaped body whose resource has a type and no id
(the resource is what the plan leaves open)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..decision.models import Request, RequestError

__all__ = ["PlanRequest"]


@dataclass(frozen=True)
class PlanRequest:
    subject: str
    action: str
    resource_type: str
    input: dict[str, Any]  # the known part of what input(Path, ?V) reads

    @classmethod
    def from_authzen(
        cls, body: Any, *, claims: dict[str, Any] | None = None
    ) -> PlanRequest:
        """Validate the body as the evaluation endpoint does, but with ``resource.type`` and
        without ``resource.id`` (RequestError names the problem)."""
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        resource = body.get("resource")
        if not isinstance(resource, dict):
            raise RequestError("'resource' must be an object with a 'type'")
        if "id" in resource:
            raise RequestError(
                "'resource.id' must not be given: a plan is for every resource of a type"
            )
        if "properties" in resource:
            raise RequestError(
                "'resource.properties' must not be given: the plan leaves them open"
            )
        rtype = resource.get("type")
        if not isinstance(rtype, str) or not rtype:
            raise RequestError("'resource.type' must be a non-empty string")
        # the evaluation endpoint's own checks, on the body with a placeholder id
        checked = Request.from_authzen(
            {**body, "resource": {"type": rtype, "id": "placeholder"}}, claims=claims
        )
        known = dict(checked.input)
        known["resource"] = {"type": rtype}
        return cls(checked.subject, checked.action, rtype, known)
