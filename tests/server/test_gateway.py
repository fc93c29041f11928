"""The forward-auth callout (SPEC §6.1): the SIAMESE_GATEWAY conventions, the paths that are
refused, response headers, and statuses a gateway can act on (200, 401, 403, nothing else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from siamese.server.gateway import decode_path, split_uri, subject_header_value
from siamese.server.responses import ApiError
from siamese.server.routes_gateway import safe_response_headers

from .conftest import AUDIENCE, ISSUER, SECRET, Harness, build, claims, hs256

GATEWAY_STATUSES = {200, 401, 403}
CHALLENGE = 'Bearer realm="siamese"'


def harness(tmp_path: Path, **settings: Any) -> Harness:
    return build(
        tmp_path, jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=(AUDIENCE,), **settings
    )


@pytest.fixture
def jwt_harness(tmp_path: Path) -> Harness:
    return harness(tmp_path)


@pytest.fixture
async def gw(jwt_harness: Harness) -> Any:
    async with jwt_harness.client() as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def editor() -> dict[str, str]:
    return bearer(hs256(claims()))


def raw_client(h: Harness) -> httpx.AsyncClient:
    """A client whose ``X-Test-Raw-Path`` header becomes the request's raw path and query,
    byte for byte, as a server receives them (httpx removes literal dot-segments)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raw = dict(scope["headers"]).get(b"x-test-raw-path")
        if raw is not None:
            path, _, query = raw.partition(b"?")
            scope = {
                **scope,
                "raw_path": path,
                "path": unquote(path.decode("latin-1")),
                "query_string": query,
            }
        await h.app(scope, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def decided(h: Harness) -> tuple[str, str, str]:
    d = h.audited[-1]
    return d.request.subject, d.request.action, d.request.resource


# --- header conventions, in auto (the default) -------------------------------------------


async def test_nginx_original_method_and_uri(gw: httpx.AsyncClient, jwt_harness: Harness) -> None:
    # nginx auth_request always calls with GET; the client's method is in X-Original-Method
    r = await gw.get(
        "/v1/forward-auth",
        headers={"X-Original-Method": "POST", "X-Original-URI": "/hook?x=1", "X-Env": "prod"},
    )
    assert r.status_code == 200
    assert decided(jwt_harness) == ("anonymous", "POST", "/hook")
    assert jwt_harness.audited[-1].request.input["request"]["query"] == {"x": "1"}
    r = await gw.get(
        "/v1/forward-auth", headers={"X-Original-Method": "GET", "X-Original-URI": "/hook"}
    )
    assert r.status_code == 401


async def test_nginx_original_host(gw: httpx.AsyncClient, jwt_harness: Harness) -> None:
    headers = {
        "X-Original-Method": "GET",
        "X-Original-URI": "/reports?tab=summary",
        "X-Original-Host": "app.example.com",
    }
    assert (await gw.get("/v1/forward-auth", headers=headers)).status_code == 200
    assert jwt_harness.audited[-1].request.input["request"]["host"] == "app.example.com"


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
    assert r.status_code == 401


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
        assert r.status_code == 401, method
        assert jwt_harness.audited[-1].request.action == method
    r = await gw.head("/v1/forward-auth/public/a")
    assert r.status_code == 401
    r = await gw.get("/v1/forward-auth/public/a")
    assert r.status_code == 200


async def test_bare_forward_auth_is_the_root_path(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    await gw.get("/v1/forward-auth")
    assert jwt_harness.audited[-1].request.resource == "/"
    await gw.get("/v1/forward-auth?q=1")
    assert jwt_harness.audited[-1].request.resource == "/"
    assert jwt_harness.audited[-1].request.input["request"]["query"] == {"q": "1"}


SPOOF = {"X-Original-Method": "GET", "X-Original-URI": "/public/x"}
TRAEFIK = {"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/admin/secret"}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        # Traefik passes a client's X-Original-* through: the finding of the review
        ("/v1/forward-auth", {**SPOOF, **TRAEFIK}),
        # nginx behind a client that adds X-Forwarded-*
        ("/v1/forward-auth", {**SPOOF, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/a"}),
        # the same URI, another method
        ("/v1/forward-auth", {**SPOOF, "X-Forwarded-Method": "DELETE",
                              "X-Forwarded-Uri": "/public/x"}),
        # the same method and URI, another host
        ("/v1/forward-auth", {**SPOOF, "X-Original-Host": "a.example",
                              "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x",
                              "X-Forwarded-Host": "b.example"}),
        # Envoy's own path against a header a client added
        ("/v1/forward-auth/admin/secret", SPOOF),
        ("/v1/forward-auth/public/x", {"X-Original-Method": "DELETE",
                                       "X-Original-URI": "/public/x"}),
    ],
)
async def test_auto_refuses_conventions_that_disagree(
    gw: httpx.AsyncClient, jwt_harness: Harness, path: str, headers: dict[str, str]
) -> None:
    r = await gw.get(path, headers={**headers, **editor()})
    assert r.status_code == 403
    assert "disagree" in r.json()["reason"] and r.json()["decision"] is False
    assert jwt_harness.audited == []  # refused before the policy is consulted


async def test_auto_accepts_conventions_that_agree(
    gw: httpx.AsyncClient, jwt_harness: Harness
) -> None:
    r = await gw.get(
        "/v1/forward-auth/public/x",
        headers={**SPOOF, "X-Forwarded-Method": "get", "X-Forwarded-Uri": "/public/x"},
    )
    assert r.status_code == 200 and decided(jwt_harness) == ("anonymous", "GET", "/public/x")


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Original-Method", "GET"), ("X-Original-URI", "/public/x"),
         ("X-Original-URI", "/admin")],
        [("X-Forwarded-Method", "GET"), ("X-Forwarded-Method", "DELETE"),
         ("X-Forwarded-Uri", "/public/x")],
        [("X-Original-Method", "GET"), ("X-Original-URI", "/public/x"),
         ("X-Original-Host", "a"), ("X-Original-Host", "b")],
        [("Authorization", "Basic dTpw"), ("Authorization", "Bearer x.y.z")],
    ],
)
async def test_a_repeated_convention_header_is_refused(
    gw: httpx.AsyncClient, headers: list[tuple[str, str]]
) -> None:
    r = await gw.get("/v1/forward-auth", headers=headers)
    assert r.status_code == 403 and "repeats" in r.json()["reason"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Original-URI": "/public/x"},  # without the method: GET would be a guess
        {"X-Original-Method": "GET"},
        {"X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "app.example.com"},
        {"X-Forwarded-Method": "GET", "X-Original-Method": "GET", "X-Original-URI": "/public/x"},
    ],
)
async def test_half_a_convention_is_refused(
    gw: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await gw.get("/v1/forward-auth", headers=headers)
    assert r.status_code == 403 and "go together" in r.json()["reason"]


async def test_a_host_alone_is_no_convention(gw: httpx.AsyncClient, jwt_harness: Harness) -> None:
    # the nginx recipe of earlier releases sent X-Forwarded-Host beside X-Original-*
    r = await gw.get(
        "/v1/forward-auth", headers={**SPOOF, "X-Forwarded-Host": "app.example.com"}
    )
    assert r.status_code == 200 and decided(jwt_harness) == ("anonymous", "GET", "/public/x")
    assert jwt_harness.audited[-1].request.input["request"]["host"] == ""


# --- header conventions, as SIAMESE_GATEWAY says ----------------------------------------


async def test_nginx_mode_ignores_forwarded_headers_and_the_own_path(tmp_path: Path) -> None:
    h = harness(tmp_path, gateway="nginx")
    async with h.client() as c:
        r = await c.get(
            "/v1/forward-auth/admin",
            headers={**SPOOF, **TRAEFIK, "X-Original-Host": "app.example.com",
                     "X-Forwarded-Host": "evil.example.com"},
        )
        assert r.status_code == 200 and decided(h) == ("anonymous", "GET", "/public/x")
        assert h.audited[-1].request.input["request"]["host"] == "app.example.com"
        r = await c.delete("/v1/forward-auth/public/x", headers=TRAEFIK)
        assert r.status_code == 403
        assert r.json()["reason"] == (
            "SIAMESE_GATEWAY=nginx: the callout carries no x-original-method and x-original-uri"
        )


@pytest.mark.parametrize("mode", ["traefik", "caddy"])
async def test_traefik_and_caddy_modes_ignore_original_headers_and_the_own_path(
    tmp_path: Path, mode: str
) -> None:
    h = harness(tmp_path, gateway=mode)
    async with h.client() as c:
        headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/reports?tab=summary",
                   "X-Forwarded-Host": "app.example.com"}
        r = await c.get("/v1/forward-auth/x",
                        headers={**headers, "X-Original-URI": "/public/x",
                                 "X-Original-Method": "GET", "X-Original-Host": "evil"})
        assert r.status_code == 200 and decided(h) == ("anonymous", "GET", "/reports")
        # the attack of the review: a client's X-Original-* is not what is decided
        r = await c.get("/v1/forward-auth", headers={**SPOOF, **TRAEFIK})
        assert r.status_code == 401 and decided(h) == ("anonymous", "DELETE", "/admin/secret")
        r = await c.get("/v1/forward-auth/public/x", headers=SPOOF)
        assert r.status_code == 403 and "x-forwarded-method" in r.json()["reason"]


async def test_envoy_mode_uses_the_callouts_own_method_and_path(tmp_path: Path) -> None:
    h = harness(tmp_path, gateway="envoy")
    async with h.client() as c:
        r = await c.delete(
            "/v1/forward-auth/admin/secret",
            headers={**SPOOF, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x",
                     "X-Forwarded-Host": "app.example.com", "Host": "admin.example.com"},
        )
        assert r.status_code == 401 and decided(h) == ("anonymous", "DELETE", "/admin/secret")
        assert h.audited[-1].request.input["request"]["host"] == "admin.example.com"
        r = await c.get("/v1/forward-auth/public/x")
        assert r.status_code == 200


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
    r = await gw.get(
        "/v1/forward-auth/private",
        headers={"X-Request-ID": "req-9", **bearer(hs256(claims(role="viewer")))},
    )
    assert r.status_code == 403
    assert r.json() == {
        "decision": False,
        "reason": "no rule allows erin to GET /private",
        "decision_id": jwt_harness.audited[-1].decision_id,
    }
    assert r.headers["x-request-id"] == "req-9"
    assert "location" not in r.headers and "www-authenticate" not in r.headers


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


@pytest.mark.parametrize(
    ("subject", "header"),
    [
        ("erin", "erin"),
        ("adminé", "admin%C3%A9"),
        ("admin%C3%A9", "admin%25C3%25A9"),  # a literal '%' is encoded too: no two alike
        ("é\r\n", "%C3%A9%0D%0A"),
        (" a b ", "%20a%20b%20"),  # header parsers trim spaces
        ("x@example.com|id:7", "x@example.com|id:7"),
    ],
)
def test_the_subject_header_is_percent_encoded_utf8_that_decodes_once(
    subject: str, header: str
) -> None:
    assert subject_header_value(subject) == header
    assert unquote(header, errors="strict") == subject


async def test_subjects_that_look_alike_get_different_headers(
    gw: httpx.AsyncClient,
) -> None:
    seen = set()
    for sub in ("adminé", "admin%C3%A9", "admin%25C3%25A9"):
        r = await gw.get("/v1/forward-auth/api/x", headers=bearer(hs256(claims(sub=sub))))
        assert r.status_code == 200
        assert unquote(r.headers["x-siamese-subject"]) == sub
        seen.add(r.headers["x-siamese-subject"])
    assert len(seen) == 3


# --- the path the upstream will serve, or a refusal ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/public/a", "/public/a"),
        ("/a/b/", "/a/b/"),
        ("/", "/"),
        ("/caf%C3%A9", "/café"),
        ("/café", "/café"),  # raw UTF-8, as nginx passes it
        ("/a/%2541/b", "/a/%41/b"),  # decoded exactly once (once more: no separator)
        ("/a/%2525/b", "/a/%25/b"),
        ("/a/b%20c", "/a/b c"),
        ("/a/...", "/a/..."),  # not a dot-segment
        ("/a/.b/..c", "/a/.b/..c"),
        ("/a;x=1/b", "/a;x=1/b"),
    ],
)
def test_decode_path(raw: str, path: str) -> None:
    assert decode_path(raw) == path


ENCODED_SLASH = "the original path holds an encoded slash or backslash (%2f, %5c)"
DOT = "the original path holds a dot-segment ('.' or '..')"
CONTROL = "the original path holds a control character"
AGAIN = "the original path, decoded once more, is another path: "
BACKSLASH = "the original path holds a backslash or a '#'"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/..", DOT),
        ("/public/../admin", DOT),
        ("/public/./a", DOT),
        ("/a/.", DOT),
        ("/a/b/..", DOT),
        ("/admin/%2e%2e/public/x", DOT),
        ("/admin/%2E%2E/public/x", DOT),
        ("/admin/.%2e/public/x", DOT),
        ("/admin/%2e/x", DOT),
        ("/public/..;/admin", DOT),  # Tomcat and Jetty read '..;' as '..'
        ("/public/%2e%2e;x=1/admin", DOT),
        ("/public/\uff0e\uff0e/admin", DOT),  # fullwidth dots fold to '..'
        ("/public/%ef%bc%8e%ef%bc%8e/admin", DOT),
        ("/admin%2f..%2fpublic/x", ENCODED_SLASH),
        ("/public/..%2fadmin", ENCODED_SLASH),
        ("/public/..%2Fadmin", ENCODED_SLASH),
        ("/public/..%5cadmin", ENCODED_SLASH),
        ("/public/..%5Cadmin", ENCODED_SLASH),
        ("/public\\..\\admin", BACKSLASH),
        ("/public/x#/../../admin", BACKSLASH),
        ("/public/%ef%bc%8fadmin", "the original path holds a character that folds to a slash"),
        ("/a%00b", CONTROL),
        ("/a%0d%0ab", CONTROL),
        ("/a%09b", CONTROL),
        ("/a%7fb", CONTROL),
        ("/public/x%c2%85", CONTROL),  # NEL, a C1 control
        ("/public/x%c2%9b", CONTROL),
        ("/a\x85b", CONTROL),
        ("//admin", "the original path holds an empty segment ('//')"),
        ("/public//x", "the original path holds an empty segment ('//')"),
        ("/a%zz", "the original path holds a malformed percent-escape"),
        ("/a%2", "the original path holds a malformed percent-escape"),
        ("/a%", "the original path holds a malformed percent-escape"),
        ("/%ff", "the original path is not UTF-8 once percent-decoded"),
        ("/%c0%ae%c0%ae/admin", "the original path is not UTF-8 once percent-decoded"),
        ("relative", "the original URI must be a path starting with '/': 'relative'"),
        # an upstream behind a second decoder reads these as other paths
        ("/public/%252e%252e/admin", AGAIN + "dot segments in the path are not allowed"),
        ("/public/x%252fadmin", AGAIN + "encoded slashes in the path are not allowed"),
        ("/public/x%255cadmin", AGAIN + "backslashes in the path are not allowed"),
        ("/public/x%2500", AGAIN + "control characters in the path are not allowed"),
    ],
)
def test_paths_whose_meaning_depends_on_who_decodes_them_are_refused(
    raw: str, message: str
) -> None:
    with pytest.raises(ApiError) as err:
        decode_path(raw)
    assert err.value.message == message


def test_split_uri_query_fragment_and_absolute_form() -> None:
    assert split_uri("/p?a=1&b=&a=2#frag") == ("/p", {"a": "1", "b": ""})
    assert split_uri("https://host.example/x/y?q=%20v") == ("/x/y", {"q": " v"})
    assert split_uri("") == ("/", {})
    assert split_uri("/p?x=/../a") == ("/p", {"x": "/../a"})  # the query is not the path
    with pytest.raises(ApiError):
        split_uri("https://host.example/x/../y")
    with pytest.raises(ApiError):
        split_uri("/p#x?y=1")


ATTACKS = [
    "/admin/%2e%2e/public/x",
    "/public/%252e%252e/admin",
    "/admin%2f..%2fpublic/x",
    "/public/..%2fadmin",
    "/public/..%5cadmin",
    "/public/..\\admin",
    "/public/x%c2%85",
    "/public/x%00",
    "/public/../admin",
    "/public/..;/admin",
    "//public/x",
    "/public/%ff",
    "/public/x%zz",
]


@pytest.mark.parametrize("uri", ATTACKS)
@pytest.mark.parametrize(
    ("mode", "carry"),
    [
        ("nginx", lambda u: ("/v1/forward-auth", {"X-Original-Method": "GET",
                                                  "X-Original-URI": u})),
        ("traefik", lambda u: ("/v1/forward-auth", {"X-Forwarded-Method": "GET",
                                                    "X-Forwarded-Uri": u})),
        ("envoy", lambda u: ("/v1/forward-auth" + u, {})),
        ("auto", lambda u: ("/v1/forward-auth", {"X-Original-Method": "GET",
                                                 "X-Original-URI": u})),
    ],
)
async def test_an_ambiguous_path_is_403_before_the_policy_in_every_mode(
    tmp_path: Path, mode: str, carry: Any, uri: str
) -> None:
    h = harness(tmp_path, gateway=mode)
    path, headers = carry(uri)
    async with raw_client(h) as c:
        for creds in ({}, editor()):
            raw = {"X-Test-Raw-Path": path}
            r = await c.get("/v1/forward-auth", headers={**raw, **headers, **creds})
            assert r.status_code == 403, (uri, creds)
            assert r.json()["decision"] is False and "original" in r.json()["reason"]
            assert "www-authenticate" not in r.headers
    assert h.audited == []


async def test_a_bad_method_is_403(gw: httpx.AsyncClient) -> None:
    r = await gw.get(
        "/v1/forward-auth", headers={"X-Original-Method": "GE T", "X-Original-URI": "/public/x"}
    )
    assert r.status_code == 403 and r.json()["reason"] == "invalid original method 'GE T'"


async def test_a_uri_that_is_not_utf8_is_403(gw: httpx.AsyncClient) -> None:
    r = await gw.get(
        "/v1/forward-auth",
        headers=[(b"X-Original-Method", b"GET"), (b"X-Original-URI", b"/public/\xff")],
    )
    assert r.status_code == 403


@pytest.mark.parametrize("size", [1025, 5000])
async def test_an_oversized_path_is_403_never_400(
    gw: httpx.AsyncClient, jwt_harness: Harness, size: int
) -> None:
    path = "/public/" + "a" * (size - len("/public/"))
    for creds in ({}, editor()):
        r = await gw.get(
            "/v1/forward-auth",
            headers={"X-Original-Method": "GET", "X-Original-URI": path, **creds},
        )
        assert r.status_code == 403 and r.json()["decision"] is False
        assert "1024" in r.json()["reason"]


async def test_an_oversized_subject_is_403_never_400(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth/public/x", headers=bearer(hs256(claims(sub="s" * 1025))))
    assert r.status_code == 403 and "1024" in r.json()["reason"]


# --- 401 or 403 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dTpw"}, {"Authorization": "Digest x"}],
)
async def test_a_denied_request_without_credentials_is_401_with_a_bare_challenge(
    gw: httpx.AsyncClient, jwt_harness: Harness, headers: dict[str, str]
) -> None:
    r = await gw.get("/v1/forward-auth/private", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == CHALLENGE  # no error code: RFC 6750 §3.1
    assert r.json() == {
        "decision": False,
        "reason": "no rule allows anonymous to GET /private",
        "decision_id": jwt_harness.audited[-1].decision_id,
    }


async def test_an_authenticated_subject_that_is_denied_gets_403(gw: httpx.AsyncClient) -> None:
    r = await gw.get("/v1/forward-auth/private", headers=bearer(hs256(claims(role="viewer"))))
    assert r.status_code == 403 and "www-authenticate" not in r.headers


async def test_a_denied_bearer_token_that_cannot_be_checked_is_403(
    client: httpx.AsyncClient,
) -> None:
    # no key configured: the token is not verified, but the client did send credentials
    r = await client.get("/v1/forward-auth/private", headers=bearer(hs256(claims())))
    assert r.status_code == 403


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


@pytest.mark.parametrize("mode", ["auto", "nginx", "traefik", "caddy", "envoy"])
async def test_statuses_are_only_those_a_gateway_can_act_on(tmp_path: Path, mode: str) -> None:
    cases: list[list[tuple[str, str]]] = [
        [],
        [("X-Original-URI", "/public/a")],
        [("X-Original-Method", "GET"), ("X-Original-URI", "/..")],
        [("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/a/%2e%2e/b")],
        [("Authorization", "Bearer x.y.z")],
        [("Authorization", "Bearer " + hs256(claims(sub="s" * 5000)))],
        [("X-Original-Method", "\t"), ("X-Original-URI", "/public/a")],
        [("X-Original-Method", "GET"), ("X-Original-URI", "/" + "a" * 20000)],
        [("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/p?" + "a=1&" * 2000)],
        [("X-Original-Method", "GET"), ("X-Original-URI", "http://h")],
        [("X-Original-Method", "GET"), ("X-Original-URI", "*")],
        [("X-Original-Method", "GET"), ("X-Original-URI", "")],
    ]
    h = harness(tmp_path, gateway=mode)
    async with raw_client(h) as c:
        for headers in cases:
            for path in ("/v1/forward-auth", "/v1/forward-auth/..", "/v1/forward-auth/x%c2%85"):
                r = await c.get("/v1/forward-auth", headers=[("X-Test-Raw-Path", path), *headers])
                assert r.status_code in GATEWAY_STATUSES, (headers, path)
                assert "location" not in r.headers
