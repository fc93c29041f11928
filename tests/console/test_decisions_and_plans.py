"""The decision log browser over a log that holds query plans too: it lists, pages and
opens the decisions, and passes over the plans (events of another kind)."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.console.local import local


def write_mixed_log(path: Path, n: int) -> list[str]:
    """``n`` decisions, a plan after each (for the same subject, with the same rule)."""
    ids = [f"id-{i:03d}" for i in range(n)]
    with path.open("wb") as fh:
        for i, ident in enumerate(ids):
            when = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z"
            fh.write(orjson.dumps({
                "decision_id": ident, "time": when, "revision": "0123456789ab",
                "subject": "s", "action": "read", "resource": f"r{i}", "request": {},
                "decision": True, "reason": "ok", "rule_ids": ["admin-all"],
                "explanation": {"kind": "allow", "proof": []}, "cached": False,
                "latency_us": 3}) + b"\n")
            fh.write(orjson.dumps({
                "kind": "plan", "plan_id": f"plan-{i:03d}", "time": when,
                "revision": "0123456789ab", "subject": "s", "action": "read",
                "resource_type": "document", "request": {},
                "filter": {"kind": "KIND_ALWAYS_ALLOWED"},
                "explanation": [{"rule": "admin-all", "location": "p.rules:12",
                                 "condition": "true"}], "latency_us": 9}) + b"\n")
    return ids


def test_the_search_lists_and_pages_decisions_and_passes_over_plans(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    ids = write_mixed_log(log, 60)
    c = local(tmp_path, audit_log=str(log))
    for query in ({}, {"subject": "s"}, {"rule": "admin-all"}, {"before": ids[55]}):
        r = c.get("/console/decisions", params=query)
        assert r.status_code == 200, r.text
        assert "plan-0" not in r.text
    r = c.get("/console/decisions")
    assert r.text.count("<tr data-decision-id=") == 50
    assert f'data-decision-id="{ids[59]}"' in r.text
    r = c.get("/console/decisions", params={"before": ids[10]})
    assert r.text.count("<tr data-decision-id=") == 10
    r = c.get(f"/console/decisions/{ids[3]}")
    assert r.status_code == 200
    r = c.get("/console/decisions/plan-003")
    assert r.status_code == 404
