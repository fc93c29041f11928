"""Explanations as readable trees (the CLI, test failures and the audit log use this)."""

from __future__ import annotations

from typing import Any

__all__ = ["Style", "format_explanation"]


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


def _proof_lines(node: dict[str, Any], indent: str, style: Style) -> list[str]:
    kind = node.get("kind")
    if kind == "rule":
        where = node.get("location", "")
        rule = node.get("rule", "")
        tag = f"rule {rule}" + (f" @ {where}" if where and where != rule else "")
    elif kind == "fact":
        tag = f"fact @ {node.get('location', '?')}"
    elif kind == "not":
        tag = "no proof of it"
    elif kind == "builtin":
        tag = "built-in"
    else:
        tag = str(kind)
    out = [f"{indent}{style.bold(node['goal'])}  {style.dim('[' + tag + ']')}"]
    if node.get("description"):
        out.append(f"{indent}  {style.dim('# ' + node['description'])}")
    for child in node.get("children", []):
        out.extend(_proof_lines(child, indent + "  ", style))
    return out


def _why_lines(w: dict[str, Any], indent: str, style: Style) -> list[str]:
    b = ", ".join(f"{k}={v}" for k, v in w.get("bindings", {}).items())
    out = [
        f"{indent}rule {style.bold(w['rule'])} {style.dim('@ ' + w['location'])} "
        f"matched {w['goal']}",
        f"{indent}  but {style.bad(w['failed_goal'])} has no proof "
        f"{style.dim('@ ' + w['failed_location'])}" + (f"\n{indent}  with {b}" if b else ""),
    ]
    for n in w.get("because", []):
        out.extend(_why_lines(n, indent + "    ", style))
    return out


def format_explanation(explanation: dict[str, Any], style: Style | None = None) -> list[str]:
    style = style or Style()
    kind = explanation.get("kind")
    if kind in ("allow", "deny"):
        out: list[str] = []
        for node in explanation.get("proof", []):
            out.extend(_proof_lines(node, "  ", style))
        return out
    if kind == "default-deny":
        why = explanation.get("why_not", [])
        if not why:
            return ["  no allow rule matches this request"]
        out = []
        for w in why:
            out.extend(_why_lines(w, "  ", style))
        return out
    if kind == "error":
        return [f"  {style.bad(str(explanation.get('error')))}"]
    return [f"  {explanation}"]
