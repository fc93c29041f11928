"""``POST /v1/data/{path}``: OPA's Data API, so that clients built for OPA call Siamese
unchanged.

The body is ``{"input": ...}`` and the answer ``{"result": bool, "decision_id": ...}``
whatever the path names (a policy set has one decision). The input is either an AuthZEN
request (``subject``, ``action``, ``resource``, ``context``) or what Kong's OPA plugin sends
(``{"request": {"http": {"method", "path", "host", "headers", "querystring"}}}``), which is
decided like a gateway callout: the subject is the ``sub`` of the verified bearer token in
its headers. Errors have OPA's shape, ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from ..decision.models import Request as DecisionRequest
from ..decision.models import RequestError
from .asgi import ANY_PATH, Call, Reply
from .auth import TokenError
from .context import Context
from .gateway import GatewayCall, first, header_pairs, split_uri
from .responses import ApiError

__all__ = ["routes"]

ENDPOINT = "opa"
_CODES = {
    400: "invalid_parameter",
    401: "unauthorized",
    413: "invalid_parameter",
    429: "too_many_requests",
    503: "unavailable",
}


def opa_error(status: int, message: str) -> Any:
    return {"code": _CODES.get(status, "internal_error"), "message": message}


def routes(ctx: Context) -> list[Route]:
    gateway = GatewayCall(ctx.verifier)

    def kong_request(http: dict[str, Any]) -> DecisionRequest | None:
        """A decision request from Kong's input; None when its bearer token is refused."""
        headers = http.get("headers") or {}
        if not isinstance(headers, dict):
            raise ApiError(400, "'input.request.http.headers' must be an object")
        pairs = header_pairs(headers)
        method = http.get("method")
        if not isinstance(method, str):
            raise ApiError(400, "'input.request.http.method' must be a string")
        raw_path = http.get("path")
        if not isinstance(raw_path, str):
            raise ApiError(400, "'input.request.http.path' must be a string")
        path, query = split_uri(raw_path)
        querystring = http.get("querystring") or {}
        if isinstance(querystring, dict):
            for name, value in querystring.items():
                value = first(value)
                query.setdefault(str(name), value if isinstance(value, str) else "")
        host = http.get("host")
        try:
            subject, claims = gateway.subject(dict(pairs).get("authorization"))
        except TokenError:
            return None
        return gateway.request(
            method=gateway.method(method),
            path=path,
            query=query,
            host=host if isinstance(host, str) else "",
            headers=pairs,
            subject=subject,
            claims=claims,
        )

    async def data(call: Call) -> Reply:
        ctx.admit(call)
        body = await ctx.read_object(call)
        inp = body.get("input")
        if not isinstance(inp, dict):
            raise ApiError(400, "missing 'input'" if inp is None else "'input' must be an object")
        request = inp.get("request")
        http = request.get("http") if isinstance(request, dict) else None
        if "subject" not in inp and isinstance(http, dict):
            decision_request = kong_request(http)
            if decision_request is None:  # a refused token: deny, as OPA would
                ctx.metrics.refused(ENDPOINT, 401)
                return 200, {"result": False}, []
        else:
            try:
                decision_request = DecisionRequest.from_authzen(inp)
            except RequestError as e:
                raise ApiError(e.status, f"input: {e.message}") from None
        decision = await ctx.service.decide(decision_request)
        decision = await ctx.answered(decision, ENDPOINT)
        return 200, {"result": decision.outcome.allowed, "decision_id": decision.decision_id}, []

    return [
        Route(
            "/v1/data/" + ANY_PATH,
            ctx.endpoint(ENDPOINT, data, opa_error),
            methods=["POST"],
            name="opa_data",
        )
    ]
