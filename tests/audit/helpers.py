from __future__ import annotations

from siamese.decision.models import Decision, Outcome, Request


def decision(i: int, allowed: bool = True, subject: str = "alice", revision: str = "rev1",
             **input_extra: object) -> Decision:
    req = Request.simple(subject, "read", f"doc{i}", context=dict(input_extra) or None)
    rules = ("owner",) if allowed else ()
    outcome = Outcome(allowed, revision, "allowed by rule owner" if allowed else "no rule",
                      {"kind": "allow" if allowed else "default-deny", "proof": []},
                      rule_ids=rules)
    return Decision(outcome, f"id-{i}", req, cached=False, latency_us=5)
