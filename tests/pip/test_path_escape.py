"""Escaping the ``http_get_json`` allowlist through the path (security review, finding 4).

A real web server (Debian's nginx, serving files) resolves ``..%2f``, ``%2e%2e`` and the
like after decoding, so a URL that the allowlist saw under ``/api/docs/`` is served from
``/admin/``. Every such path must be refused before it is sent, and the decision that
depended on it denied."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.pip import HttpData

from ..e2e.helpers import DEADLINE, free_port, serving, wait_for
from .conftest import write_policy

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

POLICY = """
@id("listed-readers")
allow(?u, read, ?doc) :-
    concat("{base}/api/docs/", ?doc, ?url),
    http_get_json(?url, ?meta),
    json_path(?meta, "readers", ?readers),
    ?u in ?readers.
"""

# each is a document id that nginx serves from /admin/keys once it has decoded it
ESCAPES = [
    "..%2f..%2fadmin%2fkeys",
    "..%2F..%2Fadmin%2Fkeys",
    "%2e%2e/%2e%2e/admin/keys",
    "%2E%2E/%2e./admin/keys",
    "x/..%2f..%2f..%2fadmin/keys",
    "..%252f..%252fadmin%252fkeys",  # for a server, or a proxy and a server, decoding twice
    "..%5c..%5cadmin%5ckeys",
    "..\\..\\admin\\keys",
    "..;/..;/admin/keys",
]


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx serving a directory: /api/docs/plan readable by alice, /admin/keys by mallory."""
    if NGINX is None:
        if os.environ.get("CI"):
            raise RuntimeError("nginx is missing: .ci/run installs it with apt-get")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    prefix = tmp_path_factory.mktemp("files")
    root = prefix / "root"
    (root / "api" / "docs").mkdir(parents=True)
    (root / "admin").mkdir()
    (root / "api" / "docs" / "plan").write_text('{"readers": ["alice"]}')
    (root / "admin" / "keys").write_text('{"readers": ["mallory"]}')
    (prefix / "logs").mkdir()
    (prefix / "temp").mkdir()
    port = free_port()
    # nginx's workers drop to nobody when started by root, and pytest's directories are
    # private to their owner: the workers keep the test's user instead
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        user + "worker_processes 1;\nerror_log logs/error.log warn;\npid logs/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        "http {\n  access_log off;\n"
        "  client_body_temp_path temp/body; proxy_temp_path temp/proxy;\n"
        "  fastcgi_temp_path temp/fastcgi; uwsgi_temp_path temp/uwsgi; scgi_temp_path temp/scgi;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; default_type application/json; }}\n"
        "}\n"
    )
    nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                              "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: nginx.poll() is None and socket.create_connection(
            ("127.0.0.1", port), timeout=1).close() is None, "nginx to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            nginx.kill()


def test_the_server_does_resolve_the_escapes(files_server: str) -> None:
    """The attack is real: sent as is, nginx answers the escaped paths from /admin/."""
    with httpx.Client() as client:
        for doc in ESCAPES[:5]:
            r = client.send(httpx.Request("GET", f"{files_server}/api/docs/{doc}"))
            assert r.status_code == 200 and r.json() == {"readers": ["mallory"]}, doc


@pytest.mark.parametrize("doc", ESCAPES)
async def test_an_escaping_path_is_refused_and_denies(
    tmp_path: Path, files_server: str, make_http: Callable[..., HttpData], doc: str
) -> None:
    http = make_http([f"{files_server}/api/docs/"])
    policy = write_policy(tmp_path, POLICY.replace("{base}", files_server), http.builtins())
    auth = Authorizer()
    assert (await auth.evaluate(policy, Request.simple("alice", "read", "plan"))).allowed
    denied = await auth.evaluate(policy, Request.simple("mallory", "read", doc))
    assert not denied.allowed
    [note] = denied.explanation["notes"]
    assert "refused:" in note and "in the path are not allowed" in note


def test_through_a_real_server(tmp_path: Path, files_server: str) -> None:
    """The same attack on a real `siamese serve`, as the review sent it: an AuthZEN
    evaluation naming the escaping document."""
    root = tmp_path / "policies"
    root.mkdir()
    (root / "p.rules").write_text(POLICY.replace("{base}", files_server))
    env = {"SIAMESE_HTTP_ALLOW": f"{files_server}/api/docs/", "SIAMESE_AUDIT_LOG": "off"}
    with serving(root, env, tmp_path / "server.log") as url, httpx.Client(base_url=url) as c:
        def decide(who: str, doc: str) -> bool:
            r = c.post("/access/v1/evaluation", json={
                "subject": {"type": "user", "id": who}, "action": {"name": "read"},
                "resource": {"type": "doc", "id": doc}})
            assert r.status_code == 200, r.text
            return bool(r.json()["decision"])

        assert decide("alice", "plan")
        for doc in ESCAPES:
            assert not decide("mallory", doc), doc
