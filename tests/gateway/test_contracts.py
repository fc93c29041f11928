"""Contract tests for Envoy ext_authz (HTTP service) and Traefik ForwardAuth: each test
sends the PDP exactly what that gateway sends, given the configuration shipped in
deploy/envoy/envoy.yaml and deploy/traefik/dynamic.yml (the snippets in the README), and
applies the answer as the gateway would (which response headers reach the upstream). The
PDP runs with the SIAMESE_GATEWAY each recipe names, and with the default, auto.

What the gateways send, per their documentation:
- Envoy (ext_authz ``http_service``): the client's method; ``path_prefix`` + the original
  path and query, raw; the headers Host, Authorization and Content-Length (0, no body), and
  those matching ``authorization_request.allowed_headers``. On 200, the response headers
  matching ``authorization_response.allowed_upstream_headers`` go upstream; any other
  status goes back to the client.
- Traefik (ForwardAuth): GET to ``address`` with the headers of the original request named
  in ``authRequestHeaders`` (every one when it is empty; hop-by-hop ones removed), plus
  X-Forwarded-Method, -Proto, -Host, -Uri and -For set by Traefik itself (client-sent ones
  are overwritten unless ``trustForwardHeader``). On 2xx, the ``authResponseHeaders`` go
  upstream; otherwise the auth response goes to the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
import pytest
import yaml

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.service import DecisionService
from siamese.policy.store import PolicyStore
from siamese.server.app import create_app
from siamese.settings import Settings

ROOT = Path(__file__).parents[2]
SECRET = "contract-test-secret-with-more-than-32-bytes"
HOP_BY_HOP = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
              "proxy-authorization", "proxy-authenticate"}

POLICY = """
user(alice). user(bob).
role(alice, editor). role(bob, viewer).
@id("read-docs")
allow(?u, "GET", ?p) :- user(?u), startswith(?p, "/docs/").
@id("edit-docs")
allow(?u, ?m, ?p) :- role(?u, editor), ?m in ["POST", "PUT"], startswith(?p, "/docs/").
@id("summary-report")
allow(?u, "GET", "/reports") :- user(?u), input("request.query.tab", summary).
@id("prod-hook")
allow(_, "POST", "/hook") :- input("request.headers.x-env", prod).
response_header("X-User-Role", ?r) :- input("claims.sub", ?u), role(?u, ?r).
"""


def envoy_config() -> dict[str, Any]:
    conf = yaml.safe_load((ROOT / "deploy/envoy/envoy.yaml").read_text())
    listener = conf["static_resources"]["listeners"][0]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    ext = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz")
    return ext["typed_config"]


def traefik_config() -> dict[str, Any]:
    conf = yaml.safe_load((ROOT / "deploy/traefik/dynamic.yml").read_text())
    return conf["http"]["middlewares"]["siamese"]["forwardAuth"]


def matches(patterns: list[dict[str, str]], name: str) -> bool:
    name = name.lower()
    for p in patterns:
        if "exact" in p and name == p["exact"].lower():
            return True
        if "prefix" in p and name.startswith(p["prefix"].lower()):
            return True
    return False


@dataclass
class Outcome:
    status: int  # what the client gets (200: the request went upstream)
    upstream_headers: dict[str, str]  # what the gateway added to the upstream request
    body: Any


async def envoy(client: httpx.AsyncClient, method: str, uri: str, headers: dict[str, str],
                host: str = "app.example.com") -> Outcome:
    conf = envoy_config()
    http = conf["http_service"]
    sent = {"host": host, "content-length": "0"}
    allowed = http["authorization_request"]["allowed_headers"]["patterns"]
    for k, v in headers.items():
        if k.lower() == "authorization" or matches(allowed, k):
            sent[k.lower()] = v
    # the raw target, as Envoy sends it (httpx would remove dot-segments)
    sent[RAW_TARGET] = http["path_prefix"] + uri
    r = await client.request(method, "/", headers=sent)
    if r.status_code == 200:
        upstream = http["authorization_response"]["allowed_upstream_headers"]["patterns"]
        return Outcome(200, {k.lower(): v for k, v in r.headers.items() if matches(upstream, k)},
                       None)
    return Outcome(r.status_code, {}, r.json() if r.content else None)


async def traefik(client: httpx.AsyncClient, method: str, uri: str, headers: dict[str, str],
                  host: str = "app.example.com") -> Outcome:
    conf = traefik_config()
    sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
    allowed = {n.lower() for n in conf.get("authRequestHeaders") or ()}
    if allowed:
        sent = {k: v for k, v in sent.items() if k.lower() in allowed}
    if not conf.get("trustForwardHeader"):
        sent = {k: v for k, v in sent.items() if not k.lower().startswith("x-forwarded-")}
    sent.update({"X-Forwarded-Method": method, "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": host, "X-Forwarded-Uri": uri,
                 "X-Forwarded-For": "203.0.113.7", "Host": host})
    address = httpx.URL(conf["address"])
    r = await client.get(address.path, headers=sent)
    if 200 <= r.status_code < 300:
        names = {n.lower() for n in conf["authResponseHeaders"]}
        return Outcome(200, {k.lower(): v for k, v in r.headers.items() if k.lower() in names},
                       None)
    return Outcome(r.status_code, {}, r.json() if r.content else None)


GATEWAYS = {"envoy": envoy, "traefik": traefik}
# (gateway, SIAMESE_GATEWAY): the mode the recipe names, and the default
SETUPS = [(g, m) for g in sorted(GATEWAYS) for m in (g, "auto")]


RAW_TARGET = "x-test-raw-target"


def raw_targets(app: Any) -> Any:
    """The app, with the raw path and query of a request taken from its RAW_TARGET header
    byte for byte, as a server receives them."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != RAW_TARGET.encode()]
            raw = dict(scope["headers"]).get(RAW_TARGET.encode())
            if raw is not None:
                path, _, query = raw.partition(b"?")
                scope = {**scope, "headers": headers, "raw_path": path, "query_string": query,
                         "path": unquote(path.decode("latin-1"))}
        await app(scope, receive, send)

    return wrapped


def pdp(root: Path, mode: str) -> httpx.AsyncClient:
    store = PolicyStore(root)
    assert store.load_sync().ok
    service = DecisionService(store.get, Authorizer(), DecisionCache(100, 60))
    app = create_app(Settings(policy_dir=str(root), jwt_secret=SECRET, gateway=mode,
                              jwt_algorithms=("HS256",)), store, service, lambda d: None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=raw_targets(app)),
                             base_url="http://siamese:8000")


@pytest.fixture(params=SETUPS, ids=[f"{g}-{m}" for g, m in SETUPS])
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    gateway, mode = request.param
    root = tmp_path / "policies"
    root.mkdir()
    (root / "gateway.rules").write_text(POLICY)
    async with pdp(root, mode) as c:
        yield GATEWAYS[gateway], c


def bearer(sub: str, exp_in: int = 600) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"sub": sub, "iat": now, "exp": now + exp_in}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


async def test_an_allowed_request_passes_the_subject_and_policy_headers(setup: Any) -> None:
    send, client = setup
    out = await send(client, "GET", "/docs/handbook?page=2", bearer("bob"))
    assert out.status == 200
    assert out.upstream_headers["x-siamese-subject"] == "bob"
    assert out.upstream_headers["x-user-role"] == "viewer"
    assert out.upstream_headers["x-siamese-decision-id"]


async def test_the_original_method_decides(setup: Any) -> None:
    send, client = setup
    assert (await send(client, "POST", "/docs/handbook", bearer("alice"))).status == 200
    denied = await send(client, "POST", "/docs/handbook", bearer("bob"))
    assert denied.status == 403 and denied.body["decision"] is False
    assert denied.upstream_headers == {}


async def test_the_query_and_headers_reach_the_policy(setup: Any) -> None:
    send, client = setup
    assert (await send(client, "GET", "/reports?tab=summary", bearer("bob"))).status == 200
    assert (await send(client, "GET", "/reports?tab=salaries", bearer("bob"))).status == 403
    # x-env is forwarded by Envoy (allowed_headers) and by Traefik (authRequestHeaders)
    assert (await send(client, "POST", "/hook", {"X-Env": "prod"})).status == 200
    assert (await send(client, "POST", "/hook", {"X-Env": "dev"})).status == 401


async def test_a_bad_token_gets_401_with_www_authenticate(setup: Any) -> None:
    send, client = setup
    out = await send(client, "GET", "/docs/handbook", bearer("bob", exp_in=-60))
    assert out.status == 401


async def test_no_credentials_and_a_deny_get_401_and_a_bare_challenge(setup: Any) -> None:
    send, client = setup
    out = await send(client, "GET", "/docs/handbook", {})
    assert out.status == 401 and out.body["decision"] is False


async def test_a_path_that_escapes_is_refused_with_403(setup: Any) -> None:
    send, client = setup
    for uri in ("/docs/../admin", "/docs/%2e%2e/admin", "/docs/..%2fadmin", "/admin/%2e%2e/docs/x",
                "/admin%2f..%2fdocs/x", "/docs/x%c2%85", "/docs/..%5cadmin", "//docs/x"):
        for creds in ({}, bearer("bob")):
            out = await send(client, "GET", uri, creds)
            assert out.status == 403, uri


async def test_client_sent_convention_headers_decide_nothing(setup: Any) -> None:
    send, client = setup
    spoof = {**bearer("bob"), "X-Forwarded-Uri": "/docs/handbook", "X-Forwarded-Method": "GET",
             "X-Original-URI": "/docs/handbook", "X-Original-Method": "GET"}
    for method in ("GET", "DELETE"):
        out = await send(client, method, "/admin/secret", spoof)
        assert out.status == 403 and out.upstream_headers == {}


async def test_without_authrequestheaders_auto_refuses_a_clients_x_original_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the review's finding: Traefik passes X-Original-* through unless authRequestHeaders
    # says otherwise; the default mode still refuses the disagreement
    conf = traefik_config()
    del conf["authRequestHeaders"]
    monkeypatch.setitem(globals(), "traefik_config", lambda: conf)
    root = tmp_path / "policies"
    root.mkdir()
    (root / "gateway.rules").write_text(POLICY)
    spoof = {"X-Original-URI": "/docs/handbook", "X-Original-Method": "GET", **bearer("bob")}
    async with pdp(root, "auto") as c:
        out = await traefik(c, "DELETE", "/admin/secret", spoof)
        assert out.status == 403 and "disagree" in out.body["reason"]
    async with pdp(root, "traefik") as c:
        out = await traefik(c, "DELETE", "/admin/secret", spoof)
        assert out.status == 403 and "no rule allows bob to DELETE /admin/secret" in (
            out.body["reason"])


def test_the_readme_shows_the_configurations_the_tests_use() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in ("deploy/envoy/envoy.yaml", "deploy/traefik/dynamic.yml",
                 "deploy/nginx/siamese.conf.template", "deploy/caddy/Caddyfile"):
        text = (ROOT / path).read_text()
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")).strip()
        assert body in readme, f"README.md must show {path} as it is"
