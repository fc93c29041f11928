"""A query plan as a decision-log event of its own kind (``"kind": "plan"``).

A plan answers "which resources of this type may the subject act on?" with a filter, not one
resource's allow or deny, so its event has no ``decision_id`` and no ``decision``: readers
of the log that look for decisions (``siamese audit``, the console's search, replay) pass
over it. It is bounded and redacted as a decision's event is: the request through the same
redactor, every string cut at ``MAX_STRING``, and the condition and the explanation each cut
down when larger than ``MAX_EXPLANATION_BYTES`` (the event's ``truncated`` says what was
cut); the request's secrets are scrubbed from them too, since a condition may compare a
column with a value the request carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from ..decision.jsonsafe import jsonable
from ..decision.redact import MAX_STRING, Redacted, Redactor, cut_strings
from .event import MAX_EXPLANATION_BYTES, iso_time

__all__ = ["PLAN", "PlanEvent", "PlanRecord", "plan_line", "plan_record"]

PLAN = "plan"  # the event's ``kind``; a decision's event has none


@dataclass(frozen=True, slots=True)
class PlanEvent:
    """What the server tells the decision log of a plan it is about to answer: plain values,
    so that the log needs nothing of the planner."""

    plan_id: str
    revision: str
    subject: str
    action: str
    resource_type: str
    input: dict[str, Any]  # the known part of the request, as input(Path, ?V) reads it
    filter: dict[str, Any]  # {"kind", "condition"?}: the answer's filter
    explanation: list[dict[str, Any]]  # the rule behind each branch of the filter
    latency_us: int


class PlanRecord(NamedTuple):
    """What the decision log keeps of a plan until it writes the line (the request redacted
    when it is queued, as a decision's is)."""

    event: PlanEvent
    time: float
    request: Redacted


def plan_record(event: PlanEvent, now: float, redact: Redactor) -> PlanRecord:
    return PlanRecord(event, now, redact.of(event.input))


def _bounded(value: Any, name: str, smaller: Any, notes: list[str]) -> Any:
    """``value``, or ``smaller`` when its JSON is over MAX_EXPLANATION_BYTES (noted)."""
    size = len(orjson.dumps(value))
    if size <= MAX_EXPLANATION_BYTES:
        return value
    notes.append(f"{name}: {size} bytes, over {MAX_EXPLANATION_BYTES}: cut down")
    return smaller


def plan_line(rec: PlanRecord, *, safe: bool = False) -> bytes:
    """The plan's event as one JSON line: ``kind`` ("plan"), ``plan_id``, ``time``,
    ``revision``, ``subject``, ``action``, ``resource_type``, ``request`` (redacted),
    ``filter`` (its ``kind`` and ``condition``), ``explanation``, ``latency_us``; and
    ``truncated`` and ``degraded`` when something had to be cut or converted. ``safe``: every
    value is converted where the serialiser cannot write it (the writer's second try)."""
    e, now, red = rec
    notes: list[str] = []
    body: dict[str, Any] = {"filter": e.filter, "explanation": e.explanation}
    degraded = red.degraded
    if safe:
        body = jsonable(body)
        degraded = "event: values converted to be written" + (f"; {degraded}" if degraded
                                                              else "")
    body = cut_strings(body, MAX_STRING, [], notes)
    filt = body["filter"]
    if isinstance(filt, dict) and "condition" in filt:
        body["filter"] = _bounded(filt, "filter.condition", {"kind": filt.get("kind"),
                                                            "omitted": True}, notes)
    rules = [{"rule": x.get("rule"), "location": x.get("location")}
             for x in body["explanation"] if isinstance(x, dict)]
    body["explanation"] = _bounded(body["explanation"], "explanation", rules, notes)
    head: dict[str, Any] = {
        "kind": PLAN,
        "plan_id": e.plan_id,
        "time": iso_time(now),
        "revision": e.revision,
        "subject": e.subject,
        "action": e.action,
        "resource_type": e.resource_type,
    }
    if safe:
        head = jsonable(head)
    head = cut_strings(head, MAX_STRING, [], notes)
    scrub = red.scrub
    if scrub is not None:  # the request's secrets, wherever its values reappear
        head = {k: scrub.text(v) if isinstance(v, str) and k != "kind" else v
                for k, v in head.items()}
        body = scrub(body)
        notes = [scrub.text(n) for n in notes]
    out = {**head, "request": orjson.Fragment(red.json), **body, "latency_us": e.latency_us}
    notes = list(red.notes) + notes
    if notes:
        out["truncated"] = notes
    if degraded:
        out["degraded"] = degraded
    return orjson.dumps(out) + b"\n"
