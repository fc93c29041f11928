"""``siamese serve`` as a real process, against the runaway policies of the security review
(finding 5): a table fixpoint over a long chain, a regex bomb, string doubling and a term
doubling by sharing its subterms. Each ends in a deny naming the limit or the refusal;
meanwhile ``/health`` and cheap decisions answer, and the server's memory stays bounded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import DEADLINE, free_port, wait_for

PROMPT = 3.0  # seconds: a generous bound on a cheap request's answer, not a measure
EDGES = 2000  # the review's second chain: 70 s of a busy server before

POLICY = "".join(f"edge(n{i}, n{i + 1}).\n" for i in range(EDGES)) + """
path(?x, ?y) :- edge(?x, ?z), path(?z, ?y).
path(?x, ?y) :- edge(?x, ?y).
allow(?u, read, ?r) :- path(?x, ?r), ?x == ?u.

allow(?u, cheap, ?r).

# the pattern comes with the request, so it reaches regex at run time
allow(?u, match, ?r) :- input("context.pattern", ?p), regex(?p, "aaa").

dbl(?s, ?s).
dbl(?s, ?r) :- concat(?s, ?s, ?t), dbl(?t, ?r).
allow(?u, grow, ?r) :- dbl(a, ?s), ?s == b.

sq(?x, ?x).
sq(?x, ?r) :- ?y is ?x * ?x, sq(?y, ?r).
allow(?u, square, ?r) :- sq(3, ?x), ?x == 0.

# a term doubling at each step with no built-in: h shares its argument (2^40 leaves)
tg(0, ?x, ?x).
tg(?n, ?x, ?y) :- ?n > 0, ?m is ?n - 1, th(?x, ?z), tg(?m, ?z, ?y).
th(?x, f(?x, ?x)).
allow(?u, terms, ?r) :- tg(40, a, ?y), ?y == b.
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "runaway.rules").write_text(POLICY)
    port = free_port()
    env = {**os.environ, "SIAMESE_WORKERS": "1", "SIAMESE_CACHE_TTL": "0",
           "SIAMESE_TIMEOUT_MS": "6000",  # long enough to send requests while it runs
           "SIAMESE_AUDIT_LOG": str(tmp_path / "audit" / "decisions.jsonl")}
    with (tmp_path / "server.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siamese", "serve", str(policies),
             "--port", str(port), "--host", "127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=DEADLINE) as c:
            wait_for(lambda: c.get("/ready").status_code == 200, "/ready")
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)


def evaluation(subject: str, action: str, resource: str, **context: Any) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": subject}, "action": {"name": action},
            "resource": {"type": "document", "id": resource}, "context": context}


def rss_mb(proc: subprocess.Popen[bytes]) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")  # pragma: no cover - not Linux


def test_a_runaway_fixpoint_leaves_the_server_answering(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, proc = server
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=base, timeout=PROMPT) as c:
        slow = pool.submit(
            httpx.post, f"{base}/access/v1/evaluation",
            json=evaluation("n0", "read", f"n{EDGES}"), timeout=DEADLINE,
        )
        answered = 0
        while not slow.done():
            # each must answer within PROMPT (httpx raises otherwise) while the runaway runs
            assert c.get("/health").status_code == 200
            r = c.post("/access/v1/evaluation", json=evaluation("u", "cheap", "r"))
            assert r.status_code == 200 and r.json()["decision"] is True
            answered += 1
        r = slow.result()
    assert answered >= 3  # the server answered again and again while the fixpoint worked
    assert r.status_code == 200, r.text
    assert r.json()["decision"] is False
    assert r.json()["context"]["reason_user"] == "denied: limit exceeded (timeout)"
    assert proc.poll() is None


@pytest.mark.parametrize(
    ("action", "context", "reason", "error"),
    [
        ("grow", {}, "denied: limit exceeded (max_string_chars)", "max_string_chars"),
        ("square", {}, "denied: limit exceeded (max_int_bits)", "max_int_bits"),
        ("terms", {}, "denied: limit exceeded (max_term_nodes)", "max_term_nodes"),
    ],
)
def test_doubling_values_deny_naming_the_limit(
    server: tuple[str, subprocess.Popen[bytes]], action: str, context: dict[str, Any],
    reason: str, error: str,
) -> None:
    base, proc = server
    with httpx.Client(base_url=base, timeout=PROMPT) as c:
        r = c.post("/access/v1/evaluation", json=evaluation("u", action, "r", **context))
        assert r.status_code == 200, r.text
        assert r.json()["decision"] is False
        assert r.json()["context"]["reason_user"] == reason
        assert error in r.json()["context"]["reason_admin"]["error"]
        assert c.get("/health").status_code == 200
    assert rss_mb(proc) < 500  # a generous safety bound, not a benchmark


def test_regex_bombs_are_refused_and_memory_stays_bounded(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, proc = server
    with httpx.Client(base_url=base, timeout=PROMPT) as c:
        for n in range(30):  # distinct patterns: none may be compiled, none kept
            r = c.post("/access/v1/evaluation",
                       json=evaluation("u", "match", "r", pattern=f"a{{{10**9 + n}}}"))
            assert r.status_code == 200, r.text
            assert r.json()["decision"] is False
            assert "too large" in r.json()["context"]["reason_admin"]["error"]
            assert c.get("/health").status_code == 200
        r = c.post("/access/v1/evaluation",
                   json=evaluation("u", "match", "r", pattern="^a+$"))
        assert r.json()["decision"] is True
    assert rss_mb(proc) < 500  # a generous safety bound, not a benchmark
