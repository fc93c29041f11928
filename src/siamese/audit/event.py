"""A decision as an audit event: one JSON object, secrets redacted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ..decision.models import Decision, Outcome

__all__ = ["DEFAULT_REDACT", "Record", "Redactor", "event_line", "iso_time", "line_of", "record"]

REDACTED = "[REDACTED]"
# property and header names whose values are secrets, wherever they appear in a request
DEFAULT_REDACT = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api_key",
    "apikey", "password", "passwd", "secret", "client_secret", "token", "access_token",
    "refresh_token", "id_token", "session",
})
_RECENT = 4096  # requests whose redacted JSON the redactor remembers
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class Redactor:
    """Replaces the values of secret-named keys (case-insensitive), and any string that is
    a JWT, by ``[REDACTED]``."""

    def __init__(self, names: Iterable[str] = DEFAULT_REDACT) -> None:
        self.names = frozenset(n.lower() for n in names)
        # what makes a request worth walking: a key with a secret's name, or the start of a
        # JWT ("eyJ"), anywhere in its lower-cased JSON (false alarms only cost a walk)
        keys = b"|".join(re.escape(n.encode()) for n in sorted(self.names))
        self._secret_key = re.compile(rb'"(?:' + keys + rb')":') if keys else None
        # the answers for requests seen lately: the requests the decision cache answers are
        # the same requests again, and so are their redacted forms
        self._recent: dict[bytes, bytes] = {}

    def dumps(self, value: Any) -> bytes:
        """``value`` redacted, as JSON. Most requests hold no secret: one scan of their JSON
        says so, and only the others are walked. JSON with non-ASCII text is always walked:
        the scan folds the case of ASCII letters only."""
        raw = orjson.dumps(value)
        out = self._recent.get(raw)
        if out is None:
            out = self._redacted(value, raw)
            if len(self._recent) >= _RECENT:
                self._recent.clear()
            self._recent[raw] = out
        return out

    def _redacted(self, value: Any, raw: bytes) -> bytes:
        if not raw.isascii():
            return orjson.dumps(self(value))
        low = raw.lower()
        keys = self._secret_key
        if b"eyj" in low or (keys is not None and keys.search(low) is not None):
            return orjson.dumps(self(value))
        return raw

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (REDACTED if isinstance(k, str) and k.lower() in self.names else self(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str) and len(value) > 20 and _JWT.match(value):
            return REDACTED
        return value


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


def _outcome_json(o: Outcome) -> bytes:
    """The outcome's part of a log line (``"decision":…,"reason":…,…`` without braces),
    serialised once per outcome: the cache answers many decisions with one outcome, and its
    explanation is the bulk of the line."""
    cache = o.log_json
    if not cache:
        part: dict[str, Any] = {
            "decision": o.allowed,
            "reason": o.reason,
            "rule_ids": list(o.rule_ids),
            "explanation": o.explanation,
        }
        if o.errors:
            part["errors"] = list(o.errors)
        cache.append(orjson.dumps(part)[1:-1])
    return cache[0]


def event_line(decision: Decision, *, now: float, redact: Redactor) -> bytes:
    """A decision's event as one JSON line: ``decision_id``, ``time``, ``revision``,
    ``subject``, ``action``, ``resource``, ``request`` (redacted), ``decision``, ``reason``,
    ``rule_ids``, ``explanation``, ``errors`` (if any), ``cached``, ``latency_us``."""
    return line_of(record(decision, now, redact))


# What the decision log keeps of a decision until it writes the line: the decision's own
# values and the redacted request as JSON, not the decision and its request's dicts (a few
# hundred decisions held for a batch would keep their memory from being reused, at a cost
# to every request). (decision_id, time, outcome, subject, action, resource, request JSON,
# cached, latency_us)
Record = tuple[str, float, Outcome, str, str, str, bytes, bool, int]


def record(decision: Decision, now: float, redact: Redactor) -> Record:
    r = decision.request
    return (decision.decision_id, now, decision.outcome, r.subject, r.action, r.resource,
            redact.dumps(r.input), decision.cached, decision.latency_us)


def line_of(rec: Record) -> bytes:
    decision_id, now, o, subject, action, resource, request, cached, latency_us = rec
    head = orjson.dumps({
        "decision_id": decision_id,
        "time": iso_time(now),
        "revision": o.revision,
        "subject": subject,
        "action": action,
        "resource": resource,
        "request": orjson.Fragment(request),
    })
    return b"".join((
        head[:-1], b",", _outcome_json(o),
        b',"cached":true,"latency_us":' if cached else b',"cached":false,"latency_us":',
        str(latency_us).encode(), b"}\n",
    ))
