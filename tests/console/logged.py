"""Decisions made through a real server's AuthZEN API, and waited for in its decision log
(the log writer batches its lines: a bounded wait on the file, never a sleep)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from siamese.audit.search import read_events
from tests.e2e.helpers import wait_for


def evaluation(subject: str, action: str, resource: str,
               properties: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": {"type": "user", "id": subject},
                            "action": {"name": action},
                            "resource": {"type": "document", "id": resource}}
    if properties:
        body["subject"]["properties"] = properties
    return body


def decide(url: str, subject: str, action: str, resource: str,
           properties: dict[str, Any] | None = None) -> str:
    """The decision's id, from a POST /access/v1/evaluation."""
    r = httpx.post(url + "/access/v1/evaluation",
                   json=evaluation(subject, action, resource, properties), timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["context"]["decision_id"])


def logged(log: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The events of the decisions ``ids``, once all of them are in the log."""
    def found() -> dict[str, dict[str, Any]] | None:
        if not log.exists():
            return None
        events = {e["decision_id"]: e for e in read_events(log) if e.get("decision_id") in ids}
        return events if len(events) == len(set(ids)) else None

    events = wait_for(found, f"{len(ids)} decisions in {log}")
    assert isinstance(events, dict)
    return events
