"""Contract tests for Envoy ext_authz (HTTP service) and Traefik ForwardAuth: each test
sends the PDP exactly what that gateway sends, given the configuration shipped in
deploy/envoy/envoy.yaml and deploy/traefik/dynamic.yml (the snippets in the README), and
applies the answer as the gateway would (which response headers reach the upstream).

What the gateways send, per their documentation:
- Envoy (ext_authz ``http_service``): the client's method; ``path_prefix`` + the original
  path and query, raw; the headers Host, Authorization and Content-Length (0, no body), and
  those matching ``authorization_request.allowed_headers``. On 200, the response headers
  matching ``authorization_response.allowed_upstream_headers`` go upstream; any other
  status goes back to the client.
- Traefik (ForwardAuth): GET to ``address`` with every header of the original request
  (hop-by-hop ones removed), plus X-Forwarded-Method, -Proto, -Host, -Uri and -For set by
  Traefik itself (client-sent ones are overwritten unless ``trustForwardHeader``). On 2xx,
  the ``authResponseHeaders`` go upstream; otherwise the auth response goes to the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    r = await client.request(method, http["path_prefix"] + uri, headers=sent)
    if r.status_code == 200:
        upstream = http["authorization_response"]["allowed_upstream_headers"]["patterns"]
        return Outcome(200, {k.lower(): v for k, v in r.headers.items() if matches(upstream, k)},
                       None)
    return Outcome(r.status_code, {}, r.json() if r.content else None)


async def traefik(client: httpx.AsyncClient, method: str, uri: str, headers: dict[str, str],
                  host: str = "app.example.com") -> Outcome:
    conf = traefik_config()
    sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
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


@pytest.fixture
async def client(tmp_path: Path) -> Any:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "gateway.rules").write_text(POLICY)
    store = PolicyStore(root)
    assert store.load_sync().ok
    service = DecisionService(store.get, Authorizer(), DecisionCache(100, 60))
    app = create_app(Settings(policy_dir=str(root), jwt_secret=SECRET,
                              jwt_algorithms=("HS256",)), store, service, lambda d: None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://siamese:8000") as c:
        yield c


def bearer(sub: str, exp_in: int = 600) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"sub": sub, "iat": now, "exp": now + exp_in}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
async def test_an_allowed_request_passes_the_subject_and_policy_headers(
    gateway: str, client: httpx.AsyncClient
) -> None:
    out = await GATEWAYS[gateway](client, "GET", "/docs/handbook?page=2", bearer("bob"))
    assert out.status == 200
    assert out.upstream_headers["x-siamese-subject"] == "bob"
    assert out.upstream_headers["x-user-role"] == "viewer"
    assert out.upstream_headers["x-siamese-decision-id"]


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
async def test_the_original_method_decides(gateway: str, client: httpx.AsyncClient) -> None:
    send = GATEWAYS[gateway]
    assert (await send(client, "POST", "/docs/handbook", bearer("alice"))).status == 200
    denied = await send(client, "POST", "/docs/handbook", bearer("bob"))
    assert denied.status == 403 and denied.body["decision"] is False
    assert denied.upstream_headers == {}


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
async def test_the_query_and_headers_reach_the_policy(gateway: str,
                                                      client: httpx.AsyncClient) -> None:
    send = GATEWAYS[gateway]
    assert (await send(client, "GET", "/reports?tab=summary", bearer("bob"))).status == 200
    assert (await send(client, "GET", "/reports?tab=salaries", bearer("bob"))).status == 403
    # x-env is forwarded by Envoy (allowed_headers) and by Traefik (all headers)
    assert (await send(client, "POST", "/hook", {"X-Env": "prod"})).status == 200
    assert (await send(client, "POST", "/hook", {"X-Env": "dev"})).status == 403


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
async def test_a_bad_token_gets_401_with_www_authenticate(gateway: str,
                                                          client: httpx.AsyncClient) -> None:
    out = await GATEWAYS[gateway](client, "GET", "/docs/handbook", bearer("bob", exp_in=-60))
    assert out.status == 401


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
async def test_a_path_that_escapes_is_never_allowed(gateway: str,
                                                    client: httpx.AsyncClient) -> None:
    for uri in ("/docs/../admin", "/docs/%2e%2e/admin", "/docs/..%2fadmin"):
        out = await GATEWAYS[gateway](client, "GET", uri, bearer("bob"))
        assert out.status in (400, 403), uri


async def test_traefik_overwrites_forwarded_headers_sent_by_the_client(
    client: httpx.AsyncClient,
) -> None:
    # a client claiming another URI gets nothing: Traefik sets X-Forwarded-Uri itself
    spoof = {**bearer("bob"), "X-Forwarded-Uri": "/docs/handbook", "X-Forwarded-Method": "GET"}
    assert (await traefik(client, "GET", "/admin", spoof)).status == 403


def test_the_readme_shows_the_configurations_the_tests_use() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in ("deploy/envoy/envoy.yaml", "deploy/traefik/dynamic.yml",
                 "deploy/nginx/siamese.conf.template"):
        text = (ROOT / path).read_text()
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#")).strip()
        assert body in readme, f"README.md must show {path} as it is"
