"""Query plans in the decision log: an event of their own kind, written by the same writer
to the same file as the decisions, redacted and bounded as theirs are; and the readers of
the log that look for decisions (search, ``siamese audit``, replay) pass over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from siamese.audit.event import MAX_EXPLANATION_BYTES
from siamese.audit.log import AuditLog
from siamese.audit.plan import PlanEvent, PlanRecord, plan_line, plan_record
from siamese.audit.replay import replay
from siamese.audit.search import Filter, find_event, read_events, search_page
from siamese.audit.sink import JsonlSink
from siamese.cli import main
from siamese.decision.redact import Redactor
from siamese.policy.loader import load_policy_set

from .helpers import decision
from .test_log import FailingSink

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
CONDITION = {"expression": {"operator": "eq", "operands": [
    {"variable": "request.resource.attr.department"}, {"value": "eng"}]}}


def plan_event(i: int = 1, *, condition: Any = CONDITION, subject: str = "alice",
               context: dict[str, Any] | None = None) -> PlanEvent:
    flt: dict[str, Any] = {"kind": "KIND_CONDITIONAL", "condition": condition}
    return PlanEvent(
        plan_id=f"plan-{i}",
        revision="rev1",
        subject=subject,
        action="read",
        resource_type="document",
        input={"subject": {"type": "user", "id": subject}, "action": {"name": "read"},
               "resource": {"type": "document"}, "context": context or {}},
        filter=flt,
        explanation=[{"rule": "department-read", "location": "p.rules:3", "effect": "allow",
                      "condition": 'resource.attr.department == "eng"'}],
        latency_us=42,
    )


def line(event: PlanEvent, redact: Redactor | None = None) -> dict[str, Any]:
    out = plan_line(plan_record(event, 5.0, redact or Redactor()))
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    parsed: dict[str, Any] = orjson.loads(out)
    return parsed


def test_a_plan_event_has_its_kind_and_every_field_and_no_decision() -> None:
    assert line(plan_event()) == {
        "kind": "plan",
        "plan_id": "plan-1",
        "time": "1970-01-01T00:00:05.000Z",
        "revision": "rev1",
        "subject": "alice",
        "action": "read",
        "resource_type": "document",
        "request": {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
                    "resource": {"type": "document"}, "context": {}},
        "filter": {"kind": "KIND_CONDITIONAL", "condition": CONDITION},
        "explanation": [{"rule": "department-read", "location": "p.rules:3",
                         "effect": "allow", "condition": 'resource.attr.department == "eng"'}],
        "latency_us": 42,
    }


def test_the_requests_secrets_are_redacted_and_scrubbed_from_the_filter_too() -> None:
    secret = "s3cr3t-badge-value"
    compared = {"expression": {"operator": "eq", "operands": [
        {"variable": "request.resource.attr.badge"}, {"value": secret}]}}
    event = plan_event(condition=compared, context={"badge_token": secret, "note": TOKEN})
    out = line(event)
    assert out["request"]["context"] == {"badge_token": "[REDACTED]", "note": "[REDACTED]"}
    assert out["filter"]["condition"]["expression"]["operands"][1] == {"value": "[REDACTED]"}
    text = orjson.dumps(out).decode()
    assert secret not in text and TOKEN not in text


def test_a_large_condition_is_cut_down_to_its_kind_and_said_so() -> None:
    ids = [f"document-{i:06d}" for i in range(20_000)]
    big = {"expression": {"operator": "in", "operands": [
        {"variable": "request.resource.id"}, {"value": ids}]}}
    event = plan_event(condition=big)
    out = line(event)
    assert out["filter"] == {"kind": "KIND_CONDITIONAL", "omitted": True}
    assert any(n.startswith("filter.condition:") for n in out["truncated"])
    assert len(orjson.dumps(out)) < 2 * MAX_EXPLANATION_BYTES


def test_values_the_serialiser_cannot_write_are_converted_on_the_second_try() -> None:
    odd = {"expression": {"operator": "eq", "operands": [
        {"variable": "request.resource.attr.n"}, {"value": 2**70}]}}
    rec = plan_record(plan_event(condition=odd), 0.0, Redactor())
    with pytest.raises(orjson.JSONEncodeError):
        plan_line(rec)
    out = orjson.loads(plan_line(rec, safe=True))
    assert out["filter"]["condition"]["expression"]["operands"][1] == {"value": str(2**70)}
    assert out["degraded"].startswith("event: values converted")


async def test_plans_and_decisions_go_to_the_same_file_in_order(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = AuditLog(JsonlSink(path), batch=3)
    await log.start()
    for i in range(5):
        log(decision(i))
        log(plan_event(i))
    await log.stop()
    events = list(read_events(path))
    assert [e.get("decision_id") or e.get("plan_id") for e in events] == [
        x for i in range(5) for x in (f"id-{i}", f"plan-{i}")]
    assert log.written == 10 and log.lost == 0


async def test_required_mode_says_whether_a_plan_was_written() -> None:
    sink = FailingSink()
    log = AuditLog(sink, required=True)
    await log.start()
    fut = log(plan_event())
    assert fut is not None and await fut is False
    sink.fixed = True
    fut = log(plan_event(2))
    assert fut is not None and await fut is True
    await log.stop()
    assert b'"plan_id":"plan-2"' in sink.data


async def test_a_plan_whose_line_cannot_be_made_is_written_converted(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = AuditLog(JsonlSink(path))
    await log.start()
    log(plan_event(condition={"value": 2**70}))
    await log.stop()
    [event] = read_events(path)
    assert event["plan_id"] == "plan-1" and log.converted == 1 and "degraded" in event


def test_a_record_is_what_the_writer_holds() -> None:
    rec = plan_record(plan_event(), 1.0, Redactor())
    assert isinstance(rec, PlanRecord) and rec.event.plan_id == "plan-1"


# --- the readers of the log -----------------------------------------------------------------


@pytest.fixture
async def mixed(tmp_path: Path) -> Path:
    """A log of three decisions for alice with a plan for alice between each."""
    path = tmp_path / "audit" / "decisions.jsonl"
    log = AuditLog(JsonlSink(path), clock=iter([1.7e9 + i for i in range(99)]).__next__)
    await log.start()
    for i in range(3):
        log(decision(i, allowed=i != 1))
        log(plan_event(i))
    await log.stop()
    return path


def test_searches_keep_decisions_unless_asked_for_plans(mixed: Path) -> None:
    events = list(read_events(mixed))
    assert [e["decision_id"] for e in events if Filter(subject="alice")(e)] == [
        "id-0", "id-1", "id-2"]
    assert [e["decision_id"] for e in events if Filter(decision=False)(e)] == ["id-1"]
    assert [e["plan_id"] for e in events if Filter(kind="plan", subject="alice")(e)] == [
        "plan-0", "plan-1", "plan-2"]
    assert [e["plan_id"] for e in events if Filter(kind="plan", rule="department-read")(e)] \
        == ["plan-0", "plan-1", "plan-2"]
    assert len([e for e in events if Filter(kind=None)(e)]) == 6


def test_the_search_pages_and_the_lookup_by_id_hold_decisions_only(mixed: Path) -> None:
    page = search_page(mixed, Filter(), 2)
    assert [e["decision_id"] for e in page.events] == ["id-2", "id-1"] and page.older
    page = search_page(mixed, Filter(), 2, before="id-1")
    assert [e["decision_id"] for e in page.events] == ["id-0"] and page.newer
    assert find_event(mixed, "plan-1") is None
    assert find_event(mixed, "id-1") is not None


async def test_replay_passes_over_plans(mixed: Path, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rules").write_text("allow(alice, read, ?r).\n")
    count, changes = await replay(read_events(mixed), load_policy_set(policies))
    assert count == 3
    assert [c.event["decision_id"] for c in changes] == ["id-1"]  # the one denied


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (out.out + out.err).strip().splitlines()


def test_siamese_audit_lists_decisions_and_plans_when_asked(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(capsys, "audit", str(mixed))
    assert code == 0 and lines[-1] == "-- 3 decisions"
    assert [ln.split()[1] for ln in lines[:-1]] == ["id-0", "id-1", "id-2"]
    code, lines = run(capsys, "audit", str(mixed), "--kind", "plan")
    assert code == 0 and lines[-1] == "-- 3 plans"
    assert lines[0].split()[1:] == ["plan-0", "plan", "alice", "read", "document:",
                                    "KIND_CONDITIONAL", "[department-read]", "rev", "rev1"]
    code, lines = run(capsys, "audit", str(mixed), "--kind", "any", "--subject", "alice")
    assert lines[-1] == "-- 6 events"
    _, lines = run(capsys, "audit", str(mixed), "--kind", "plan", "--json")
    assert [orjson.loads(ln)["plan_id"] for ln in lines] == ["plan-0", "plan-1", "plan-2"]
    code, lines = run(capsys, "audit", str(mixed), "--show", "plan-1")
    assert code == 1  # --show opens a decision


def test_siamese_replay_counts_decisions_only(
    mixed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rules").write_text("allow(alice, read, ?r).\n")
    code, lines = run(capsys, "replay", str(mixed), "--policies", str(policies))
    assert code == 1
    assert lines[-1].startswith("3 decisions replayed") and lines[-1].endswith("1 would change")
