"""The decision log failing while the server runs (a disk that fills up, simulated by a
sink that raises): by default the server keeps answering, counts the lost events in the
metrics and reports itself degraded in /health; with SIAMESE_AUDIT_REQUIRED it denies
instead of answering without a record. Both recover when writes succeed again (/health a
while after the last loss)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from siamese.audit.log import AuditLog
from siamese.server.app import create_app
from siamese.settings import Settings

from .conftest import body, build


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
