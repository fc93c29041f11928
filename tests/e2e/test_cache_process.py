"""The decision cache through a real `siamese serve` (security review, finding 3): a cached
allow is never served for a request the policy tells apart, and odd input paths are never
a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .helpers import serving

POLICY = """
@id("risky") deny(?u, ?a, ?r) :- input("context.risk_flag", ?f).
@id("readers") allow(?u, read, ?r) :- user(?u).
@id("first-item") allow(?u, list, ?r) :- input("context.items.²", ?x).
@id("level-one") allow(?u, tag, ?r) :- input("context.level", 1).
user(alice).
"""


def body(action: str, context: dict[str, Any]) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": "alice"}, "action": {"name": action},
            "resource": {"type": "doc", "id": "d1"}, "context": context}


def test_the_cache_serves_no_decision_for_a_request_the_policy_tells_apart(
    tmp_path: Path,
) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "p.rules").write_text(POLICY)
    env = {"SIAMESE_CACHE_TTL": "600", "SIAMESE_AUDIT_LOG": "off"}
    with serving(root, env, tmp_path / "server.log") as url, httpx.Client(base_url=url) as c:
        def decide(action: str, context: dict[str, Any]) -> Any:
            r = c.post("/access/v1/evaluation", json=body(action, context))
            assert r.status_code == 200, r.text
            return r.json()["decision"]

        assert decide("read", {}) is True
        assert decide("read", {}) is True  # now from the cache
        assert decide("read", {"risk_flag": None}) is False  # absent and null differ
        assert decide("list", {"items": ["a", "b", "c"]}) is False  # '²' is no index: no 500
        assert decide("tag", {"level": 1}) is True
        for other in ("1", True, [1], None):
            assert decide("tag", {"level": other}) is False, other
        metrics = c.get("/metrics").text
    assert "siamese_decision_cache_hits_total 1.0" in metrics  # the second {} only
