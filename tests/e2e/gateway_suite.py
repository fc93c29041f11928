"""One suite for every real gateway in front of `siamese serve` (nginx, Caddy): each test
module starts its gateway with the recipe of deploy/ as it is and subclasses
:class:`GatewaySuite`.

Attacks are sent as raw bytes on a socket, so that no client library normalises them; the
upstream records every request it receives, and an attack passes only if it never gets
there."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
import pytest

from .helpers import DEADLINE, free_port, wait_for

SECRET = "e2e-secret-with-enough-bytes-for-hs256"

POLICY = """
user(alice). user(bob).
role(alice, editor).
@id("public")
allow(_, "GET", ?path) :- startswith(?path, "/public/").
@id("read-docs")
allow(?u, "GET", ?path) :- user(?u), startswith(?path, "/docs/").
@id("editors-write")
allow(?u, "POST", ?path) :- role(?u, editor), startswith(?path, "/docs/").
@id("me")
allow(?u, "GET", "/me") :- input("claims.sub", ?u).
response_header("X-User-Role", ?r) :- input("claims.sub", ?u), role(?u, ?r).
"""

# Raw request targets that an upstream may read as /admin/... while a careless PDP decides
# /public/... (or that mean different things to different decoders): every one must be
# refused, and none may reach the upstream.
ATTACKS = [
    "/admin/%2e%2e/public/x",
    "/admin/%2E%2E/public/x",
    "/public/%252e%252e/admin/secret",  # for an upstream that decodes once more
    "/admin%2f..%2fpublic/x",
    "/public/..%2fadmin/secret",
    "/public/..%5cadmin/secret",
    "/public/..\\admin/secret",
    "/public/..;/admin/secret",
    "/public/x%c2%85",
    "/public/x%00",
    "/public/x%0d%0aX-Injected:%201",
    "//admin/secret",
    "/public/%ef%bc%8e%ef%bc%8e/admin/secret",
    "/public/%zz",
    "/public/%ff",
    "http://127.0.0.1/admin/%2e%2e/public/x",  # absolute-form
]


@dataclass
class Upstream:
    port: int
    hits: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def upstream(subject_header: str) -> Iterator[Upstream]:
    """An upstream that answers every request and records it (raw target and the headers
    its gateway sets: the subject in ``subject_header``)."""
    up = Upstream(0)

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            up.hits.append({"method": self.command, "path": self.path,
                            "subject": self.headers.get(subject_header),
                            "siamese_subject": self.headers.get("X-Siamese-Subject"),
                            "role": self.headers.get("X-User-Role"),
                            "decision": self.headers.get("X-Siamese-Decision-Id")})
            body = b'{"upstream": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PUT = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    up.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield up
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def pdp(tmp_path: Path, gateway: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`siamese serve` on a free loopback port with SIAMESE_GATEWAY=gateway, once ready."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "gateway.rules").write_text(POLICY)
    port = free_port()
    env = {**os.environ, "SIAMESE_JWT_SECRET": SECRET, "SIAMESE_JWT_ALGORITHMS": "HS256",
           "SIAMESE_GATEWAY": gateway, "SIAMESE_AUDIT_LOG": str(tmp_path / "audit" / "d.jsonl")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "siamese", "serve", str(policies), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=(tmp_path / "pdp.log").open("wb"), stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200,
                 "the PDP to be ready")
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(DEADLINE)


def stop(proc: subprocess.Popen[Any], signal_stop: Callable[[], None]) -> None:
    """Stop a gateway gracefully, else kill it, within the deadline."""
    if proc.poll() is None:
        signal_stop()
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(DEADLINE)


def gateway_binary(name: str, debian_path: str) -> str:
    """The gateway's executable; a skip without it (an error in CI, which installs it)."""
    found = shutil.which(name) or (debian_path if os.path.exists(debian_path) else None)
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"{name} is missing: .ci/run installs it with apt-get")
        pytest.skip(f"{name} is not installed (apt-get install {name})", allow_module_level=True)
    return found


StackMaker = Callable[[Path, str], Iterator["Stack"]]


def stack_fixtures(make: StackMaker, mode: str) -> tuple[Any, Any, Any]:
    """The fixtures a gateway's test module provides: ``stack`` (one for the module, in
    ``mode``: each test counts the upstream's hits from its own start), ``fresh_stack`` (one
    of its own, for the test that stops the PDP) and ``auto_stack`` (SIAMESE_GATEWAY=auto)."""

    @pytest.fixture(scope="module")
    def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
        yield from make(tmp_path_factory.mktemp(mode), mode)

    @pytest.fixture
    def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
        yield from make(tmp_path, mode)

    @pytest.fixture(scope="module")
    def auto_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
        yield from make(tmp_path_factory.mktemp(mode + "-auto"), "auto")

    return stack, fresh_stack, auto_stack


def listening(port: int, proc: subprocess.Popen[Any]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the gateway exited with {proc.returncode}")
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return True


@dataclass
class Stack:
    url: str
    upstream: Upstream
    pdp: subprocess.Popen[bytes]

    @property
    def address(self) -> tuple[str, int]:
        u = httpx.URL(self.url)
        return u.host, u.port or 80


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(stack: Stack, method: str, target: str, headers: dict[str, str] | None = None
                ) -> RawResponse:
    """Send ``method target`` byte for byte (no client normalises it) and read the answer."""
    host, port = stack.address
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, port), timeout=DEADLINE) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), parsed, body)


def token(sub: str, **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600, **claims}, SECRET,
                      algorithm="HS256")


def auth(sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub)}"}


def pdp_answered_400(r: RawResponse) -> bool:
    return r.status == 400 and b'"decision"' in r.body


class GatewaySuite:
    """The cases every gateway must pass; a subclass's module provides the ``stack`` fixture
    (shared by the tests) and ``fresh_stack`` (one of its own, for the test that stops the
    PDP)."""

    def test_allowed_requests_reach_the_upstream_with_the_subject(self, stack: Stack) -> None:
        r = httpx.get(f"{stack.url}/docs/handbook?page=2", headers=auth("alice"))
        assert r.status_code == 200 and r.json() == {"upstream": True}
        hit = stack.upstream.hits[-1]
        assert hit["path"] == "/docs/handbook?page=2"
        assert hit["subject"] == "alice"
        assert hit["role"] == "editor"  # response_header("X-User-Role", ...) from the policy
        assert hit["decision"]
        r = httpx.post(f"{stack.url}/docs/handbook", content=b"edit", headers=auth("alice"))
        assert r.status_code == 200  # the gateway called with GET; the convention said POST
        r = httpx.get(f"{stack.url}/public/x")
        assert r.status_code == 200 and stack.upstream.hits[-1]["subject"] == "anonymous"

    def test_the_subject_header_tells_lookalike_subjects_apart(self, stack: Stack) -> None:
        seen = []
        for sub in ("adminé", "admin%C3%A9"):
            r = httpx.get(f"{stack.url}/me", headers=auth(sub))
            assert r.status_code == 200
            seen.append(stack.upstream.hits[-1]["subject"])
        assert seen == ["admin%C3%A9", "admin%25C3%25A9"]
        assert [unquote(s) for s in seen] == ["adminé", "admin%C3%A9"]

    def test_an_authenticated_subject_that_is_denied_gets_403(self, stack: Stack) -> None:
        before = len(stack.upstream.hits)
        r = httpx.post(f"{stack.url}/docs/handbook", content=b"edit", headers=auth("bob"))
        assert r.status_code == 403
        r = httpx.get(f"{stack.url}/admin/panel", headers=auth("bob"))
        assert r.status_code == 403
        assert "www-authenticate" not in r.headers
        assert len(stack.upstream.hits) == before

    def test_a_denied_request_without_credentials_gets_401_and_a_challenge(
        self, stack: Stack
    ) -> None:
        before = len(stack.upstream.hits)
        for headers in ({}, {"Authorization": "Basic YWxpY2U6cHc="}):
            r = httpx.get(f"{stack.url}/docs/x", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == 'Bearer realm="siamese"'
        assert len(stack.upstream.hits) == before

    def test_bad_tokens_get_401_invalid_token(self, stack: Stack) -> None:
        before = len(stack.upstream.hits)
        forged = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600},
                            "another-secret-xxxxxxxxxxxxxxxxxxxxxx", algorithm="HS256")
        expired = jwt.encode({"sub": "alice", "exp": int(time.time()) - 600}, SECRET,
                             algorithm="HS256")
        for bad in (forged, expired, "not-a-jwt"):
            r = httpx.get(f"{stack.url}/docs/handbook", headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401, bad
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
        assert len(stack.upstream.hits) == before

    @pytest.mark.parametrize("who", ["anonymous", "bob"])
    def test_client_sent_convention_headers_decide_nothing(self, stack: Stack, who: str) -> None:
        headers = {
            "X-Original-Method": "GET", "X-Original-URI": "/public/x",
            "X-Original-Host": "app.example.com", "X-Forwarded-Method": "GET",
            "X-Forwarded-Uri": "/public/x", "X-Forwarded-Host": "app.example.com",
            "X-Siamese-Subject": "alice", "X-Subject": "alice", "X-User-Role": "admin",
        }
        creds = {} if who == "anonymous" else auth(who)
        before = len(stack.upstream.hits)
        for method in ("DELETE", "GET", "POST"):
            r = raw_request(stack, method, "/admin/secret", {**headers, **creds})
            assert r.status in (401, 403), method
        assert len(stack.upstream.hits) == before
        # on an allowed request, the client's headers never reach the upstream either
        r = raw_request(stack, "GET", "/public/y", headers)
        assert r.status == 200
        hit = stack.upstream.hits[-1]
        assert hit["path"] == "/public/y"
        assert (hit["subject"], hit["siamese_subject"]) == ("anonymous", "anonymous")
        # a header the PDP did not send is absent (nginx) or, in Caddy 2.6, the literal text
        # of copy_headers' placeholder: never the client's value
        assert hit["role"] != "admin", hit

    @pytest.mark.parametrize("who", ["anonymous", "bob"])
    def test_the_recipe_strips_the_other_conventions_so_auto_works_too(
        self, auto_stack: Stack, who: str
    ) -> None:
        # with SIAMESE_GATEWAY=auto, a client's headers of the other convention reaching the
        # PDP would be refused as a disagreement: the recipe removes them, so allowed
        # requests still pass
        self.test_client_sent_convention_headers_decide_nothing(auto_stack, who)

    @pytest.mark.parametrize("target", ATTACKS)
    @pytest.mark.parametrize("who", ["anonymous", "bob"])
    def test_an_ambiguous_path_never_reaches_the_upstream(
        self, stack: Stack, target: str, who: str
    ) -> None:
        before = len(stack.upstream.hits)
        r = raw_request(stack, "GET", target, {} if who == "anonymous" else auth(who))
        # refused by the PDP (403), or by the gateway itself (400) before the callout
        assert r.status in (400, 403), (target, r.status)
        assert not pdp_answered_400(r)
        assert stack.upstream.hits[before:] == [], target

    def test_oversized_paths_and_subjects_are_refused_with_403(self, stack: Stack) -> None:
        before = len(stack.upstream.hits)
        r = raw_request(stack, "GET", "/public/" + "a" * 2000)
        assert r.status == 403
        r = raw_request(stack, "GET", "/public/x", auth("s" * 1500))
        assert r.status == 403
        r = raw_request(stack, "GET", "/public/x?" + "q=1&" * 1200)
        assert r.status in (200, 403)
        assert all(hit["path"].startswith("/public/x?") for hit in stack.upstream.hits[before:])

    def test_a_stopped_pdp_fails_closed(self, fresh_stack: Stack) -> None:
        stack = fresh_stack
        before = len(stack.upstream.hits)
        stack.pdp.terminate()
        stack.pdp.wait(DEADLINE)
        r = httpx.get(f"{stack.url}/docs/handbook", headers=auth("alice"))
        assert 500 <= r.status_code < 600
        r = httpx.get(f"{stack.url}/public/x")
        assert 500 <= r.status_code < 600
        assert len(stack.upstream.hits) == before
