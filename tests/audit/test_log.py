"""The audit log: every answered decision written once, off the request path; clean
shutdown flushes; failures are counted and reported, and deny in the required mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from siamese.audit.event import Redactor, event_line
from siamese.audit.log import AuditLog
from siamese.audit.search import read_events
from siamese.audit.sink import JsonlSink
from siamese.decision.models import Request

from .helpers import decision


async def until(predicate: object) -> None:
    """Wait (bounded) for the writer task to reach a state; it needs only loop turns."""

    async def spin() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0)

    await asyncio.wait_for(spin(), 10)


class FailingSink:
    """A sink whose disk is full until ``fixed`` is set."""

    def __init__(self) -> None:
        self.fixed = False
        self.data = b""

    def write(self, data: bytes) -> None:
        if not self.fixed:
            raise OSError(28, "No space left on device")
        self.data += data

    def close(self) -> None:
        pass


async def test_n_decisions_give_n_lines_with_matching_ids(tmp_path: Path) -> None:
    log = AuditLog(JsonlSink(tmp_path / "d.jsonl"), batch=7)
    await log.start()

    async def client(k: int) -> None:
        for i in range(50):
            log(decision(k * 1000 + i))
            await asyncio.sleep(0)

    await asyncio.gather(*(client(k) for k in range(20)))
    await log.stop()
    ids = [e["decision_id"] for e in read_events(tmp_path / "d.jsonl")]
    assert sorted(ids) == sorted(f"id-{k * 1000 + i}" for k in range(20) for i in range(50))
    assert log.written == 1000 and log.lost == 0


async def test_stop_flushes_everything_queued(tmp_path: Path) -> None:
    log = AuditLog(JsonlSink(tmp_path / "d.jsonl"))
    await log.start()
    for i in range(5000):  # queued faster than written: stop must still write them all
        log(decision(i))
    await log.stop()
    assert sum(1 for _ in read_events(tmp_path / "d.jsonl")) == 5000


async def test_a_failing_sink_is_counted_reported_and_recovers() -> None:
    sink = FailingSink()
    now = [0.0]
    log = AuditLog(sink, monotonic=lambda: now[0], degraded_for=300)
    await log.start()
    for i in range(10):
        assert log(decision(i)) is None  # the server keeps answering
    await until(lambda: log.lost == 10)
    assert log.status()["state"] == "degraded"
    assert "No space left" in (log.error or "")
    sink.fixed = True
    log(decision(99))
    await until(lambda: log.written == 1)
    # writable again, but events were lost lately: still degraded, for a while
    assert log.status()["state"] == "degraded" and log.error is None
    assert "No space left" in (log.status()["last_loss"] or "")
    now[0] = 301.0
    assert log.status()["state"] == "ok"
    await log.stop()
    assert b"id-99" in sink.data


async def test_required_mode_says_whether_each_event_was_written() -> None:
    sink = FailingSink()
    log = AuditLog(sink, required=True)
    await log.start()
    fut = log(decision(1))
    assert fut is not None and await fut is False  # the server must deny
    sink.fixed = True
    fut = log(decision(2))
    assert fut is not None and await fut is True
    await log.stop()


async def test_an_event_whose_values_cannot_be_serialised_is_written_converted(
    tmp_path: Path,
) -> None:
    # JSON numbers stop at 64 bits and strings at valid UTF-8: such values reach a decision
    # only by a bug (the server refuses them at the door), and the event is written all the
    # same, its values converted, and says so
    log = AuditLog(JsonlSink(tmp_path / "d.jsonl"), required=True)
    await log.start()
    odd = decision(4)
    odd.request = Request("\ud800", "read", "doc4", {"subject": {"id": "\ud800"}})
    futs = [log(decision(1)), log(decision(2, n=2**70)), log(decision(3)), log(odd)]
    assert [await f for f in futs if f is not None] == [True, True, True, True]
    await log.stop()
    events = list(read_events(tmp_path / "d.jsonl"))
    assert [e["decision_id"] for e in events] == ["id-1", "id-2", "id-3", "id-4"]
    assert events[1]["request"]["context"]["n"] == str(2**70)
    assert "64-bit" in events[1]["degraded"] and "degraded" not in events[0]
    assert events[3]["subject"] == "\\ud800" and "converted" in events[3]["degraded"]
    assert log.written == 4 and log.lost == 0


async def test_an_event_that_cannot_be_written_at_all_is_lost_alone_and_degrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import siamese.audit.log as audit_log

    def line_of(rec: object, *, safe: bool = False) -> bytes:
        if rec[0] == "id-2":  # type: ignore[index]
            raise RuntimeError("a bug")
        return event_line_of(rec, safe=safe)  # type: ignore[arg-type]

    event_line_of = audit_log.line_of
    monkeypatch.setattr(audit_log, "line_of", line_of)
    now = [0.0]
    log = AuditLog(JsonlSink(tmp_path / "d.jsonl"), required=True, monotonic=lambda: now[0])
    await log.start()
    futs = [log(decision(1)), log(decision(2)), log(decision(3))]
    assert [await f for f in futs if f is not None] == [True, False, True]
    assert log.written == 2 and log.lost == 1
    # the writes succeed, yet an event was lost: degraded, and /health says why
    assert log.status()["state"] == "degraded" and "a bug" in log.status()["last_loss"]
    now[0] = log.degraded_for + 1
    assert log.status()["state"] == "ok"
    await log.stop()
    assert [e["decision_id"] for e in read_events(tmp_path / "d.jsonl")] == ["id-1", "id-3"]


async def test_a_full_queue_loses_and_counts(tmp_path: Path) -> None:
    log = AuditLog(FailingSink(), queue_size=3, required=True)
    await log.start()
    futs = [log(decision(i)) for i in range(5)]
    assert [f.done() and f.result() for f in futs[3:]] == [False, False]  # type: ignore[union-attr]
    assert log.lost >= 2
    await log.stop()


def test_redaction_of_tokens_authorization_and_configured_names() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    req = Request.simple(
        "alice", "GET", "/x",
        context={"ssn": "123-45-6789", "note": token, "nested": [{"Password": "hunter2"}]},
        claims={"sub": "alice", "access_token": "abc"},
        http={"headers": {"authorization": "Bearer " + token, "cookie": "s=1", "accept": "*/*"}},
    )
    d = decision(1)
    d.request = req
    event = orjson.loads(event_line(d, now=0.0, redact=Redactor({
        "authorization", "cookie", "password", "access_token", "ssn"})))
    r = event["request"]
    assert r["context"]["ssn"] == "[REDACTED]"
    assert r["context"]["note"] == "[REDACTED]"  # a JWT anywhere
    assert r["context"]["nested"][0]["Password"] == "[REDACTED]"
    assert r["claims"] == {"sub": "alice", "access_token": "[REDACTED]"}
    assert r["request"]["headers"] == {"authorization": "[REDACTED]", "cookie": "[REDACTED]",
                                       "accept": "*/*"}
    assert event["time"] == "1970-01-01T00:00:00.000Z"
    assert token not in str(event)


def test_redaction_of_names_in_any_case_also_beyond_ascii() -> None:
    redact = Redactor({"passwört", "token"})
    for _ in range(2):  # the second time from the redactor's memory of recent requests
        out = orjson.loads(redact.dumps({"PASSWÖRT": "x", "b": "z"}))
        assert out == {"PASSWÖRT": "[REDACTED]", "b": "z"}
        out = orjson.loads(redact.dumps({"a": {"ToKeN": "y"}, "b": "z"}))
        assert out == {"a": {"ToKeN": "[REDACTED]"}, "b": "z"}


@pytest.mark.parametrize("field", ["decision_id", "time", "revision", "request", "decision",
                                   "reason", "explanation", "cached", "latency_us", "rule_ids"])
def test_an_event_has_every_field_of_the_spec(field: str) -> None:
    assert field in orjson.loads(event_line(decision(1), now=1.0, redact=Redactor()))


@pytest.mark.parametrize("secret", [False, True])
def test_the_log_line_is_the_event_redacted(secret: bool) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    context = {"note": token, "Cookie": "s=1"} if secret else {"ip": "10.1.2.3"}
    d = decision(3, **context)
    line = event_line(d, now=5.0, redact=Redactor())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "decision_id": "id-3",
        "time": "1970-01-01T00:00:05.000Z",
        "revision": "rev1",
        "subject": "alice",
        "action": "read",
        "resource": "doc3",
        "request": {
            "subject": {"type": "user", "id": "alice"},
            "action": {"name": "read"},
            "resource": {"type": "resource", "id": "doc3"},
            "context": {"note": "[REDACTED]", "Cookie": "[REDACTED]"} if secret else context,
        },
        "decision": True,
        "reason": "allowed by rule owner",
        "rule_ids": ["owner"],
        "explanation": {"kind": "allow", "proof": []},
        "cached": False,
        "latency_us": 5,
    }
    assert (token.encode() in line) is False
