"""An API fuzz run with schemathesis against ``GET /openapi.json``: for every operation the
document describes, generated requests (valid and invalid ones) never get a 5xx, and every
response has a documented status code, a documented content type, documented headers that
match their schemas, and a body that matches the response's schema.

schemathesis needs the schema when the module is collected, so the app is built at import
time over a small policy directory in a fresh temporary directory (removed at exit). The
caller authentication is the Settings' default, ``none`` on the loopback host, so every
operation is reachable without credentials.

schemathesis skips the operation that serves the schema itself (``GET /openapi.json``);
tests/server/test_operations.py checks that document.

The fuzz run is derandomized, so CI sees the same requests on every run. For a wider,
random search: ``SIAMESE_FUZZ_EXAMPLES=400 .venv/bin/python -m pytest
tests/server/test_schemathesis.py --hypothesis-seed=$RANDOM`` (a seed overrides
derandomize).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.service import DecisionService
from siamese.policy.store import PolicyStore
from siamese.server.app import create_app
from siamese.settings import Settings

POLICY = """
role(alice, admin).
role(bob, viewer).
owner(doc1, carol).
status(mallory, suspended).
doc(doc1). doc(doc2).
action(read). action(write).

@id("admin-all")
allow(?u, ?a, ?r) :- role(?u, admin), doc(?r), action(?a).
@id("viewer-read")
allow(?u, read, ?r) :- role(?u, viewer), doc(?r).
@id("owner")
allow(?u, ?a, ?r) :- owner(?r, ?u), action(?a).
@id("suspended")
deny(?u, _, _) :- status(?u, suspended).

# gateway callouts: the resource is the path, the action the method
@id("public")
allow(_, "GET", ?p) :- startswith(?p, "/public/").
@id("api-editors")
allow(_, _, ?p) :- input("claims.role", editor), startswith(?p, "/api/").

response_header("X-Tenant", "acme").
"""

MAX_BODY = 1 << 20  # the Settings' default SIAMESE_MAX_BODY_BYTES


def _build_app() -> Starlette:
    root = Path(tempfile.mkdtemp(prefix="siamese-schemathesis-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "p.rules").write_text(POLICY)
    store = PolicyStore(root)
    assert store.load_sync().ok
    service = DecisionService(store.get, Authorizer(), DecisionCache(1000, 60))
    config = Settings(policy_dir=str(root))
    # bound to 127.0.0.1, SIAMESE_AUTH defaults to "none": no endpoint needs credentials
    assert config.auth_mode == "none" and config.max_body_bytes == MAX_BODY
    return create_app(config, store, service, lambda decision: None)


APP = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

CHECKS = [
    not_a_server_error,  # no 5xx
    status_code_conformance,  # the status code is documented for the operation
    content_type_conformance,  # and so is the content type
    response_headers_conformance,  # documented headers are present when required, and valid
    response_schema_conformance,  # the body matches the documented schema
]

EXAMPLES = int(os.environ.get("SIAMESE_FUZZ_EXAMPLES", "40"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
def test_fuzz(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


# --- known requests --------------------------------------------------------------------------
# The fuzzer rarely builds a request that the policy allows (a known subject, a /public/ path
# in the right header), and never an oversized or malformed body: these requests make sure
# that the allow answers, with their headers, and the refusals are checked on every run too.


def _eval(subject: str, action: str, resource: str) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document", "id": resource},
    }


# An AuthZEN resource search whose action is one a gateway rule allows:
# allow(_, "GET", ?p) :- startswith(?p, "/public/") would run startswith on the unknown
# resource. It answered 503 "policy evaluation failed: startswith: argument is unbound"
# before the search skipped the rules that cannot enumerate the unknown.
UNBOUND_SEARCH = {
    "subject": {"type": "user", "id": "x"},
    "action": {"name": "GET"},
    "resource": {"type": "document"},
}

KNOWN = [
    pytest.param(
        "POST",
        "/access/v1/evaluation",
        {"body": _eval("alice", "read", "doc1")},
        200,
        id="evaluation-allow",
    ),
    pytest.param(
        "POST",
        "/access/v1/evaluation",
        {"body": _eval("bob", "write", "doc1"), "headers": {"X-Request-ID": "req-1"}},
        200,
        id="evaluation-deny-request-id",
    ),
    pytest.param(
        "POST",
        "/access/v1/evaluation",
        {"body": _eval("mallory", "read", "doc1")},
        200,
        id="evaluation-deny-rule",
    ),
    pytest.param(
        "POST",
        "/access/v1/evaluations",
        {
            "body": {
                "subject": {"type": "user", "id": "bob"},
                "evaluations": [
                    {"action": {"name": "read"}, "resource": {"type": "document", "id": "doc1"}},
                    {"action": {"name": "write"}, "resource": {"type": "document", "id": "doc1"}},
                ],
                "options": {"evaluations_semantic": "deny_on_first_deny"},
            }
        },
        200,
        id="evaluations-batch",
    ),
    pytest.param(
        "POST",
        "/access/v1/evaluations",
        {"body": _eval("alice", "read", "doc1")},
        200,
        id="evaluations-single",
    ),
    pytest.param(
        "POST",
        "/access/v1/search/subject",
        {
            "body": {
                "subject": {"type": "user"},
                "action": {"name": "read"},
                "resource": {"type": "document", "id": "doc1"},
            }
        },
        200,
        id="search-subject",
    ),
    pytest.param(
        "POST",
        "/access/v1/search/resource",
        {
            "body": {
                "subject": {"type": "user", "id": "alice"},
                "action": {"name": "read"},
                "resource": {"type": "document"},
                "page": {"limit": 1},
            }
        },
        200,
        id="search-resource-page",
    ),
    pytest.param(
        "POST",
        "/access/v1/search/resource",
        {
            "body": {
                "subject": {"type": "user", "id": "alice"},
                "action": {"name": "read"},
                "resource": {"type": "document"},
                "page": {"token": "garbage"},
            }
        },
        400,
        id="search-resource-bad-token",
    ),
    pytest.param(
        "POST",
        "/access/v1/search/resource",
        {"body": UNBOUND_SEARCH},
        200,
        id="search-resource-unbound-builtin",
    ),
    pytest.param(
        "POST",
        "/access/v1/search/action",
        {
            "body": {
                "subject": {"type": "user", "id": "carol"},
                "resource": {"type": "document", "id": "doc1"},
            }
        },
        200,
        id="search-action",
    ),
    pytest.param(
        "POST",
        "/v1/data/{path}",
        {
            "path_parameters": {"path": "siamese/allow"},
            "body": {"input": _eval("alice", "read", "doc1")},
        },
        200,
        id="opa-authzen-input",
    ),
    pytest.param(
        "POST",
        "/v1/data/{path}",
        {
            "path_parameters": {"path": "kong"},
            "body": {
                "input": {
                    "request": {"http": {"method": "GET", "path": "/public/a", "headers": {}}}
                }
            },
        },
        200,
        id="opa-kong-input",
    ),
    pytest.param(
        "GET",
        "/v1/forward-auth",
        {"headers": {"X-Original-Method": "GET", "X-Original-URI": "/public/a?x=1"}},
        200,
        id="forward-auth-nginx-allow",
    ),
    pytest.param(
        "GET",
        "/v1/forward-auth",
        {
            "headers": {
                "X-Forwarded-Method": "POST",
                "X-Forwarded-Uri": "/private",
                "X-Forwarded-Host": "app.example.com",
            }
        },
        401,
        id="forward-auth-traefik-deny",
    ),
    pytest.param(
        "GET",
        "/v1/forward-auth",
        {"headers": {"X-Original-Method": "GET", "X-Original-URI": "/a/../../b"}},
        403,
        id="forward-auth-dot-segments",
    ),
    pytest.param(
        "GET",
        "/v1/forward-auth/{path}",
        {"path_parameters": {"path": "public/a"}},
        200,
        id="forward-auth-envoy-allow",
    ),
    pytest.param(
        "HEAD",
        "/v1/forward-auth/{path}",
        {"path_parameters": {"path": "public/a"}},
        401,
        id="forward-auth-envoy-head-deny",
    ),
    pytest.param("GET", "/v1/policies", {}, 200, id="policies"),
    pytest.param("GET", "/health", {}, 200, id="health"),
    pytest.param("GET", "/ready", {}, 200, id="ready"),
    pytest.param("GET", "/metrics", {}, 200, id="metrics"),
    pytest.param("GET", "/.well-known/authzen-configuration", {}, 200, id="configuration"),
]


@pytest.mark.parametrize(("method", "path", "request_", "status"), KNOWN)
def test_known_request(method: str, path: str, request_: dict[str, Any], status: int) -> None:
    case = schema[path][method].Case(**request_)
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == status, response.text


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


_JSON = {"content-type": "application/json"}
_EVAL = json.dumps(_eval("alice", "read", "doc1")).encode()

# Bodies schemathesis never sends: each must be refused with a documented 4xx.
RAW = [
    pytest.param("/access/v1/evaluation", b"{", 400, id="evaluation-malformed-json"),
    pytest.param("/access/v1/evaluation", b" " * (MAX_BODY + 1), 413, id="evaluation-too-large"),
    pytest.param(
        "/access/v1/evaluation",
        json.dumps({**_eval("a", "read", "doc1"), "context": {"d": _deep(200)}}).encode(),
        400,
        id="evaluation-too-deep",
    ),
    pytest.param(
        "/access/v1/evaluations",
        json.dumps({**_eval("a", "read", "doc1"), "evaluations": [{}] * 1001}).encode(),
        400,
        id="evaluations-too-many",
    ),
    pytest.param("/access/v1/search/subject", b"[]", 400, id="search-subject-not-an-object"),
    pytest.param("/v1/data/x", b"{", 400, id="opa-malformed-json"),
    pytest.param("/v1/data/x", b" " * (MAX_BODY + 1), 413, id="opa-too-large"),
    pytest.param(
        "/v1/data/x",
        b'{"input": '
        + _EVAL[:-1]
        + b', "context": '
        + json.dumps({"d": _deep(200)}).encode()
        + b"}}",
        400,
        id="opa-too-deep",
    ),
]


@pytest.mark.parametrize(("path", "content", "status"), RAW)
async def test_refused_body(path: str, content: bytes, status: int) -> None:
    template = "/v1/data/{path}" if path.startswith("/v1/data/") else path
    params = {"path": path.removeprefix("/v1/data/")} if "{path}" in template else None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=APP), base_url="http://testserver"
    ) as client:
        response = await client.post(path, content=content, headers=_JSON)
    assert response.status_code == status, response.text
    schema[template]["POST"].Case(path_parameters=params).validate_response(response, checks=CHECKS)


# A path parameter holding a newline (%0A) once missed Starlette's ``path`` convertor, whose
# regex stops at "\n", and got an undocumented 404; the fuzzer found it with
# GET /v1/forward-auth/F%0Al and POST /v1/data/%01...%0A...
NEWLINE_PATHS = [
    pytest.param(
        "GET", "/v1/forward-auth/{path}", "/v1/forward-auth/a%0Ab", None, 403, id="forward-auth"
    ),
    pytest.param(
        "POST",
        "/v1/data/{path}",
        "/v1/data/a%0Ab",
        {"input": _eval("alice", "read", "doc1")},
        200,
        id="opa-data",
    ),
]


@pytest.mark.parametrize(("method", "template", "url", "body", "status"), NEWLINE_PATHS)
async def test_newline_in_path_reaches_the_route(
    method: str, template: str, url: str, body: Any, status: int
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=APP), base_url="http://testserver"
    ) as client:
        response = await client.request(method, url, json=body)
    assert response.status_code == status, response.text
    case = schema[template][method].Case(path_parameters={"path": "a\nb"})
    case.validate_response(response, checks=CHECKS)
