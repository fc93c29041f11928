"""Re-deciding logged requests under another policy set, to see what a change would do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..decision.authorizer import Authorizer, PolicyLike
from ..decision.models import Outcome, Request

__all__ = ["Change", "replay"]


@dataclass
class Change:
    event: dict[str, Any]
    new: Outcome

    @property
    def old_decision(self) -> bool:
        return bool(self.event.get("decision"))

    @property
    def rule(self) -> str:
        """The rule that makes the difference: the one that decides now, or the one that
        decided before and no longer does."""
        if self.new.rule_ids:
            return self.new.rule_ids[0]
        old = self.event.get("rule_ids") or []
        return f"{old[0]} (no longer applies)" if old else self.new.reason

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "decision_id": e.get("decision_id"),
            "time": e.get("time"),
            "subject": e.get("subject"),
            "action": e.get("action"),
            "resource": e.get("resource"),
            "old": {"decision": self.old_decision, "revision": e.get("revision"),
                    "reason": e.get("reason"), "rule_ids": e.get("rule_ids", [])},
            "new": {"decision": self.new.allowed, "revision": self.new.revision,
                    "reason": self.new.reason, "rule_ids": list(self.new.rule_ids)},
            "rule": self.rule,
        }


def request_of(event: dict[str, Any]) -> Request:
    return Request(str(event["subject"]), str(event["action"]), str(event["resource"]),
                   dict(event.get("request") or {}))


async def replay(events: Iterable[dict[str, Any]], policy: PolicyLike,
                 authorizer: Authorizer | None = None) -> tuple[int, list[Change]]:
    """(decisions replayed, the ones whose outcome would change)."""
    authorizer = authorizer or Authorizer()
    count = 0
    changes: list[Change] = []
    for e in events:
        if not {"subject", "action", "resource", "decision"} <= e.keys():
            continue
        count += 1
        outcome = await authorizer.evaluate(policy, request_of(e))
        if outcome.allowed != bool(e["decision"]):
            changes.append(Change(e, outcome))
    return count, changes
