"""The forward-auth callout: nginx, Traefik and Envoy conventions, path normalisation,
response headers, and statuses a gateway can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from siamese.server.gateway import normalise_path, safe_header_value, split_uri
from siamese.server.responses import ApiError
from siamese.server.routes_gateway import safe_response_headers

from .conftest import AUDIENCE, ISSUER, SECRET, Harness, build, claims, hs256

GATEWAY_STATUSES = {200, 400, 401, 403}


@pytest.fixture
def jwt_harness(tmp_path: Path) -> Harness:
    return build(tmp_path, jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=(AUDIENCE,))


@pytest.fixture
async def gw(jwt_harness: Harness) -> Any:
    async with jwt_harness.client() as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- header conventions ---------------------------------------------------------------


async def test_nginx_original_method_and_uri(gw: httpx.AsyncClient, jwt_harness: Harness) -> None:
    # nginx auth_request always calls with GET; the client's method is in X-Original-Method
    r = await gw.get(
        "/v1/forward-auth",
        headers={"X-Original-Method": "POST", "X-Original-URI": "/hook?x=1", "X-Env": "prod"},
    )
    assert r.status_code == 200
    d = jwt_harness.audited[-1]
    assert (d.request.subject, d.request.action, d.request.resource) == (
        "anonymous",
        "POST",
        "/hook",
    )
    assert d.request.input["request"]["query"] == {"x": "1"}
    r = await gw.get(
        "/v1/forward-auth", headers={"X-Original-Method": "GET", "X-Original-URI": "/hook"}
    )
    assert r.status_code == 403


async def test_traefik_forwarded_method_uri_and_host(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    headers = {
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Uri": "/reports?tab=summary&tab=other",
        "X-Forwarded-Host": "app.example.com",
    }
    r = await gw.get("/v1/forward-auth", headers=headers)
    assert r.status_code == 200
    assert jwt_harness.audited[-1].request.input["request"]["query"] == {
        "tab": "summary"
    }  # the first
    r = await gw.get(
        "/v1/forward-auth", headers={**headers, "X-Forwarded-Host": "evil.example.com"}
    )
    assert r.status_code == 403


async def test_envoy_path_prefix_with_the_clients_method(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.post("/v1/forward-auth/hook", headers={"x-env": "prod"}, content=b"ignored body")
    assert r.status_code == 200
    assert jwt_harness.audited[-1].request.resource == "/hook"
    r = await gw.get("/v1/forward-auth/reports?tab=summary", headers={"host": "app.example.com"})
    assert r.status_code == 200
    assert jwt_harness.audited[-1].request.input["request"]["host"] == "app.example.com"
    # any method, even one Starlette would not route by default: never a 405
    for method in ("DELETE", "PATCH", "PUT", "OPTIONS", "PROPFIND"):
        r = await gw.request(method, "/v1/forward-auth/public/a")
        assert r.status_code == 403, method
        assert jwt_harness.audited[-1].request.action == method
    r = await gw.head("/v1/forward-auth/public/a")
    assert r.status_code == 403
    r = await gw.get("/v1/forward-auth/public/a")
    assert r.status_code == 200


async def test_the_nginx_headers_win_over_traefiks_and_the_own_path(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get(
        "/v1/forward-auth/other",
        headers={"X-Original-URI": "/public/x", "X-Forwarded-Uri": "/private/y"},
    )
    assert r.status_code == 200 and jwt_harness.audited[-1].request.resource == "/public/x"


async def test_bare_forward_auth_is_the_root_path(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    await gw.get("/v1/forward-auth")
    assert jwt_harness.audited[-1].request.resource == "/"
    await gw.get("/v1/forward-auth?q=1")
    assert jwt_harness.audited[-1].request.resource == "/"
    assert jwt_harness.audited[-1].request.input["request"]["query"] == {"q": "1"}


# --- the subject --------------------------------------------------------------------------


async def test_the_subject_is_the_verified_sub_with_its_claims(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get(
        "/v1/forward-auth",
        headers={
            "X-Original-Method": "DELETE",
            "X-Original-URI": "/api/things/1",
            **bearer(hs256(claims())),
        },
    )
    assert r.status_code == 200
    assert r.headers["x-siamese-subject"] == "erin"
    assert r.headers["x-siamese-decision-id"] == jwt_harness.audited[-1].decision_id
    d = jwt_harness.audited[-1]
    assert d.request.subject == "erin" and d.request.input["claims"]["role"] == "editor"
    r = await gw.get(
        "/v1/forward-auth",
        headers={"X-Original-URI": "/api/things/1", **bearer(hs256(claims(role="viewer")))},
    )
    assert r.status_code == 403


async def test_the_authorization_header_never_reaches_the_policy(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get("/v1/forward-auth/leak", headers=bearer(hs256(claims())))
    assert r.status_code == 403
    headers = jwt_harness.audited[-1].request.input["request"]["headers"]
    assert "authorization" not in headers and headers["host"] == "testserver"


async def test_a_token_that_is_not_a_bearer_token_is_anonymous(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get("/v1/forward-auth/public/x", headers={"Authorization": "Basic dTpw"})
    assert r.status_code == 200 and r.headers["x-siamese-subject"] == "anonymous"


async def test_without_a_key_bearer_tokens_cannot_be_checked_and_the_subject_is_anonymous(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    r = await client.get("/v1/forward-auth/api/x", headers=bearer(hs256(claims())))
    assert r.status_code == 403
    assert harness.audited[-1].request.subject == "anonymous"
    assert "claims" not in harness.audited[-1].request.input


async def test_a_token_without_sub_is_401(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth/public/x", headers=bearer(hs256(claims(sub=None))))
    assert r.status_code == 401
    assert r.json() == {"decision": False, "reason": "invalid token: the token has no 'sub' claim"}
    assert r.headers["www-authenticate"].startswith('Bearer realm="siamese", error="invalid_token"')


async def test_an_empty_bearer_token_is_401(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth/public/x", headers={"Authorization": "Bearer "})
    assert r.status_code == 401


# --- answers --------------------------------------------------------------------------------


async def test_allow_carries_the_policys_safe_response_headers(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth/api/x", headers=bearer(hs256(claims())))
    assert r.status_code == 200
    assert r.headers["x-user-role"] == "editor"
    assert r.headers["x-tenant"] == "acme"
    assert r.headers["x-siamese-subject"] == "erin"  # not the policy's forged one
    assert r.headers.get_list("x-siamese-subject") == ["erin"]
    assert "connection" not in r.headers or r.headers["connection"] != "close"
    assert r.json()["decision"] is True


async def test_deny_is_403_json_with_reason_and_id(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get("/v1/forward-auth/private", headers={"X-Request-ID": "req-9"})
    assert r.status_code == 403
    assert r.json() == {
        "decision": False,
        "reason": "no rule allows anonymous to GET /private",
        "decision_id": jwt_harness.audited[-1].decision_id,
    }
    assert r.headers["x-request-id"] == "req-9"
    assert "location" not in r.headers


def test_unsafe_policy_headers_are_dropped() -> None:
    pairs = (
        ("X-Ok", "v"),
        ("Connection", "close"),
        ("Transfer-Encoding", "chunked"),
        ("Bad Name", "v"),
        ("X-Split", "a\r\nSet-Cookie: x=1"),
        ("X-Nul", "a\x00"),
        ("x-siamese-decision-id", "forged"),
        ("Content-Length", "0"),
        ("X-Unicode", "\u2603"),
        ("X-Latin", "caf\xe9"),
        ("Set-Cookie", "s=1"),
    )
    assert safe_response_headers(pairs) == [("X-Ok", "v"), ("X-Latin", "caf\xe9")]


def test_unusual_subjects_are_encoded_for_the_header() -> None:
    assert safe_header_value("erin") == "erin"
    assert safe_header_value("é\r\n") == "%C3%A9%0D%0A"


# --- path normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/public/a", "/public/a"),
        ("/public/../api/x", "/api/x"),
        ("//public//a", "/public/a"),
        ("/public/./a", "/public/a"),
        ("/public/%2e%2e/api", "/api"),
        ("/public/%2E%2E/api", "/api"),
        ("/a/%252e%252e/b", "/a/%2e%2e/b"),  # decoded exactly once
        ("/a%2fb", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/a/b/../..", "/"),
        ("/a/.", "/a/"),
        ("/", "/"),
        ("/caf%C3%A9", "/café"),
    ],
)
def test_normalise_path(raw: str, path: str) -> None:
    assert normalise_path(raw) == path


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/..", "the original path climbs above the root ('..')"),
        ("/a/../..", "the original path climbs above the root ('..')"),
        ("/%2e%2e/etc/passwd", "the original path climbs above the root ('..')"),
        ("/a/%2e%2e%2f%2e%2e/x", "the original path climbs above the root ('..')"),
        ("/a%00b", "the original path holds a control character"),
        ("/a%0d%0ab", "the original path holds a control character"),
        ("/%ff", "the original path is not UTF-8 once percent-decoded"),
        ("relative", "the original URI must be a path starting with '/': 'relative'"),
    ],
)
def test_paths_that_cannot_be_normalised(raw: str, message: str) -> None:
    with pytest.raises(ApiError) as err:
        normalise_path(raw)
    assert err.value.status == 400 and err.value.message == message


def test_split_uri_query_fragment_and_absolute_form() -> None:
    assert split_uri("/p?a=1&b=&a=2#frag") == ("/p", {"a": "1", "b": ""})
    assert split_uri("https://host.example/x/../y?q=%20v") == ("/y", {"q": " v"})
    assert split_uri("") == ("/", {})
    assert split_uri("/p#x?y=1") == ("/p", {})


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Original-URI": "/public/../../etc"},
        {"X-Forwarded-Uri": "/%2e%2e/x"},
        {"X-Original-URI": "/a%00"},
    ],
)
async def test_an_escaping_or_broken_path_is_400_never_an_allow(
    gw: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await gw.get("/v1/forward-auth", headers=headers)
    assert r.status_code == 400
    assert r.json()["decision"] is False


async def test_an_escaping_envoy_path_is_400(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth/public/%2e%2e/%2e%2e/x")
    assert r.status_code == 400


async def test_a_traversal_into_public_is_decided_on_the_normalised_path(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get("/v1/forward-auth", headers={"X-Original-URI": "/public/../private"})
    assert r.status_code == 403
    assert jwt_harness.audited[-1].request.resource == "/private"


async def test_a_bad_method_is_400(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth", headers={"X-Original-Method": "GE T"})
    assert r.status_code == 400


# --- failures never allow ------------------------------------------------------------------


async def test_before_a_policy_set_is_loaded_forward_auth_denies(tmp_path: Path) -> None:
    h = build(tmp_path, "this is not a policy (", load=False)
    h.store.load_sync()
    async with h.client() as c:
        r = await c.get("/v1/forward-auth/public/x")
    assert r.status_code == 403
    assert r.json() == {"decision": False, "reason": "denied: no policy set is loaded"}


async def test_an_exception_while_deciding_denies(tmp_path: Path) -> None:
    def broken_audit(decision: Any) -> None:
        raise RuntimeError("disk full")

    h = build(tmp_path, audit=broken_audit)
    async with h.client() as c:
        r = await c.get("/v1/forward-auth/public/x")
    assert r.status_code == 403
    assert r.json() == {"decision": False, "reason": "denied: internal error"}


async def test_statuses_are_only_those_a_gateway_can_act_on(gw: httpx.AsyncClient) -> None:
    cases: list[dict[str, str]] = [
        {},
        {"X-Original-URI": "/public/a"},
        {"X-Original-URI": "/.."},
        {"Authorization": "Bearer x.y.z"},
        {"X-Original-Method": "\t"},
    ]
    for headers in cases:
        r = await gw.get("/v1/forward-auth", headers=headers)
        assert r.status_code in GATEWAY_STATUSES, headers
