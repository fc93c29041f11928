"""HTML for the console: the Jinja environment (every value escaped), and explanations as
flat rows so that a proof of any depth renders without recursion."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import jinja2
import orjson

__all__ = ["SECURITY_HEADERS", "environment", "explanation_rows", "source_link"]

# Nothing but this console's own files may load or run: no inline script, no other origin,
# no framing (clickjacking), no referrer leaving with a URL for another site. (Not
# "no-referrer": under it a browser sends "Origin: null" with the console's own form posts,
# and access.py refuses those as cross-site.)
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

_LOCATION = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::\d+)?$")


def source_link(location: Any) -> str | None:
    """The policy browser's address of a ``file:line[:col]`` location, or None."""
    if not isinstance(location, str):
        return None
    m = _LOCATION.match(location)
    if m is None:
        return None
    return "/console/policies/file?" + urlencode({"path": m["path"]}) + f"#L{m['line']}"


def when(t: Any) -> str:
    """Epoch seconds as an ISO 8601 UTC time (what the decision log writes)."""
    if not isinstance(t, int | float):
        return "" if t is None else str(t)
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_json(value: Any) -> str:
    """A value as indented JSON text (escaped by the template like any text)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def _rows(nodes: list[Any], below: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """A tree's nodes in document order as ``open``/``leaf``/``close`` rows, walked with a
    stack of its own; ``below`` names the key of a node's children."""
    stack: list[tuple[bool, Any]] = [(False, n) for n in reversed(nodes)]
    while stack:
        closing, node = stack.pop()
        if closing:
            yield "close", {}
            continue
        if not isinstance(node, dict):
            continue
        children = node.get(below) or []
        if isinstance(children, list) and children:
            yield "open", node
            stack.append((True, None))
            stack.extend((False, c) for c in reversed(children))
        else:
            yield "leaf", node


def explanation_rows(explanation: Any) -> tuple[str, list[tuple[str, Mapping[str, Any]]]]:
    """(kind, rows): the explanation's kind (``allow``, ``deny``, ``default-deny``,
    ``error``) and its tree as ``open``/``leaf``/``close`` rows, in document order."""
    if not isinstance(explanation, dict):
        return "none", []
    kind = str(explanation.get("kind", "none"))
    if kind in ("allow", "deny"):
        proof = explanation.get("proof") or []
        return kind, list(_rows(proof if isinstance(proof, list) else [], "children"))
    if kind == "default-deny":
        why = explanation.get("why_not") or []
        return kind, list(_rows(why if isinstance(why, list) else [], "because"))
    return kind, []


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("siamese.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["as_json"] = as_json
    env.filters["source_link"] = source_link
    env.globals["explanation_rows"] = explanation_rows
    return env
