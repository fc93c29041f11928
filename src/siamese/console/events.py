"""Logged decisions as the console shows them: every value made printable (the log is
written from requests, so a subject may hold a newline or a bidi control that reorders the
text around it), the address of a decision's page, and the time range fields that the
decision log browser and the impact view read.

Escaping for HTML is the templates' (autoescape); this only makes the characters that HTML
would pass through invisibly (controls, bidi overrides) visible, as ``siamese audit`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from ..audit.search import parse_time, printable
from ..server.responses import ApiError
from .render import as_json

__all__ = ["MAX_FIELD", "MAX_ID", "Row", "decision_href", "json_text", "row", "time_range"]

MAX_FIELD = 4096  # characters of one filter or time field (an id holds at most 1024)
MAX_ID = 200  # characters of a decision id named in a link or a cursor
_PATH_SAFE_ID = re.compile(r"^[A-Za-z0-9._~-]+$")


def decision_href(decision_id: Any) -> str:
    """The page of one logged decision: ``/console/decisions/<id>``, or ``?id=`` for an id
    that a path could not carry as it is (a ``/``, odd characters)."""
    ident = str(decision_id)
    if _PATH_SAFE_ID.match(ident) and len(ident) <= MAX_ID:
        return "/console/decisions/" + quote(ident, safe="")
    return "/console/decisions?" + urlencode({"id": ident})


@dataclass
class Row:
    """One logged decision as a line of a table; every text printable."""

    id: str
    href: str
    time: str
    allowed: bool
    subject: str
    action: str
    resource: str
    rule_ids: list[str]
    revision: str


def _text(value: Any) -> str:
    return str(printable(value if isinstance(value, str) else "" if value is None else
                         str(value)))


def row(event: dict[str, Any]) -> Row:
    rules = event.get("rule_ids")
    return Row(
        id=_text(event.get("decision_id")),
        href=decision_href(event.get("decision_id", "")),
        time=_text(event.get("time")),
        allowed=event.get("decision") is True,
        subject=_text(event.get("subject")),
        action=_text(event.get("action")),
        resource=_text(event.get("resource")),
        rule_ids=[_text(r) for r in rules] if isinstance(rules, list) else [],
        revision=_text(event.get("revision")),
    )


def json_text(value: Any) -> str:
    """A logged value as indented JSON, every control and bidi character in it visible (the
    JSON escapes what it must; the line and bidi controls it leaves are shown too)."""
    return "\n".join(printable(line) for line in as_json(value).splitlines())


def time_range(since: str, until: str, default_since: str | None = None,
               now: float | None = None) -> tuple[float | None, float | None]:
    """(since, until) as epoch seconds from two fields (ISO 8601 or an age such as 2h, as
    ``siamese audit`` reads them); a blank ``since`` is ``default_since``. 400 naming the
    field that is not a time, or when the range ends before it starts."""
    bounds: list[float | None] = []
    for name, text in (("since", since.strip() or (default_since or "")), ("until", until)):
        if len(text) > MAX_FIELD:
            raise ApiError(400, f"{name}: longer than {MAX_FIELD} characters")
        if not text.strip():
            bounds.append(None)
            continue
        try:
            bounds.append(parse_time(text, now))
        except (ValueError, OverflowError, OSError) as e:
            raise ApiError(400, f"{name}: {printable(str(e))}") from None
    start, end = bounds
    if start is not None and end is not None and end <= start:
        raise ApiError(400, "until: the range ends before it starts (until is not after since)")
    return start, end
