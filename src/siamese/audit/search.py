"""Reading the decision log back: every file of it (rotated ones too), filtered; oldest
first (``siamese audit``) or newest first, a page at a time (the console)."""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "Filter",
    "SearchPage",
    "find_event",
    "kind_of",
    "log_files",
    "parse_time",
    "printable",
    "read_events",
    "read_events_newest_first",
    "search_page",
]

# A line longer than this is no event the server writes (an event holds about 64 KiB at
# most): reading backwards, it is skipped rather than gathered in memory.
MAX_LINE_BYTES = 1 << 20
_BLOCK = 1 << 16

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


def _event(line: bytes) -> dict[str, Any] | None:
    """The event of one line, or None for a blank, torn or malformed one."""
    line = line.strip()
    if not line:
        return None
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every well-formed event of the log, oldest first (a torn last line is skipped)."""
    for f in log_files(path):
        with open(f, "rb") as fh:
            for line in fh:
                event = _event(line)
                if event is not None:
                    yield event


def _lines_backwards(fh: Any) -> Iterator[bytes]:
    """The lines of an open binary file, last first, read in blocks from its end as it is
    now (a line appended meanwhile is not read). A line over MAX_LINE_BYTES is skipped."""
    pos = fh.seek(0, os.SEEK_END)
    rest = b""  # the end of a line whose start is in a block not read yet
    skipping = False  # in a line too long to keep
    while pos > 0:
        n = min(_BLOCK, pos)
        pos -= n
        fh.seek(pos)
        block = fh.read(n)
        cut = block.find(b"\n")
        if cut < 0:  # the whole block is inside one line
            if not skipping:
                rest = block + rest
                if len(rest) > MAX_LINE_BYTES:
                    rest, skipping = b"", True
            continue
        tail = block[cut + 1:] + rest
        lines = tail.split(b"\n")
        if skipping:
            lines.pop()  # the end of the line too long to keep
            skipping = False
        yield from reversed(lines)
        rest = block[:cut]
    if not skipping:
        yield rest


def read_events_newest_first(path: str | Path) -> Generator[dict[str, Any], None, None]:
    """Every well-formed event of the log, newest first: the live file, then the rotated
    ones, each read backwards. Reading stops where the caller stops, and holds no more than a
    block and the current line."""
    for f in reversed(log_files(path)):
        try:
            with open(f, "rb") as fh:
                for line in _lines_backwards(fh):
                    event = _event(line)
                    if event is not None:
                        yield event
        except FileNotFoundError:  # rotated away (the oldest backup deleted) since listed
            continue


def find_event(path: str | Path, decision_id: str) -> dict[str, Any] | None:
    """The event of one decision, looked for newest first (a recent decision is found
    after reading little of a large log), or None."""
    events = read_events_newest_first(path)
    try:
        for e in events:
            if e.get("decision_id") == decision_id:
                return e
        return None
    finally:
        events.close()


@dataclass
class SearchPage:
    """One page of a search, newest first: its events, whether matching events newer and
    older than it exist, and whether the decision the page was asked relative to is still
    in the log (``found``: when it was rotated away, the page is empty)."""

    events: list[dict[str, Any]]
    newer: bool
    older: bool
    found: bool = True


def search_page(
    path: str | Path,
    match: Callable[[dict[str, Any]], bool],
    size: int,
    *,
    before: str | None = None,
    after: str | None = None,
) -> SearchPage:
    """A page of at most ``size`` matching events, newest first: the newest ones, or those
    just older than the decision ``before``, or just newer than the decision ``after`` (a
    decision id is a cursor that stays put as the log grows and rotates, where a page
    number would shift). The log is read once, newest first, no further than the page
    needs; at most ``size + 1`` events are held."""
    events = read_events_newest_first(path)
    try:
        if after is not None:
            window: deque[dict[str, Any]] = deque(maxlen=size)
            newer = 0
            for e in events:
                if e.get("decision_id") == after:
                    return SearchPage(list(window), newer > size, True)
                if match(e):
                    window.append(e)
                    newer += 1
            return SearchPage([], False, False, found=False)
        has_newer = False
        if before is not None:
            for e in events:
                if e.get("decision_id") == before:
                    break
                has_newer = has_newer or match(e)
            else:
                return SearchPage([], False, False, found=False)
        out: list[dict[str, Any]] = []
        for e in events:
            if match(e):
                if len(out) == size:
                    return SearchPage(out, has_newer, True)
                out.append(e)
        return SearchPage(out, has_newer, False)
    finally:
        events.close()


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


def kind_of(event: dict[str, Any]) -> str:
    """``"decision"``, or the kind an event of another kind names (``"plan"``)."""
    kind = event.get("kind", "decision")
    return kind if isinstance(kind, str) else "decision"


@dataclass
class Filter:
    """Which events a search keeps. ``kind``: decisions by default (what every reader of
    the log but ``siamese audit --kind`` wants); None, every kind."""

    subject: str | None = None
    action: str | None = None
    resource: str | None = None
    decision: bool | None = None
    rule: str | None = None
    revision: str | None = None
    since: float | None = None
    until: float | None = None
    kind: str | None = "decision"

    def __call__(self, e: dict[str, Any]) -> bool:
        if self.kind is not None and kind_of(e) != self.kind:
            return False
        if self.subject is not None and e.get("subject") != self.subject:
            return False
        if self.action is not None and e.get("action") != self.action:
            return False
        if self.resource is not None and e.get("resource") != self.resource:
            return False
        if self.decision is not None and e.get("decision") is not self.decision:
            return False
        if self.rule is not None and self.rule not in _rules(e) and \
                self.rule not in _why_rules(e) and self.rule not in _plan_rules(e):
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


# A line of the log that is JSON but not the shape the server writes (edited by hand, or
# by another program) matches no rule rather than failing the search.


def _rules(e: dict[str, Any]) -> list[Any]:
    rules = e.get("rule_ids")
    return rules if isinstance(rules, list) else []


def _plan_rules(e: dict[str, Any]) -> list[Any]:
    """The rules behind a plan's branches (a plan's explanation is a list)."""
    expl = e.get("explanation")
    return [x.get("rule", "") for x in expl if isinstance(x, dict)] if isinstance(expl, list) \
        else []


def _why_rules(e: dict[str, Any]) -> list[Any]:
    expl = e.get("explanation")
    why = expl.get("why_not") if isinstance(expl, dict) else None
    return [w.get("rule", "") for w in why if isinstance(w, dict)] if isinstance(why, list) \
        else []
