"""The decision log failing while the server runs (a disk that fills up, simulated by a
sink that raises): by default the server keeps answering, counts the lost events in the
metrics and reports itself degraded in /health; with SIAMESE_AUDIT_REQUIRED it denies
instead of answering without a record. Both recover when writes succeed again (/health a
while after the last loss)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import jwt
from asgi_lifespan import LifespanManager

from siamese.audit.log import AuditLog
from siamese.audit.search import read_events
from siamese.audit.sink import JsonlSink
from siamese.server.app import create_app
from siamese.settings import Settings

from .conftest import NOW, SECRET, body, build


class DiskFull:
    def __init__(self) -> None:
        self.full = True
        self.lines = 0

    def write(self, data: bytes) -> None:
        if self.full:
            raise OSError(28, "No space left on device")
        self.lines += data.count(b"\n")

    def close(self) -> None:
        pass


async def settle(log: AuditLog, lost: int = 0, written: int = 0) -> None:
    async def spin() -> None:
        while log.lost < lost or log.written < written:
            await asyncio.sleep(0)

    await asyncio.wait_for(spin(), 10)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


async def run(tmp_path: Path, required: bool) -> None:
    h = build(tmp_path)
    sink = DiskFull()
    now = [0.0]
    log = AuditLog(sink, required=required, monotonic=lambda: now[0], degraded_for=300)
    app = create_app(Settings(policy_dir=str(h.root)), h.store, h.service, log,
                     services={"audit": log})
    async with LifespanManager(app) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as c:
        answers = [await c.post("/access/v1/evaluation", json=body("alice")) for _ in range(3)]
        await settle(log, lost=3)
        decisions = [r.json()["decision"] for r in answers]
        if required:
            assert decisions == [False, False, False]
            assert all(r.json()["context"]["reason_user"] ==
                       "denied: the decision could not be written to the audit log"
                       for r in answers)
        else:
            assert decisions == [True, True, True]  # answered all the same
        health = (await c.get("/health")).json()
        assert health["status"] == "degraded" and "audit is degraded" in health["problems"]
        text = (await c.get("/metrics")).text
        assert metric(text, "siamese_audit_events_lost_total") == 3
        assert metric(text, "siamese_audit_degraded") == 1
        sink.full = False  # space freed
        r = await c.post("/access/v1/evaluation", json=body("alice"))
        assert r.json()["decision"] is True
        await settle(log, written=1)
        # writable again; the loss stays in /health for a while, so that a poll sees it
        assert (await c.get("/health")).json()["status"] == "degraded"
        now[0] = 301.0
        assert (await c.get("/health")).json()["status"] == "ok"
        text = (await c.get("/metrics")).text
        assert metric(text, "siamese_audit_events_written_total") == 1
        assert metric(text, "siamese_audit_degraded") == 0
    assert sink.lines == 1


async def test_a_full_disk_is_counted_and_reported_and_the_server_keeps_answering(
    tmp_path: Path,
) -> None:
    await run(tmp_path, required=False)


async def test_a_full_disk_denies_when_the_log_is_required(tmp_path: Path) -> None:
    await run(tmp_path, required=True)


# --- values that reach the decision log: secrets, sizes, values JSON cannot carry -----------

SECRETS_POLICY = """
@id("password-rule")
allow(?u, read, ?r) :- input("context.password", ?p), ?p == "open-sesame".
@id("big-number")
allow(?u, count, ?r) :- ?x is 4294967296 * 4294967296 * 4294967296, ?x < 0.
@id("public")
allow(_, "GET", ?p) :- startswith(?p, "/public/").
"""
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


async def logged_app(tmp_path: Path, text: str = SECRETS_POLICY, **settings: Any) -> Any:
    h = build(tmp_path, text, **settings)
    path = tmp_path / "audit" / "d.jsonl"
    log = AuditLog(JsonlSink(path, max_bytes=8 * 2**20, backups=1))
    app = create_app(Settings(policy_dir=str(h.root), **settings), h.store, h.service, log,
                     services={"audit": log}, wall_clock=h.wall)
    return app, log, path


async def test_secrets_reach_neither_the_log_nor_the_answers(tmp_path: Path) -> None:
    app, _, path = await logged_app(tmp_path)
    password = "hunter2-correct-horse"
    async with LifespanManager(app) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as c:
        # the why-not names the failed comparison and its bindings: the password, twice
        r = await c.post("/access/v1/evaluation", json=body(
            "alice", "read", "doc1", context={"password": password, "note": f"Bearer {JWT}"}))
        assert r.status_code == 200 and r.json()["decision"] is False
        answers = [r.text]
        why = r.json()["context"]["reason_admin"]["why_not"][0]
        assert why["failed_goal"] == 'eq("[REDACTED]", "open-sesame")'
        assert why["bindings"]["?p"] == "[REDACTED]"
        r = await c.post("/access/v1/evaluations", json={"evaluations": [body(
            "alice", "read", "doc1", context={"password": password})]})
        answers.append(r.text)
        # a JWT in the path and a token in the query of the original URI (nginx)
        r = await c.get("/v1/forward-auth", headers={
            "X-Original-Method": "GET", "X-Original-URI": f"/reset/{JWT}?access_token=QTOKEN-1234",
            "X-Auth-Token": "HTOKEN-5678", "Cookie": "session=CTOKEN-9012; theme=dark"})
        assert r.status_code == 401  # denied without credentials: log in (SPEC §6.1)
        answers.append(r.text)
    text = path.read_text()
    assert len(text.splitlines()) == 3
    for secret in (password, JWT, "QTOKEN-1234", "HTOKEN-5678", "CTOKEN-9012"):
        assert secret not in text, secret
        assert all(secret not in a for a in answers), secret
    assert '"eq(\\"[REDACTED]\\", \\"open-sesame\\")"' in text


async def test_a_flood_of_large_requests_cannot_flush_the_log(tmp_path: Path) -> None:
    # 600 distinct ~1 MB evaluations: each event is cut to a few KiB (and says so), so the
    # first decision is still in the log (8 MiB, one rotated file) and the redactor's memory
    # holds none of them
    app, log, path = await logged_app(tmp_path)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as c:
        first = (await c.post("/access/v1/evaluation", json=body("first"))).json()
        pad = "x" * 1_000_000
        for i in range(600):
            r = await c.post("/access/v1/evaluation",
                             json=body(f"u{i}", context={"blob": f"{i}{pad}"}))
            assert r.status_code == 200
        await settle(log, written=601)
        memo = log.redact.memo_bytes
    events = list(read_events(path))
    assert events[0]["decision_id"] == first["context"]["id"] and len(events) == 601
    assert all("request.context.blob: 1000" in e["truncated"][0] for e in events[1:])
    assert memo < 2**20


async def test_values_json_cannot_carry_are_refused_or_logged_never_a_500(
    tmp_path: Path,
) -> None:
    settings = {"jwt_secret": SECRET}
    app, log, path = await logged_app(tmp_path, **settings)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as c:
        def gw(token: str) -> Any:
            return c.get("/v1/forward-auth", headers={
                "X-Original-Method": "GET", "X-Original-URI": "/public/x",
                "Authorization": f"Bearer {token}"})

        # claims beyond JSON: an invalid token, 401 (forward-auth answers 401 or 403 only)
        for bad in ({"sub": "erin", "exp": 2**70}, {"sub": "\ud800", "exp": NOW + 60},
                    {"sub": "erin", "exp": NOW + 60, "n": float("nan")}):
            r = await gw(jwt.encode(bad, SECRET, algorithm="HS256"))
            assert r.status_code == 401, bad
            assert "cannot be represented" in r.headers["www-authenticate"]
        assert (await gw(jwt.encode({"sub": "erin", "exp": NOW + 60}, SECRET))).status_code == 200
        # a body with a lone surrogate: malformed JSON, 400
        r = await c.post("/access/v1/evaluation", content=b'{"subject": {"type": "user", '
                         b'"id": "\\ud800"}, "action": {"name": "read"}, '
                         b'"resource": {"type": "d", "id": "x"}}',
                         headers={"content-type": "application/json"})
        assert r.status_code == 400
        # a number the policy computes beyond 64 bits: answered, and logged converted
        r = await c.post("/access/v1/evaluation", json=body("alice", "count", "doc1"))
        assert r.status_code == 200 and r.json()["decision"] is False
        assert r.json()["context"]["reason_admin"]["why_not"][0]["bindings"]["?x"] == str(2**96)
        await settle(log, written=2)
        health = (await c.get("/health")).json()
        assert health["status"] == "ok" and health["services"]["audit"]["lost"] == 0
    events = list(read_events(path))
    assert len(events) == 2 and "64-bit" in events[1]["degraded"]
