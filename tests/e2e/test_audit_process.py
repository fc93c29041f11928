"""The decision log of a real `siamese serve`: N decisions through the HTTP API give exactly
N log lines with matching ids, under concurrency and with two workers writing one file, and
a SIGTERM right after a burst loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from siamese.audit.search import read_events

from .helpers import free_port

DEADLINE = 60.0
POLICY = "allow(?u, read, ?r) :- startswith(?r, \"doc\").\n"




def start(tmp_path: Path, workers: int, policy: str = POLICY,
          **extra_env: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "p.rules").write_text(policy)
    log = tmp_path / "audit" / "decisions.jsonl"
    port = free_port()
    env = {**os.environ, "SIAMESE_AUDIT_LOG": str(log), "SIAMESE_WORKERS": str(workers),
           "SIAMESE_CACHE_TTL": "300", "SIAMESE_LOG_LEVEL": "warning", **extra_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "siamese", "serve", str(policies), "--host", "127.0.0.1",
         "--port", str(port)], stdout=(tmp_path / "server.log").open("wb"),
        stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + DEADLINE
    while True:
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            raise AssertionError((tmp_path / "server.log").read_text()[-2000:])
        time.sleep(0.05)
    return proc, url, log


async def burst(url: str, n: int, concurrency: int = 16) -> list[str]:
    """n decisions, `concurrency` at a time; the decision ids the server answered with."""
    ids: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    # a new connection per request, so that both workers of a two-worker server accept some
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:

        async def one(i: int) -> None:
            async with sem:
                body = {"subject": {"type": "user", "id": f"u{i % 7}"},
                        "action": {"name": "read"},
                        "resource": {"type": "doc", "id": f"doc{i % 13}"}}
                r = await c.post("/access/v1/evaluation", json=body)
                assert r.status_code == 200
                ids.append(r.json()["context"]["id"])

        await asyncio.gather(*(one(i) for i in range(n)))
    return ids


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)  # the whole group: uvicorn's workers too
    assert proc.wait(DEADLINE) == 0


@pytest.mark.parametrize("workers", [1, 2])
async def test_n_decisions_give_n_lines_and_sigterm_loses_nothing(tmp_path: Path,
                                                                  workers: int) -> None:
    proc, url, log = start(tmp_path, workers)
    try:
        ids = await burst(url, 1500)
    finally:
        stop(proc)  # right after the burst: everything answered must be written
    assert len(ids) == len(set(ids)) == 1500
    logged = [e["decision_id"] for e in read_events(log)]
    assert sorted(logged) == sorted(ids)
    if workers == 2:  # both workers wrote: the ids carry each process's own prefix
        assert len({i.split("-")[0] for i in logged}) == 2


SECRET = "e2e-secret-0123456789abcdef0123456789abcdef"
VALUES_POLICY = POLICY + """
allow(?u, read, ?r) :- input("context.password", ?p), ?p == "open-sesame".
allow(_, "GET", ?p) :- startswith(?p, "/public/").
"""


def test_odd_values_are_refused_or_logged_and_secrets_never_logged(tmp_path: Path) -> None:
    """Through a real server: a token whose claims JSON cannot carry (exp = 2**70, a lone
    surrogate as sub) and a body with a lone surrogate are refused (never a 500); the
    decisions answered are all logged, without the secrets their requests carried, and
    /health stays ok (no event lost)."""
    proc, url, log = start(tmp_path, 1, VALUES_POLICY, SIAMESE_JWT_SECRET=SECRET)
    answered: list[str] = []
    password, query_token = "hunter2-correct-horse", "QTOKEN-0123456789"
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            def gw(claims: dict[str, object], uri: str = "/public/x") -> httpx.Response:
                token = jwt.encode(claims, SECRET, algorithm="HS256")
                return c.get("/v1/forward-auth", headers={
                    "X-Original-Method": "GET", "X-Original-URI": uri,
                    "Authorization": f"Bearer {token}"})

            r = gw({"sub": "erin", "exp": 2**70})
            assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
            r = gw({"sub": "\ud800", "exp": int(time.time()) + 600})
            assert r.status_code == 401
            r = c.post("/access/v1/evaluation", headers={"content-type": "application/json"},
                       content=b'{"subject": {"type": "user", "id": "\\ud800"}, '
                               b'"action": {"name": "read"}, "resource": {"type": "d", "id": "x"}}')
            assert r.status_code == 400
            r = gw({"sub": "erin", "exp": int(time.time()) + 600},
                   f"/public/x?access_token={query_token}")
            assert r.status_code == 200
            answered.append(r.headers["x-siamese-decision-id"])
            r = c.post("/access/v1/evaluation", json={
                "subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
                "resource": {"type": "d", "id": "secret-file"},
                "context": {"password": password}})
            assert r.status_code == 200 and password not in r.text
            answered.append(r.json()["context"]["id"])
            health = c.get("/health").json()
            assert health["status"] == "ok", health
            assert health["services"]["audit"]["lost"] == 0
    finally:
        stop(proc)
    assert sorted(e["decision_id"] for e in read_events(log)) == sorted(answered)
    text = log.read_text()
    assert password not in text and query_token not in text
