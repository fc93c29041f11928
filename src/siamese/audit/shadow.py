"""A shadow disagreement as a decision-log event of its own kind (``"kind": "shadow"``).

The candidate policy set (SIAMESE_SHADOW_POLICY_DIR) decided a request differently from the
serving set. The event names the serving decision (its ``decision_id``, whose own event is in
the log too) and carries both outcomes with their explanations, so that an auditor sees why
each set decided as it did. Readers that look for decisions (``siamese audit``, the console's
search, replay) pass over it; ``siamese audit --kind shadow`` lists them. It is redacted and
bounded as a decision's event is: each outcome through the same cuts, and the request's
secrets scrubbed from both.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from ..decision.jsonsafe import jsonable
from ..decision.redact import Redacted, Redactor
from ..decision.shadow import ShadowEvent
from .event import iso_time, outcome_part

__all__ = ["SHADOW", "ShadowRecord", "shadow_line", "shadow_record"]

SHADOW = "shadow"  # the event's ``kind``


class ShadowRecord(NamedTuple):
    event: ShadowEvent
    time: float
    request: Redacted


def shadow_record(event: ShadowEvent, now: float, redact: Redactor) -> ShadowRecord:
    return ShadowRecord(event, now, redact.of(event.decision.request.input))


def shadow_line(rec: ShadowRecord, *, safe: bool = False) -> bytes:
    """The event as one JSON line: ``kind`` ("shadow"), ``decision_id`` (the serving
    decision's), ``time``, ``subject``, ``action``, ``resource``, ``request`` (redacted),
    ``serving`` and ``shadow`` (each: ``revision``, ``decision``, ``reason``, ``rule_ids``,
    ``explanation``, ``errors`` when any); ``truncated`` and ``degraded`` when something had
    to be cut or converted."""
    event, now, red = rec
    d = event.decision
    r = d.request
    scrub = red.scrub
    head: dict[str, Any] = {
        "kind": SHADOW,
        "decision_id": d.decision_id,
        "time": iso_time(now),
        "subject": r.subject,
        "action": r.action,
        "resource": r.resource,
    }
    if scrub is not None:
        head = {k: scrub.text(v) if k in ("subject", "action", "resource") else v
                for k, v in head.items()}
    if safe:
        head = jsonable(head)
    head["request"] = orjson.Fragment(red.json)
    notes = list(red.notes)
    degraded = red.degraded
    parts = []
    for name, outcome in (("serving", d.outcome), ("shadow", event.shadow)):
        part, cut, converted = outcome_part(outcome, scrub)
        revision = orjson.dumps(jsonable(outcome.revision) if safe else outcome.revision)
        parts.append(b'"' + name.encode() + b'":{"revision":' + revision + b"," + part + b"}")
        notes += [f"{name}.{n}" for n in cut]
        degraded = degraded or converted
    if safe:
        degraded = "event: values converted to be written" + (f"; {degraded}" if degraded else "")
    extra = b""
    if notes:
        extra += b',"truncated":' + orjson.dumps(notes)
    if degraded:
        extra += b',"degraded":' + orjson.dumps(degraded)
    return b"".join((orjson.dumps(head)[:-1], b",", b",".join(parts), extra, b"}\n"))
