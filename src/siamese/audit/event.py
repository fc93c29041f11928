"""A decision as an audit event: one JSON object, secrets redacted, size bounded.

An event holds at most about 64 KiB whatever the request: every string of the request and
of the explanation is cut at ``MAX_STRING`` characters, the request at
``MAX_REQUEST_BYTES`` (beyond, only its ids are kept) and the explanation at
``MAX_EXPLANATION_BYTES`` (beyond, only its kind and rule ids); the event's ``truncated``
field lists what was cut. A value the serialiser cannot write is converted and the event
says so in ``degraded`` rather than being lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ..decision.jsonsafe import jsonable
from ..decision.models import Decision, Outcome
from ..decision.redact import (
    DEFAULT_REDACT,
    MAX_REQUEST_BYTES,
    MAX_STRING,
    REDACTED,
    Redacted,
    Redactor,
    Scrubber,
    cut_strings,
)

__all__ = [
    "DEFAULT_REDACT",
    "MAX_EXPLANATION_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_STRING",
    "REDACTED",
    "Record",
    "Redactor",
    "event_line",
    "iso_time",
    "line_of",
    "record",
]

MAX_EXPLANATION_BYTES = 32768  # bytes of an explanation in the log, once its strings are cut


@lru_cache(maxsize=4)
def _second(whole: int) -> str:
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_time(t: float) -> str:
    """``2026-11-26T10:00:00.123Z``: the date part is formatted once per second, the whole
    once per millisecond (the decision log asks many times a millisecond under load)."""
    global _last_ms, _last_text
    ms = int(t * 1000 // 1)
    if ms == _last_ms:
        return _last_text
    text = f"{_second(ms // 1000)}.{ms % 1000:03d}Z"
    _last_ms, _last_text = ms, text
    return text


_last_ms, _last_text = -1, ""


_Part = tuple[bytes, tuple[str, ...], "str | None"]  # JSON without braces, cut, converted


def outcome_part(o: Outcome, scrub: Scrubber | None = None) -> _Part:
    """The outcome's part of a log line (``"decision":…,"reason":…,…`` without braces), its
    strings cut and its explanation bounded; with ``scrub``, a request's secrets removed
    (after the cuts: the work is then bounded too)."""
    part: dict[str, Any] = {
        "decision": o.allowed,
        "reason": o.reason,
        "rule_ids": list(o.rule_ids),
        "explanation": o.explanation,
    }
    if o.errors:
        part["errors"] = list(o.errors)
    degraded = None
    try:
        raw = orjson.dumps(part)
    except orjson.JSONEncodeError as e:
        part = jsonable(part)
        raw = orjson.dumps(part)
        degraded = f"explanation: values converted to be written ({e})"
    notes: list[str] = []
    if len(raw) > MAX_STRING:  # a string to cut, or an explanation too large
        part = cut_strings(part, MAX_STRING, [], notes)
        explanation = part["explanation"]
        size = len(orjson.dumps(explanation))
        if size > MAX_EXPLANATION_BYTES:
            kind = explanation.get("kind") if isinstance(explanation, dict) else None
            part["explanation"] = {"kind": kind, "omitted": True}
            notes.append(f"explanation: {size} bytes, over {MAX_EXPLANATION_BYTES}: only its "
                         "kind (and the rule_ids) are kept")
    if scrub is not None:
        part = {k: (v if k in ("decision", "rule_ids") else scrub(v)) for k, v in part.items()}
        notes = [scrub.text(n) for n in notes]
    if notes or scrub is not None:
        raw = orjson.dumps(part)
    return raw[1:-1], tuple(notes), degraded


def event_line(decision: Decision, *, now: float, redact: Redactor) -> bytes:
    """A decision's event as one JSON line: ``decision_id``, ``time``, ``revision``,
    ``subject``, ``action``, ``resource``, ``request`` (redacted), ``decision``, ``reason``,
    ``rule_ids``, ``explanation``, ``errors`` (if any), ``cached``, ``latency_us``; and
    ``truncated`` and ``degraded`` when something had to be cut or converted."""
    return line_of(record(decision, now, redact))


# What the decision log keeps of a decision until it writes the line: the decision's own
# values and the redacted request, not the decision and its request's dicts (a few hundred
# decisions held for a batch would keep their memory from being reused, at a cost to every
# request). (decision_id, time, outcome, subject, action, resource, redacted request,
# cached, latency_us)
Record = tuple[str, float, Outcome, str, str, str, Redacted, bool, int]


def record(decision: Decision, now: float, redact: Redactor) -> Record:
    r = decision.request
    return (decision.decision_id, now, decision.outcome, r.subject, r.action, r.resource,
            redact.of(r.input), decision.cached, decision.latency_us)


def line_of(rec: Record, *, safe: bool = False) -> bytes:
    """The event's line. ``safe``: the values of the event's head (its ids) are converted
    where the serialiser cannot write them, and the event says so (the writer's second try
    for an event whose line failed)."""
    decision_id, now, o, subject, action, resource, red, cached, latency_us = rec
    cache = o.log_json  # serialised once per outcome: the cache answers many with one
    if not cache:
        cache.extend(outcome_part(o))
    part, outcome_notes, degraded = cache
    scrub = red.scrub
    if scrub is not None:  # the request's secrets, wherever its values reappear
        subject, action, resource = scrub.text(subject), scrub.text(action), scrub.text(resource)
        if scrub.may_touch(part.decode()):
            part, outcome_notes, degraded = outcome_part(o, scrub)
    head_values: dict[str, Any] = {
        "decision_id": decision_id,
        "time": iso_time(now),
        "revision": o.revision,
        "subject": subject,
        "action": action,
        "resource": resource,
    }
    if safe:
        head_values = jsonable(head_values)
    head_values["request"] = orjson.Fragment(red.json)
    head = orjson.dumps(head_values)
    notes = red.notes + outcome_notes  # (the request's are scrubbed already)
    degraded = red.degraded or degraded
    if safe:
        degraded = "event: values converted to be written" + (f"; {degraded}" if degraded else "")
    extra = b""
    if notes:
        extra += b',"truncated":' + orjson.dumps(notes)
    if degraded:
        extra += b',"degraded":' + orjson.dumps(degraded)
    return b"".join((
        head[:-1], b",", part,
        b',"cached":true,"latency_us":' if cached else b',"cached":false,"latency_us":',
        str(latency_us).encode(), extra, b"}\n",
    ))
