"""``siamese serve`` as a real process on a free loopback port: real HTTP, a policy edit that
the next request sees, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import DEADLINE, free_port, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes], Path]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "access.rules").write_text(
        'allow(alice, read, doc1).\nallow(_, "GET", ?p) :- startswith(?p, "/public/").\n'
    )
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "SIAMESE_LOG_FORMAT": "json", "SIAMESE_CACHE_TTL": "300",
           "SIAMESE_AUDIT_LOG": str(tmp_path / "audit" / "decisions.jsonl")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "siamese",
                "serve",
                str(policies),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield f"http://127.0.0.1:{port}", policies, proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)


def evaluation(subject: str) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": "read"},
        "resource": {"type": "document", "id": "doc1"},
    }


def test_serve_decides_reloads_and_stops_cleanly(
    server: tuple[str, Path, subprocess.Popen[bytes], Path],
) -> None:
    base, policies, proc, log = server
    answered: list[str] = []
    with httpx.Client(base_url=base, timeout=5.0) as c:
        ready = wait_for(
            lambda: c.get("/ready").status_code == 200 and c.get("/ready").json(), "/ready"
        )
        assert proc.poll() is None
        first_revision = ready["revision"]

        r = c.post(
            "/access/v1/evaluation", json=evaluation("alice"), headers={"X-Request-ID": "e2e-1"}
        )
        assert r.status_code == 200 and r.json()["decision"] is True
        assert r.headers["x-request-id"] == "e2e-1"
        assert r.json()["context"]["revision"] == first_revision
        assert c.post("/access/v1/evaluation", json=evaluation("bob")).json()["decision"] is False
        assert c.get("/v1/forward-auth/public/a").status_code == 200
        nginx = {"X-Original-Method": "GET", "X-Original-URI": "/private"}
        assert c.get("/v1/forward-auth", headers=nginx).status_code == 401  # anonymous
        assert c.post("/v1/data/x", json={"input": evaluation("alice")}).json()["result"] is True
        assert "siamese_decisions_total" in c.get("/metrics").text

        # an edit of a policy file: the next request after the reload sees it
        with (policies / "access.rules").open("a") as f:
            f.write("allow(bob, read, doc1).\n")
        wait_for(lambda: c.get("/v1/policies").json()["revision"] != first_revision, "the reload")
        r = c.post("/access/v1/evaluation", json=evaluation("bob"))
        assert r.json()["decision"] is True
        assert r.json()["context"]["revision"] != first_revision
        answered.append(r.json()["context"]["decision_id"])

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=DEADLINE) == 0
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # SIAMESE_LOG_FORMAT=json: every line an object
    messages = [e["message"] for e in entries]
    assert any("serving policy revision" in m for m in messages)
    assert any("Application shutdown complete" in m for m in messages)
    # the decision log: every answered decision is there after a clean stop
    audit = log.parent / "audit" / "decisions.jsonl"
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    logged = {e["decision_id"] for e in events}
    assert set(answered) <= logged and len(events) >= 6
