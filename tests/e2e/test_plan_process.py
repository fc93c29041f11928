"""``POST /v1/plan/resources`` of a real ``siamese serve``: API keys, the answer, a policy
that cannot be planned, the rate limit, and the plan in the decision log (required: the
line is there when the answer arrives)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siamese.audit.search import read_events

from .helpers import serving

POLICY = """\
department(alice, eng).
owner("doc-1", alice).

@id("department-read")
allow(?u, read, _) :- department(?u, ?d), input("resource.properties.department", ?d).
@id("owner")
allow(?u, _, ?r) :- owner(?r, ?u).
@id("public-titles")
allow(_, share, _) :- input("resource.properties.title", ?t), regex("^public-", ?t).
"""
KEY = "plan-key-0123456789"
URL = "/v1/plan/resources"


def plan_body(action: str = "read", **resource: Any) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": "alice"}, "action": {"name": action},
            "resource": {"type": "document", **resource},
            "context": {"api_token": "tok-secret-value"}}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rules").write_text(POLICY)
    log = tmp_path / "audit" / "decisions.jsonl"
    env = {"SIAMESE_AUTH": "api-key", "SIAMESE_API_KEYS": KEY, "SIAMESE_AUDIT_LOG": str(log),
           "SIAMESE_AUDIT_REQUIRED": "on", "SIAMESE_RATE_LIMIT": "0.01",
           "SIAMESE_RATE_BURST": "4"}
    with serving(policies, env, tmp_path / "server.log") as url:
        yield url, log


def test_a_real_server_plans_refuses_and_logs(served: tuple[str, Path]) -> None:
    url, log = served
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post(URL, json=plan_body())
        assert r.status_code == 401, r.text
        keyed = {"X-API-Key": KEY}
        r = c.post(URL, json=plan_body(), headers=keyed)  # 1 of the burst of 4
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["filter"]["kind"] == "KIND_CONDITIONAL"
        assert {e["rule"] for e in answer["explanation"]} == {"department-read", "owner"}
        r = c.post(URL, json=plan_body(id="doc-1"), headers=keyed)  # 2
        assert r.status_code == 400 and "'resource.id'" in r.json()["error"]["message"]
        r = c.post(URL, json=plan_body("share"), headers=keyed)  # 3
        assert r.status_code == 422 and "public-titles" in r.json()["error"]["message"]
        r = c.post(URL, json=plan_body("write"), headers=keyed)  # 4
        assert r.status_code == 200, r.text
        r = c.post(URL, json=plan_body(), headers=keyed)
        assert r.status_code == 429 and "retry-after" in r.headers
    plans = [e for e in read_events(log) if e.get("kind") == "plan"]
    assert len(plans) == 2  # the plans answered; no refusal is logged
    assert plans[0]["plan_id"] == answer["plan_id"]
    assert plans[0]["filter"] == answer["filter"]
    assert plans[0]["request"]["context"] == {"api_token": "[REDACTED]"}
    assert "tok-secret-value" not in log.read_text()
