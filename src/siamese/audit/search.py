"""Reading the decision log back: every file of it (rotated ones too), filtered."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Filter", "log_files", "parse_time", "printable", "read_events"]

# what a terminal acts on rather than shows: C0 and C1 controls (newlines, ESC starting an
# ANSI sequence), DEL, line and paragraph separators, and the bidi controls that reorder text
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e"
                          "\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(value: Any) -> Any:
    """``value`` (an event, or any part of one) with every control character in its strings
    and keys shown as an escape (``\\x1b``, ``\\x0a``), so that a logged value cannot forge
    lines or drive the terminal when ``siamese audit`` prints it."""
    if isinstance(value, str):
        return _UNPRINTABLE.sub(_escape, value)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def log_files(path: str | Path) -> list[Path]:
    """The log and its rotated files, oldest first (``decisions.jsonl.5`` ... ``.1``, then the
    live file)."""
    p = Path(path)
    rotated = []
    for q in p.parent.glob(p.name + ".*"):
        suffix = q.name[len(p.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), q))
    out = [q for _, q in sorted(rotated, reverse=True)]
    if p.exists():
        out.append(p)
    return out


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every well-formed event of the log, oldest first (a torn last line is skipped)."""
    for f in log_files(path):
        with open(f, "rb") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(event, dict):
                    yield event


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float | None = None) -> float:
    """An ISO 8601 time (``2026-11-26T10:00:00Z``, a date alone is midnight UTC) or an age
    such as ``15m``, ``2h``, ``7d``, as epoch seconds."""
    m = _RELATIVE.match(text.strip())
    if m:
        return (time.time() if now is None else now) - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 or an age like 2h)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _event_time(event: dict[str, Any]) -> float:
    try:
        return parse_time(str(event.get("time", "")))
    except ValueError:
        return 0.0


@dataclass
class Filter:
    subject: str | None = None
    action: str | None = None
    resource: str | None = None
    decision: bool | None = None
    rule: str | None = None
    revision: str | None = None
    since: float | None = None
    until: float | None = None

    def __call__(self, e: dict[str, Any]) -> bool:
        if self.subject is not None and e.get("subject") != self.subject:
            return False
        if self.action is not None and e.get("action") != self.action:
            return False
        if self.resource is not None and e.get("resource") != self.resource:
            return False
        if self.decision is not None and e.get("decision") is not self.decision:
            return False
        if self.rule is not None and self.rule not in (e.get("rule_ids") or []) and \
                self.rule not in _why_rules(e):
            return False
        if self.revision is not None and not str(e.get("revision", "")).startswith(self.revision):
            return False
        if self.since is not None or self.until is not None:
            t = _event_time(e)
            if self.since is not None and t < self.since:
                return False
            if self.until is not None and t >= self.until:
                return False
        return True


def _why_rules(e: dict[str, Any]) -> list[str]:
    expl = e.get("explanation") or {}
    return [w.get("rule", "") for w in expl.get("why_not", []) if isinstance(w, dict)]
