"""Proofs and "why not"s as readable text, from their JSON form (``ProofNode.to_dict()``,
``WhyNot.to_dict()``): ``siamese query --explain``, decisions, policy test failures and
the audit log all print them with this, so they read the same everywhere."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Style", "proof_lines", "why_not_lines"]


class Style:
    """ANSI colours when ``color`` is on (a terminal), plain text otherwise."""

    def __init__(self, color: bool = False) -> None:
        self.color = color

    def _c(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def good(self, text: str) -> str:
        return self._c("32;1", text)

    def bad(self, text: str) -> str:
        return self._c("31;1", text)

    def dim(self, text: str) -> str:
        return self._c("2", text)

    def bold(self, text: str) -> str:
        return self._c("1", text)


_PLAIN = Style()


def _tag(node: dict[str, Any]) -> str:
    kind = node.get("kind")
    if kind == "rule":
        where, rule = node.get("location", ""), node.get("rule", "")
        return f"rule {rule}" + (f" @ {where}" if where and where != rule else "")
    if kind == "fact":
        return f"fact @ {node.get('location', '?')}"
    if kind == "not":
        return "no proof of it"
    if kind == "builtin":
        return "built-in"
    return str(kind)


# Both walks keep their own stack: an explanation read back from an audit log may nest
# deeper than Python's recursion allows.


def proof_lines(node: dict[str, Any], style: Style | None = None, indent: str = "") -> list[str]:
    """A proof, one goal a line with how it was proved; a rule's body goals are indented
    under it, and a node cut off at the proof depth limit says so."""
    style = style or _PLAIN
    out: list[str] = []
    stack = [(node, indent)]
    while stack:
        n, at = stack.pop()
        out.append(f"{at}{style.bold(n['goal'])}  {style.dim('[' + _tag(n) + ']')}")
        if n.get("description"):
            out.append(f"{at}  {style.dim('# ' + n['description'])}")
        if n.get("truncated"):
            out.append(f"{at}  {style.dim('[deeper proofs left out]')}")
        stack.extend((c, at + "  ") for c in reversed(n.get("children", [])))
    return out


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def why_not_lines(why: dict[str, Any], style: Style | None = None,
                  indent: str = "") -> list[str]:
    """Why a rule did not prove a goal: its head matched, this body goal had no proof,
    with these bindings; a failing goal that is itself a rule nests its own reasons."""
    style = style or _PLAIN
    out: list[str] = []
    stack = [(why, indent)]
    while stack:
        w, at = stack.pop()
        out.append(f"{at}rule {style.bold(w['rule'])} {style.dim('@ ' + w['location'])} "
                   f"matched {w['goal']}")
        out.append(f"{at}  but {style.bad(w['failed_goal'])} has no proof "
                   f"{style.dim('@ ' + w['failed_location'])}")
        if w.get("bindings"):
            out.append(f"{at}  with " + ", ".join(f"{k}={_value(v)}"
                                                  for k, v in w["bindings"].items()))
        stack.extend((n, at + "    ") for n in reversed(w.get("because", [])))
    return out
