"""``POST /api/plan/resources``: Cerbos' PlanResources request and response shapes over
Siamese's query plans, so that the ``cerbos`` SDK's ``plan_resources``, pointed at Siamese,
works unchanged.

The principal becomes the AuthZEN subject (type ``user``; its ``attr`` the subject's
properties, its ``roles`` the property ``roles``), the resource kind the resource type.
What Siamese has no counterpart for is refused rather than ignored: a policy version other
than ``default``, a scope, resource attributes (a plan leaves every property open), and
``auxData`` (Siamese verifies no token from the body). With several actions, a resource
passes when every action's plan passes it (Cerbos' meaning). Errors are Cerbos' shape,
``{"code": <gRPC status>, "message": ...}``.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ..decision.models import RequestError
from ..plan import ALWAYS_ALLOWED, ALWAYS_DENIED, CONDITIONAL, PlanRequest
from .asgi import Call, Reply
from .context import Context
from .responses import ApiError
from .routes_plan import Planning

__all__ = ["MAX_ACTIONS", "cerbos_error", "routes"]

MAX_ACTIONS = 20
# the gRPC status codes of Cerbos' errors, by HTTP status
_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 413: 3, 415: 3, 422: 9, 429: 8,
          500: 13, 503: 14}


def cerbos_error(status: int, message: str) -> dict[str, Any]:
    return {"code": _CODES.get(status, 2), "message": message}


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise RequestError(f"'{name}' must be a non-empty string")
    return value


def _only_default(part: dict[str, Any], name: str) -> None:
    version = part.get("policyVersion", "default")
    if version not in ("default", ""):
        raise RequestError(f"'{name}.policyVersion' {version!r}: Siamese serves one policy "
                           "set (only 'default')")
    if part.get("scope", ""):
        raise RequestError(f"'{name}.scope': Siamese has no policy scopes")


def plan_requests(body: Any) -> tuple[str, list[str], str, list[PlanRequest]]:
    """(request id, actions, resource kind, one plan request per action) of a Cerbos
    PlanResources body; RequestError names what is wrong."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    request_id = body.get("requestId", "")
    if not isinstance(request_id, str):
        raise RequestError("'requestId' must be a string")
    if ("action" in body) == ("actions" in body):
        raise RequestError("give either 'action' or 'actions'")
    actions = [body["action"]] if "action" in body else body["actions"]
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
        raise RequestError(f"'actions' must be a list of 1 to {MAX_ACTIONS} actions")
    actions = [_text(a, "actions[]") for a in actions]
    if body.get("auxData"):
        raise RequestError("'auxData' is not supported: Siamese verifies no token from the "
                           "body (send the subject's claims as principal attributes)")
    principal, resource = body.get("principal"), body.get("resource")
    if not isinstance(principal, dict):
        raise RequestError("'principal' must be an object")
    if not isinstance(resource, dict):
        raise RequestError("'resource' must be an object")
    _only_default(principal, "principal")
    _only_default(resource, "resource")
    if resource.get("attr"):
        raise RequestError("'resource.attr' must be empty: a plan leaves every property of "
                           "the resource open")
    kind = _text(resource.get("kind"), "resource.kind")
    attr = principal.get("attr") or {}
    if not isinstance(attr, dict):
        raise RequestError("'principal.attr' must be an object")
    roles = principal.get("roles")
    properties = dict(attr)
    if roles is not None:
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise RequestError("'principal.roles' must be a list of strings")
        if "roles" in attr:
            raise RequestError("'principal.roles' and 'principal.attr.roles' both given")
        properties["roles"] = roles
    subject = {"type": "user", "id": _text(principal.get("id"), "principal.id"),
               "properties": properties}
    requests = [PlanRequest.from_authzen({"subject": subject, "action": {"name": a},
                                          "resource": {"type": kind}}) for a in actions]
    return request_id, actions, kind, requests


def _combined(filters: list[dict[str, Any]]) -> dict[str, Any]:
    """The filter that passes a resource when every action's filter does."""
    if any(f["kind"] == ALWAYS_DENIED for f in filters):
        return {"kind": ALWAYS_DENIED}
    conditions = [f["condition"] for f in filters if f["kind"] == CONDITIONAL]
    if not conditions:
        return {"kind": ALWAYS_ALLOWED}
    unique = [c for i, c in enumerate(conditions) if c not in conditions[:i]]
    if len(unique) == 1:
        return {"kind": CONDITIONAL, "condition": unique[0]}
    return {"kind": CONDITIONAL,
            "condition": {"expression": {"operator": "and", "operands": unique}}}


def routes(ctx: Context, planning: Planning) -> list[Route]:
    async def plan(call: Call) -> Reply:
        ctx.admit(call)
        request_id, actions, kind, requests = plan_requests(await ctx.read_object(call))
        events = [await planning.plan(r) for r in requests]
        answer: dict[str, Any] = {
            "requestId": request_id,
            "action": actions[0],
            "actions": actions,
            "resourceKind": kind,
            "policyVersion": "default",
            "filter": _combined([e.filter for e in events]),
            "cerbosCallId": events[0].plan_id,
        }
        if len({e.revision for e in events}) > 1:  # a reload between two actions' plans
            raise ApiError(503, "the policy set changed while planning: ask again")
        return 200, answer, []

    return [
        Route(
            "/api/plan/resources",
            ctx.endpoint("cerbos_plan_resources", plan, cerbos_error),
            methods=["POST"],
            name="cerbos_plan_resources",
        )
    ]
