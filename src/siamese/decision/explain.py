"""A decision's explanation as a readable tree (the CLI, test failures and the audit log use
this); the proofs and "why not"s in it are printed by the engine's renderer."""

from __future__ import annotations

from typing import Any

from ..engine import Style, proof_lines, why_not_lines

__all__ = ["format_explanation"]


def format_explanation(explanation: dict[str, Any], style: Style | None = None) -> list[str]:
    """The lines of an ``allow``/``deny`` proof, a ``default-deny`` why-not or an ``error``,
    indented by two spaces."""
    style = style or Style()
    kind = explanation.get("kind")
    if kind in ("allow", "deny"):
        return [line for node in explanation.get("proof", [])
                for line in proof_lines(node, style, "  ")]
    if kind == "default-deny":
        why = explanation.get("why_not", [])
        if not why:
            return ["  no allow rule matches this request"]
        return [line for w in why for line in why_not_lines(w, style, "  ")]
    if kind == "error":
        return [f"  {style.bad(str(explanation.get('error')))}"]
    return [f"  {explanation}"]
