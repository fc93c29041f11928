"""A real nginx (Debian's package) in front of a small upstream, every request authorised
by `siamese serve` through `auth_request`, with exactly the config of
deploy/nginx/siamese.conf.template (the one docker-compose.yml uses).

Cases: an allowed request reaches the upstream with the subject and the policy's response
header passed on; a denied one gets 403 and never reaches the upstream; a bad token gets
401; a stopped PDP makes nginx fail closed (5xx, never the upstream)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from .helpers import DEADLINE, free_port, wait_for

ROOT = Path(__file__).parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "siamese.conf.template"
SECRET = "e2e-secret-with-enough-bytes-for-hs256"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

if NGINX is None:
    if os.environ.get("CI"):
        raise RuntimeError("nginx is missing: .ci/run installs it with apt-get")
    pytest.skip("nginx is not installed (apt-get install nginx)", allow_module_level=True)

POLICY = """
user(alice). user(bob).
role(alice, editor).
@id("read-docs")
allow(?u, "GET", ?path) :- user(?u), startswith(?path, "/docs/").
@id("editors-write")
allow(?u, "POST", ?path) :- role(?u, editor), startswith(?path, "/docs/").
response_header("X-User-Role", ?r) :- input("claims.sub", ?u), role(?u, ?r).
"""






@dataclass
class Upstream:
    port: int
    hits: list[dict[str, Any]] = field(default_factory=list)


def start_upstream() -> tuple[Upstream, ThreadingHTTPServer]:
    up = Upstream(0)

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            up.hits.append({"method": self.command, "path": self.path,
                            "subject": self.headers.get("X-Subject"),
                            "role": self.headers.get("X-User-Role"),
                            "decision": self.headers.get("X-Siamese-Decision-Id")})
            body = b'{"upstream": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    up.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return up, server


@dataclass
class Stack:
    url: str
    upstream: Upstream
    pdp: subprocess.Popen[bytes]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "gateway.rules").write_text(POLICY)
    pdp_port, nginx_port = free_port(), free_port()
    env = {**os.environ, "SIAMESE_JWT_SECRET": SECRET, "SIAMESE_JWT_ALGORITHMS": "HS256",
           "SIAMESE_AUDIT_LOG": str(tmp_path / "audit" / "d.jsonl")}
    pdp = subprocess.Popen(
        [sys.executable, "-m", "siamese", "serve", str(policies), "--host", "127.0.0.1",
         "--port", str(pdp_port)],
        stdout=(tmp_path / "pdp.log").open("wb"), stderr=subprocess.STDOUT, env=env)
    upstream, up_server = start_upstream()
    conf = TEMPLATE.read_text()
    conf = (conf.replace("${LISTEN}", f"127.0.0.1:{nginx_port}")
                .replace("${PDP}", f"127.0.0.1:{pdp_port}")
                .replace("${UPSTREAM}", f"127.0.0.1:{upstream.port}"))
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "nginx.conf").write_text(
        "worker_processes 1;\nerror_log logs/error.log warn;\npid logs/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        "http {\n  access_log logs/access.log;\n"
        "  client_body_temp_path temp/body; proxy_temp_path temp/proxy;\n"
        "  fastcgi_temp_path temp/fastcgi; uwsgi_temp_path temp/uwsgi; scgi_temp_path temp/scgi;\n"
        + conf + "\n}\n")
    (prefix / "temp").mkdir()
    nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                              "-g", "daemon off;"], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{nginx_port}"
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{pdp_port}/ready").status_code == 200,
                 "the PDP to be ready")
        wait_for(lambda: nginx.poll() is None and socket.create_connection(
            ("127.0.0.1", nginx_port), timeout=1).close() is None, "nginx to listen")
        yield Stack(url, upstream, pdp)
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            nginx.kill()
        if pdp.poll() is None:
            pdp.terminate()
            pdp.wait(DEADLINE)
        up_server.shutdown()


def token(sub: str, **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 600, **claims}, SECRET,
                      algorithm="HS256")


def test_allowed_requests_reach_the_upstream_with_the_subject(stack: Stack) -> None:
    r = httpx.get(f"{stack.url}/docs/handbook?page=2",
                  headers={"Authorization": f"Bearer {token('alice')}"})
    assert r.status_code == 200 and r.json() == {"upstream": True}
    hit = stack.upstream.hits[-1]
    assert hit["path"] == "/docs/handbook?page=2"
    assert hit["subject"] == "alice"
    assert hit["role"] == "editor"  # response_header("X-User-Role", ...) from the policy
    assert hit["decision"]
    r = httpx.post(f"{stack.url}/docs/handbook", content=b"edit",
                   headers={"Authorization": f"Bearer {token('alice')}"})
    assert r.status_code == 200  # nginx sent GET to the PDP; X-Original-Method said POST


def test_denied_requests_get_403_and_never_reach_the_upstream(stack: Stack) -> None:
    before = len(stack.upstream.hits)
    r = httpx.post(f"{stack.url}/docs/handbook", content=b"edit",
                   headers={"Authorization": f"Bearer {token('bob')}"})
    assert r.status_code == 403
    r = httpx.get(f"{stack.url}/admin/panel", headers={"Authorization": f"Bearer {token('bob')}"})
    assert r.status_code == 403
    r = httpx.get(f"{stack.url}/docs/../admin/panel",
                  headers={"Authorization": f"Bearer {token('bob')}"})
    assert r.status_code in (400, 403)  # nginx or the PDP normalises; never the upstream
    r = httpx.get(f"{stack.url}/docs/x")  # no token: subject "anonymous", not a user
    assert r.status_code == 403
    assert len(stack.upstream.hits) == before


def test_bad_tokens_get_401(stack: Stack) -> None:
    before = len(stack.upstream.hits)
    forged = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, "another-secret-xxxxxx"
                        "xxxxxxxxxxxxxxxx", algorithm="HS256")
    expired = jwt.encode({"sub": "alice", "exp": int(time.time()) - 600}, SECRET,
                         algorithm="HS256")
    for bad in (forged, expired, "not-a-jwt"):
        r = httpx.get(f"{stack.url}/docs/handbook", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
    assert len(stack.upstream.hits) == before


def test_a_stopped_pdp_makes_nginx_fail_closed(stack: Stack) -> None:
    before = len(stack.upstream.hits)
    stack.pdp.terminate()
    stack.pdp.wait(DEADLINE)
    r = httpx.get(f"{stack.url}/docs/handbook",
                  headers={"Authorization": f"Bearer {token('alice')}"})
    assert 500 <= r.status_code < 600
    assert len(stack.upstream.hits) == before
