"""A decision as an audit event: one JSON object, secrets redacted."""

from __future__ import annotations

import re
import time as _time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ..decision.models import Decision

__all__ = ["DEFAULT_REDACT", "Redactor", "decision_event", "event_line", "iso_time"]

REDACTED = "[REDACTED]"
# property and header names whose values are secrets, wherever they appear in a request
DEFAULT_REDACT = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api_key",
    "apikey", "password", "passwd", "secret", "client_secret", "token", "access_token",
    "refresh_token", "id_token", "session",
})
_JSON_KEY = re.compile(rb'"([^"\\]*)":')  # the keys of compact JSON (orjson's output)
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class Redactor:
    """Replaces the values of secret-named keys (case-insensitive), and any string that is
    a JWT, by ``[REDACTED]``."""

    def __init__(self, names: Iterable[str] = DEFAULT_REDACT) -> None:
        self.names = frozenset(n.lower() for n in names)
        self._names_b = frozenset(n.encode() for n in self.names)

    def dumps(self, value: Any) -> bytes:
        """``value`` redacted, as JSON. Most requests hold no secret: one scan of their JSON
        says so, and only the others are walked."""
        raw = orjson.dumps(value)
        low = raw.lower()
        if b"eyj" in low or not self._names_b.isdisjoint(_JSON_KEY.findall(low)):
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
    """``2026-11-26T10:00:00.123Z``: the date part is formatted once per second."""
    whole = int(t // 1)
    ms = min(int((t - whole) * 1000), 999)
    return f"{_second(whole)}.{ms:03d}Z"


def decision_event(decision: Decision, *, now: float | None = None,
                   redact: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    o = decision.outcome
    r = decision.request
    event: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "time": iso_time(_time.time() if now is None else now),
        "revision": o.revision,
        "subject": r.subject,
        "action": r.action,
        "resource": r.resource,
        "request": (redact or Redactor())(r.input),
        "decision": o.allowed,
        "reason": o.reason,
        "rule_ids": list(o.rule_ids),
        "explanation": o.explanation,
        "cached": decision.cached,
        "latency_us": decision.latency_us,
    }
    if o.errors:
        event["errors"] = list(o.errors)
    return event


def _KEEP(value: Any) -> Any:
    return value


def event_line(decision: Decision, *, now: float, redact: Redactor) -> bytes:
    """The event as one JSON line. The explanation is serialised once per outcome: the
    cache answers many decisions with one outcome, and its explanation is the bulk."""
    event = decision_event(decision, now=now, redact=_KEEP)
    event["request"] = orjson.Fragment(redact.dumps(decision.request.input))
    cache = decision.outcome.explanation_json
    if not cache:
        cache.append(orjson.dumps(decision.outcome.explanation))
    event["explanation"] = orjson.Fragment(cache[0])
    return orjson.dumps(event) + b"\n"
