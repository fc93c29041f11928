"""The OpenID AuthZEN Authorization API 1.0: evaluation, evaluations, search, metadata."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..decision.models import Decision, RequestError
from ..decision.models import Request as DecisionRequest
from ..decision.service import NotReady
from ..engine import EngineError, LimitExceeded
from .asgi import Call, Reply
from .context import Context
from .responses import ApiError, JSONResponse, bounded_int
from .schemas import DEFAULT_PAGE_LIMIT, MAX_EVALUATIONS, MAX_PAGE_LIMIT, SEMANTICS

__all__ = ["evaluation_body", "routes"]

_DEFAULTS = ("subject", "action", "resource", "context")


def evaluation_body(decision: Decision, ctx: Context) -> dict[str, Any]:
    """An AuthZEN decision: the short reason for users, the explanation for administrators
    (both without the request's secrets)."""
    o = decision.outcome
    reason, explanation = ctx.shown(decision)
    return {
        "decision": o.allowed,
        "context": {
            "id": decision.decision_id,
            "decision_id": decision.decision_id,
            "revision": o.revision,
            "reason_user": reason,
            "reason_admin": explanation,
        },
    }


def _item_error(status: int, message: str) -> dict[str, Any]:
    return {"decision": False, "context": {"error": {"status": status, "message": message}}}


# --- search paging: an opaque token bound to the revision and to the request --------------


def _fingerprint(body: dict[str, Any], limit: int) -> str:
    parts = {k: body.get(k) for k in _DEFAULTS}
    parts["limit"] = limit
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _encode_token(revision: str, fingerprint: str, offset: int) -> str:
    raw = orjson.dumps([revision, fingerprint, offset])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_token(token: str) -> tuple[str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        revision, fingerprint, offset = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ApiError(400, "'page.token' is not a page token of this server") from None
    if not (
        isinstance(revision, str)
        and isinstance(fingerprint, str)
        and isinstance(offset, int)
        and not isinstance(offset, bool)
        and offset >= 0
    ):
        raise ApiError(400, "'page.token' is not a page token of this server")
    return revision, fingerprint, offset


def _page(body: dict[str, Any]) -> tuple[str | None, int]:
    page = body.get("page")
    if page is None:
        return None, DEFAULT_PAGE_LIMIT
    if not isinstance(page, dict):
        raise ApiError(400, "'page' must be an object")
    token = page.get("token")
    if token is not None and not isinstance(token, str):
        raise ApiError(400, "'page.token' must be a string")
    limit = bounded_int(page.get("limit", DEFAULT_PAGE_LIMIT), "page.limit", 1, MAX_PAGE_LIMIT)
    return token or None, limit


def routes(ctx: Context) -> list[Route]:
    service = ctx.service

    async def decide_one(body: Any, endpoint: str) -> Reply:
        decision = await service.decide(DecisionRequest.from_authzen(body))
        decision = await ctx.answered(decision, endpoint)
        return 200, evaluation_body(decision, ctx), []

    async def evaluation(call: Call) -> Reply:
        ctx.admit(call)
        return await decide_one(await ctx.read(call), "evaluation")

    async def evaluations(call: Call) -> Reply:
        ctx.admit(call)
        body = await ctx.read_object(call)
        items = body.get("evaluations")
        if items is None or items == []:  # AuthZEN: behaves as a single evaluation
            return await decide_one(body, "evaluations")
        if not isinstance(items, list):
            raise ApiError(400, "'evaluations' must be an array")
        if len(items) > MAX_EVALUATIONS:
            raise ApiError(
                400, f"'evaluations' holds {len(items)} items; at most {MAX_EVALUATIONS}"
            )
        options = body.get("options")
        if options is not None and not isinstance(options, dict):
            raise ApiError(400, "'options' must be an object")
        semantic = (options or {}).get("evaluations_semantic", SEMANTICS[0])
        if semantic not in SEMANTICS:
            raise ApiError(
                400, f"'options.evaluations_semantic' must be one of {', '.join(SEMANTICS)}"
            )
        defaults = {k: body[k] for k in _DEFAULTS if k in body}
        results: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                result = _item_error(400, f"'evaluations[{i}]' must be an object")
            else:
                try:
                    req = DecisionRequest.from_authzen({**defaults, **item})
                except RequestError as e:
                    result = _item_error(e.status, e.message)
                else:
                    decision = await service.decide(req)
                    decision = await ctx.answered(decision, "evaluations")
                    result = evaluation_body(decision, ctx)
            results.append(result)
            if semantic == "deny_on_first_deny" and not result["decision"]:
                break
            if semantic == "permit_on_first_permit" and result["decision"]:
                break
        return 200, {"evaluations": results}, []

    def search_route(unknown: str) -> Route:
        async def search(call: Call) -> Reply:
            ctx.admit(call)
            body = await ctx.read_object(call)
            token, limit = _page(body)
            req = DecisionRequest.for_search(body, unknown)
            policy = ctx.store.get()  # one revision for the whole search
            if policy is None:
                raise NotReady("no policy set is loaded")
            fingerprint = _fingerprint(body, limit)
            offset = 0
            if token is not None:
                revision, token_fingerprint, offset = _decode_token(token)
                if revision != policy.revision:
                    raise ApiError(
                        400,
                        f"'page.token' belongs to policy revision {revision}, and revision "
                        f"{policy.revision} is now serving: start the search again",
                    )
                if token_fingerprint != fingerprint:
                    raise ApiError(
                        400,
                        "'page.token' belongs to a different search: send the "
                        "same request (and page.limit) as for the first page",
                    )
            try:
                found = await service.authorizer.search(
                    policy, req, unknown, limit=offset + limit + 1
                )
            except LimitExceeded as e:
                raise ApiError(
                    422, f"search stopped: limit exceeded ({e.limit}); narrow the search"
                ) from None
            except EngineError as e:
                raise ApiError(503, f"policy evaluation failed: {e}") from None
            ids = found[offset : offset + limit]
            more = len(found) > offset + limit
            if unknown == "action":
                results: list[dict[str, Any]] = [{"name": i} for i in ids]
            else:
                typ = body[unknown].get("type")
                results = [{"type": typ, "id": i} for i in ids]
            next_token = _encode_token(policy.revision, fingerprint, offset + limit) if more else ""
            page = {"next_token": next_token, "count": len(ids)}
            return 200, {"page": page, "results": results}, []

        return Route(
            f"/access/v1/search/{unknown}",
            ctx.endpoint("search", search),
            methods=["POST"],
            name=f"search_{unknown}",
        )

    async def configuration(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "policy_decision_point": base,
                "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
                "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
                "search_subject_endpoint": f"{base}/access/v1/search/subject",
                "search_resource_endpoint": f"{base}/access/v1/search/resource",
                "search_action_endpoint": f"{base}/access/v1/search/action",
            }
        )

    return [
        Route(
            "/access/v1/evaluation",
            ctx.endpoint("evaluation", evaluation),
            methods=["POST"],
            name="evaluation",
        ),
        Route(
            "/access/v1/evaluations",
            ctx.endpoint("evaluations", evaluations),
            methods=["POST"],
            name="evaluations",
        ),
        search_route("subject"),
        search_route("resource"),
        search_route("action"),
        Route(
            "/.well-known/authzen-configuration",
            configuration,
            methods=["GET"],
            name="authzen_configuration",
        ),
    ]
