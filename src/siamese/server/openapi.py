"""The OpenAPI 3.1 description of every endpoint (``GET /openapi.json``).

The request bodies' schemas are made from :data:`siamese.server.schemas.REQUESTS`, the shapes
and limits the validators use; the paths and the answers are written here."""

from __future__ import annotations

import copy
import functools
from typing import Any

from .. import __version__
from ..plan import ALWAYS_ALLOWED, ALWAYS_DENIED, CONDITIONAL
from ..plan.expr import SYMBOL
from .gateway import MAX_METHOD_LENGTH, MAX_QUERY_FIELDS
from .schemas import REQUESTS

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        out["headers"] = headers
    return out


def _body(name: str) -> dict[str, Any]:
    assert name in REQUESTS, name
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Echoed in the response's X-Request-ID header.",
}
_ECHO = {
    "X-Request-ID": {
        "description": "The request's X-Request-ID, when it had one",
        "schema": {"type": "string"},
    }
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON, a missing field, a wrong type, a value out of its bounds, or "
        "nesting deeper than SIAMESE_MAX_JSON_DEPTH",
        401: "The caller is not authenticated",
        403: "The caller may not do this, or the endpoint is disabled",
        413: "The body is larger than SIAMESE_MAX_BODY_BYTES",
        422: "The evaluation hit a limit (named in the message) or failed; a plan names the "
        "rule that cannot become a condition, or the limit",
        429: "The caller's rate limit is exhausted (see Retry-After)",
        500: "Internal error (never an allow)",
        503: "No policy set is loaded yet, or the policy failed to evaluate; a plan, also when "
        "SIAMESE_AUDIT_REQUIRED and the decision log could not record it",
    }
    return {str(c): _json(_ref("Error"), text[c], _ECHO) for c in codes}


_DECISION_ERRORS = (400, 401, 413, 429, 500, 503)

# a plan's filter: its kinds, and the operators of Cerbos' query-plan format it uses
PLAN_KINDS = (ALWAYS_ALLOWED, ALWAYS_DENIED, CONDITIONAL)
PLAN_OPERATORS = ("and", "or", "not", *SYMBOL, "in")

# the answers: what the routes write (the request bodies are schemas.REQUESTS)
_RESPONSES: dict[str, Any] = {
    "DecisionContext": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The decision id"},
            "decision_id": {"type": "string"},
            "revision": {"type": "string", "description": "The policy revision that decided"},
            "reason_user": {"type": "string", "description": "A short reason"},
            "reason_admin": {
                "type": "object",
                "description": "The explanation: the proof of the "
                "allow or deny, or why no allow rule applied",
                "additionalProperties": True,
            },
            "error": _ref("ErrorDetail"),
        },
    },
    "EvaluationResponse": {
        "type": "object",
        "required": ["decision"],
        "properties": {"decision": {"type": "boolean"}, "context": _ref("DecisionContext")},
    },
    "EvaluationsResponse": {
        "type": "object",
        "properties": {
            "evaluations": {"type": "array", "items": _ref("EvaluationResponse")},
            "decision": {"type": "boolean"},
            "context": _ref("DecisionContext"),
        },
    },
    "PageResponse": {
        "type": "object",
        "required": ["next_token"],
        "properties": {
            "next_token": {"type": "string", "description": "Empty on the last page"},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "SearchResponse": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "page": _ref("PageResponse"),
            "results": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
    },
    "ProofNode": {
        "type": "object",
        "required": ["goal", "kind"],
        "properties": {
            "goal": {"type": "string", "description": "The goal as proved"},
            "kind": {"type": "string", "enum": ["rule", "fact", "builtin", "not", "table"]},
            "rule": {"type": "string", "description": "The rule's @id, or file:line"},
            "location": {"type": "string", "description": "file:line of the rule or fact"},
            "description": {"type": "string"},
            "children": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": True},
                "description": "The proofs of the rule's body (ProofNode objects)",
            },
            "truncated": {
                "type": "boolean",
                "description": "The subproofs are left out: the proof is too deep",
            },
        },
    },
    "QueryResponse": {
        "type": "object",
        "required": ["revision", "solutions", "truncated"],
        "properties": {
            "revision": {"type": "string", "description": "The policy revision that answered"},
            "solutions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["bindings"],
                    "properties": {
                        "bindings": {
                            "type": "object",
                            "additionalProperties": True,
                            "description": "The value of each ?variable of the query",
                        },
                        "proof": {"type": "array", "items": _ref("ProofNode")},
                    },
                },
            },
            "truncated": {
                "type": "boolean",
                "description": "More solutions exist than 'limit' allowed",
            },
        },
    },
    "PlanOperand": {
        "type": "object",
        "description": "Cerbos' query-plan format: one of 'expression', 'variable' "
        "('request.resource.id' or 'request.resource.attr.<name>') or 'value'",
        "properties": {
            "expression": {
                "type": "object",
                "required": ["operator", "operands"],
                "properties": {
                    "operator": {"type": "string", "enum": list(PLAN_OPERATORS)},
                    "operands": {"type": "array", "items": {"$ref": "#/components/schemas/"
                                                                    "PlanOperand"}},
                },
            },
            "variable": {"type": "string"},
            "value": {"description": "Any JSON value ('in' takes an array)"},
        },
    },
    "PlanResponse": {
        "type": "object",
        "required": ["revision", "plan_id", "filter", "explanation"],
        "properties": {
            "revision": {"type": "string", "description": "The policy revision that planned"},
            "plan_id": {"type": "string", "description": "The plan's id in the decision log"},
            "filter": {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "enum": list(PLAN_KINDS)},
                    "condition": {
                        **_ref("PlanOperand"),
                        "description": "Only for KIND_CONDITIONAL: the rows it holds for",
                    },
                },
            },
            "explanation": {
                "type": "array",
                "description": "The rule behind each branch of the filter",
                "items": {
                    "type": "object",
                    "properties": {
                        "rule": {"type": "string", "description": "The rule's @id, or file:line"},
                        "location": {"type": "string", "description": "file:line"},
                        "condition": {"type": "string", "description": "The branch, as text"},
                    },
                },
            },
        },
    },
    "CerbosPlanResponse": {
        "type": "object",
        "required": ["requestId", "action", "resourceKind", "policyVersion", "filter"],
        "properties": {
            "requestId": {"type": "string"},
            "action": {"type": "string"},
            "actions": {"type": "array", "items": {"type": "string"}},
            "resourceKind": {"type": "string"},
            "policyVersion": {"type": "string"},
            "cerbosCallId": {"type": "string", "description": "The plan's id in the "
                             "decision log (the first action's)"},
            "filter": {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "enum": list(PLAN_KINDS)},
                    "condition": _ref("PlanOperand"),
                },
            },
        },
    },
    "CerbosError": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "integer", "description": "A gRPC status code"},
                       "message": {"type": "string"}},
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": _ref("ErrorDetail")},
    },
    "ForwardAuthAnswer": {
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"type": "boolean"},
            "reason": {"type": "string"},
            "decision_id": {"type": "string"},
        },
    },
    "OpaResponse": {
        "type": "object",
        "required": ["result"],
        "properties": {"result": {"type": "boolean"}, "decision_id": {"type": "string"}},
    },
    "OpaError": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "AuthzenConfiguration": {
        "type": "object",
        "required": ["policy_decision_point", "access_evaluation_endpoint"],
        "properties": {
            k: {"type": "string", "format": "uri"}
            for k in (
                "policy_decision_point",
                "access_evaluation_endpoint",
                "access_evaluations_endpoint",
                "search_subject_endpoint",
                "search_resource_endpoint",
                "search_action_endpoint",
            )
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "problems": {"type": "array", "items": {"type": "string"}},
            "policy": {"type": "object", "additionalProperties": True},
            "watcher": {"type": "object", "additionalProperties": True},
        },
    },
    "Ready": {
        "type": "object",
        "required": ["ready"],
        "properties": {
            "ready": {"type": "boolean"},
            "revision": {"type": "string"},
            "reason": {"type": "string"},
            "last_error": {"type": ["string", "null"]},
        },
    },
    "Policies": {
        "type": "object",
        "properties": {
            "root": {"type": "string"},
            "revision": {"type": ["string", "null"]},
            "files": {"type": "array", "items": {"type": "string"}},
            "tests": {"type": "array", "items": {"type": "string"}},
            "loaded_at": {"type": ["number", "null"]},
            "last_error": {"type": ["string", "null"]},
            "last_error_at": {"type": ["number", "null"]},
            "reloads": {"type": "integer"},
            "failures": {"type": "integer"},
            "attempts": {"type": "integer"},
            "watcher": {"type": "string"},
        },
    },
}

_STRING = {"type": "string"}
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {}]
_ADMIN: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def _post(op_id: str, summary: str, request: str, response: str, tag: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": op_id,
            "summary": summary,
            "tags": [tag],
            "security": _SECURED,
            "parameters": [_REQUEST_ID],
            "requestBody": _body(request),
            "responses": {
                "200": _json(_ref(response), "The decision", _ECHO),
                **_errors(*_DECISION_ERRORS),
            },
        }
    }


def _forward_auth_operation(method: str, suffix: str) -> dict[str, Any]:
    a_method = {"type": "string", "minLength": 1, "maxLength": MAX_METHOD_LENGTH}
    uri = f"the client's raw URI (a query of at most {MAX_QUERY_FIELDS} parameters)"
    params: list[dict[str, Any]] = [
        {
            "name": n,
            "in": "header",
            "required": False,
            "schema": schema,
            "description": d,
        }
        for n, schema, d in (
            ("Authorization", _STRING, "Bearer JWT of the end user: its 'sub' is the subject"),
            ("X-Original-Method", a_method, "SIAMESE_GATEWAY=nginx: the client's method"),
            ("X-Original-URI", _STRING, f"SIAMESE_GATEWAY=nginx: {uri}"),
            ("X-Original-Host", _STRING, "SIAMESE_GATEWAY=nginx: the client's host"),
            (
                "X-Forwarded-Method",
                a_method,
                "SIAMESE_GATEWAY=traefik or caddy: the client's method",
            ),
            ("X-Forwarded-Uri", _STRING, f"SIAMESE_GATEWAY=traefik or caddy: {uri}"),
            ("X-Forwarded-Host", _STRING, "SIAMESE_GATEWAY=traefik or caddy: the client's host"),
        )
    ]
    if suffix:
        params.append(
            {
                "name": "path",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "SIAMESE_GATEWAY=envoy (path_prefix): the client's raw path",
            }
        )
    allow_headers = {
        "X-Siamese-Decision-Id": {"schema": {"type": "string"}, "description": "The decision id"},
        "X-Siamese-Subject": {
            "schema": {"type": "string"},
            "description": "The subject decided for",
        },
    }
    return {
        "operationId": f"forward_auth{suffix}_{method}",
        "summary": "Gateway callout: 200 allows, 401 asks for credentials, 403 denies",
        "tags": ["gateway"],
        "parameters": params,
        "responses": {
            "200": _json(
                _ref("ForwardAuthAnswer"),
                "Allowed; plus every response_header(Name, Value) the policy proves",
                allow_headers,
            ),
            "401": _json(
                _ref("ForwardAuthAnswer"),
                "Denied without a bearer token (a bare Bearer challenge), or a bad, expired "
                "or unverifiable bearer token (error=\"invalid_token\")",
                {"WWW-Authenticate": {"schema": {"type": "string"}}},
            ),
            "403": _json(
                _ref("ForwardAuthAnswer"),
                "An authenticated subject denied, or a refused callout: an ambiguous path, a "
                "bad method, conventions that disagree, anything oversized",
            ),
        },
    }


@functools.cache
def _document() -> dict[str, Any]:
    methods = ("get", "post", "put", "patch", "delete", "head", "options")
    paths: dict[str, Any] = {
        "/access/v1/evaluation": _post(
            "evaluation",
            "AuthZEN access evaluation",
            "EvaluationRequest",
            "EvaluationResponse",
            "authzen",
        ),
        "/access/v1/evaluations": _post(
            "evaluations",
            "AuthZEN access evaluations (batch)",
            "EvaluationsRequest",
            "EvaluationsResponse",
            "authzen",
        ),
        "/access/v1/search/subject": _post(
            "search_subject",
            "AuthZEN subject search",
            "SubjectSearchRequest",
            "SearchResponse",
            "authzen",
        ),
        "/access/v1/search/resource": _post(
            "search_resource",
            "AuthZEN resource search",
            "ResourceSearchRequest",
            "SearchResponse",
            "authzen",
        ),
        "/access/v1/search/action": _post(
            "search_action",
            "AuthZEN action search",
            "ActionSearchRequest",
            "SearchResponse",
            "authzen",
        ),
        "/.well-known/authzen-configuration": {
            "get": {
                "operationId": "authzen_configuration",
                "summary": "AuthZEN PDP metadata",
                "tags": ["authzen"],
                "responses": {
                    "200": _json(_ref("AuthzenConfiguration"), "The endpoints of this PDP")
                },
            }
        },
        "/v1/forward-auth": {m: _forward_auth_operation(m, "") for m in methods},
        "/v1/forward-auth/{path}": {m: _forward_auth_operation(m, "_path") for m in methods},
        "/v1/data/{path}": {
            "post": {
                "operationId": "opa_data",
                "summary": "OPA-compatible decision",
                "tags": ["opa"],
                "security": _SECURED,
                "parameters": [
                    {
                        "name": "path",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "Any OPA document path: every path gives the decision",
                    }
                ],
                "requestBody": _body("OpaRequest"),
                "responses": {
                    "200": _json(_ref("OpaResponse"), "The decision"),
                    **{
                        str(c): _json(_ref("OpaError"), "Refused")
                        for c in (400, 401, 413, 429, 500, 503)
                    },
                },
            }
        },
        "/v1/policies": {
            "get": {
                "operationId": "policies",
                "summary": "The serving policy set and the last reload error",
                "tags": ["admin"],
                "security": _SECURED,
                "responses": {
                    "200": _json(_ref("Policies"), "The policy store"),
                    **_errors(401, 429),
                },
            }
        },
        "/v1/query": {
            "post": {
                "operationId": "query",
                "summary": "Prove any goal, with its solutions and their proofs (admin keys "
                "only: SIAMESE_ADMIN_KEYS)",
                "tags": ["admin"],
                "security": _ADMIN,
                "parameters": [_REQUEST_ID],
                "requestBody": _body("QueryRequest"),
                "responses": {
                    "200": _json(_ref("QueryResponse"), "The solutions", _ECHO),
                    **_errors(400, 401, 403, 413, 422, 429, 500, 503),
                },
            }
        },
        "/v1/plan/resources": {
            "post": {
                "operationId": "plan_resources",
                "summary": "Which resources of a type the subject may act on: a filter for "
                "the application's own query (a query plan)",
                "tags": ["plan"],
                "security": _SECURED,
                "parameters": [_REQUEST_ID],
                "requestBody": _body("PlanRequest"),
                "responses": {
                    "200": _json(_ref("PlanResponse"), "The plan", _ECHO),
                    **_errors(400, 401, 413, 422, 429, 500, 503),
                },
            }
        },
        "/api/plan/resources": {
            "post": {
                "operationId": "cerbos_plan_resources",
                "summary": "A query plan in Cerbos' PlanResources shapes (the cerbos SDK's "
                "plan_resources works against it); errors as Cerbos' {code, message}",
                "tags": ["plan"],
                "security": _SECURED,
                "parameters": [_REQUEST_ID],
                "requestBody": _body("CerbosPlanRequest"),
                "responses": {
                    "200": _json(_ref("CerbosPlanResponse"), "The plan", _ECHO),
                    **{str(c): _json(_ref("CerbosError"), text)
                       for c, text in ((400, "A request Siamese cannot honour, named"),
                                       (401, "The caller is not authenticated"),
                                       (413, "The body is too large"),
                                       (422, "No plan: the rule or the limit, named"),
                                       (429, "The caller's rate limit is exhausted"),
                                       (500, "Internal error"),
                                       (503, "No policy set, or the log could not record "
                                             "the plan"))},
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, with degraded states reported",
                "tags": ["admin"],
                "responses": {"200": _json(_ref("Health"), "Alive")},
            }
        },
        "/ready": {
            "get": {
                "operationId": "ready",
                "summary": "Readiness: a policy set is loaded",
                "tags": ["admin"],
                "responses": {
                    "200": _json(_ref("Ready"), "Ready"),
                    "503": _json(_ref("Ready"), "Not ready"),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "tags": ["admin"],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["admin"],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Siamese policy decision point",
            "version": __version__,
            "description": "AuthZEN Authorization API 1.0, gateway forward-auth and an "
            "OPA-compatible "
            "data API over a backward-chaining policy engine.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                **{name: shape.schema() for name, shape in REQUESTS.items()},
                **_RESPONSES,
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key or a JWT, per SIAMESE_AUTH",
                },
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    return copy.deepcopy(_document())
