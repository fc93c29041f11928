"""Load and reload storms: a bounded load from a separate process on loopback while the
policy file is rewritten many times, broken versions included. Zero 5xx, zero decisions
that disagree with their recorded revision, memory flat across the run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.decision.service import DecisionService
from siamese.policy.loader import load_policy_set

HERE = Path(__file__).parent
DEADLINE = 60.0
SUBJECTS = [f"u{i}" for i in range(8)]
REWRITES = 40


def variant(k: int) -> str:
    lines = [f"turn({k})."] + [f"user(u{i}, {i})." for i in range(8)]
    lines.append("allow(?u, read, ?r) :- user(?u, ?i), turn(?k), ?s is ?i + ?k, ?s % 3 == 0.")
    lines.append("deny(u1, ?a, ?r) :- turn(?k), ?k % 2 == 1.")
    return "\n".join(lines) + "\n"


BROKEN = ["allow(?u, read ?r) :- user(?u, _).\n", "turn(1).\nallow(?u, read, ?r) :- not x(?y).\n"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_for(check: object, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def expected_decisions(tmp_path: Path) -> dict[str, dict[str, bool]]:
    """revision -> subject -> allowed, for every good variant (same file name as served)."""
    out: dict[str, dict[str, bool]] = {}
    for k in range(6):
        d = tmp_path / f"truth{k}"
        d.mkdir()
        (d / "policy.rules").write_text(variant(k))
        ps = load_policy_set(d)
        svc = DecisionService(lambda ps=ps: ps, Authorizer(), None)
        out[ps.revision] = {
            u: (await svc.decide(Request.simple(u, "read", "doc"))).allowed for u in SUBJECTS
        }
    return out


async def test_load_during_a_reload_storm(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.rules").write_text(variant(0))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SIAMESE_AUDIT_LOG": str(tmp_path / "audit" / "d.jsonl"),
           "SIAMESE_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "siamese", "serve", str(policies), "--host", "127.0.0.1",
         "--port", str(port)], stdout=(tmp_path / "server.log").open("wb"),
        stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, "the server")
        out = tmp_path / "load.jsonl"
        load = subprocess.Popen([sys.executable, str(HERE / "loadgen.py"), url, str(out),
                                 "--requests", "50000", "--seconds", "8", "--concurrency", "16"])
        rss = [rss_mb(server.pid)]
        reloads_before = httpx.get(f"{url}/v1/policies").json()
        for i in range(REWRITES):
            text = BROKEN[i % 2] if i % 5 == 4 else variant((i + 1) % 6)
            # saved as editors and kubelet save: a new file renamed over the old one (a
            # plain write is seen half-done at times, and that is a revision of its own)
            tmp = policies / ".policy.rules.tmp"
            tmp.write_text(text)
            tmp.replace(policies / "policy.rules")
            time.sleep(0.15)  # pacing the edits, not waiting for anything
            if i == REWRITES // 3:
                rss.append(rss_mb(server.pid))
        assert load.wait(DEADLINE) == 0
        rss.append(rss_mb(server.pid))
        after = httpx.get(f"{url}/v1/policies").json()
        health = httpx.get(f"{url}/health")
        assert health.status_code == 200
    finally:
        server.terminate()
        server.wait(DEADLINE)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) >= 1000
    statuses = {r["status"] for r in records}
    assert statuses == {200}, statuses  # no 5xx, no transport error, no 4xx
    truth = await expected_decisions(tmp_path)
    wrong = [r for r in records if truth[r["revision"]][r["subject"]] != r["decision"]]
    assert wrong == []
    revisions = {r["revision"] for r in records}
    assert len(revisions) >= 3, "the load must span several revisions"
    assert after.get("reloads", 0) > reloads_before.get("reloads", 0)
    # memory flat: what grows after the first third of the run is small
    assert rss[-1] - rss[1] < 30, rss
    print(f"\nload/reload: {len(records)} requests, {len(revisions)} revisions served, "
          f"RSS {rss[0]:.0f} -> {rss[1]:.0f} -> {rss[-1]:.0f} MiB")
