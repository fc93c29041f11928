"""Writing parsed clauses back in the text syntax (``siamese fmt``-style round trips, and
the YAML syntax's clauses shown as text)."""

from __future__ import annotations

from collections.abc import Iterable

from .ast import BodyItem, Clause, Goal, Not, Or
from .lexer import INFIX
from .terms import Struct, Term, format_term

__all__ = ["format_body", "format_clause", "format_goal"]

# --- printing ---------------------------------------------------------------------------

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}
_INFIX_TEXT = {v: k for k, v in INFIX.items()} | {"member": "in", "is": "is"}


def _quote(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def _format_expr(t: Term, min_prec: int = 0, modulo_infix: bool = True) -> str:
    """An arithmetic tree in infix form, with the parentheses its shape needs.

    ``modulo_infix`` is False on the left of an infix goal, where ``%`` would read as a
    comment; there ``%`` is written in call form, ``"%"(a, b)``, which parses to the same term.
    """
    if type(t) is Struct and len(t.args) == 2:
        prec = _PRECEDENCE.get(t.name)
        if prec is not None and (modulo_infix or t.name != "%"):
            left = _format_expr(t.args[0], prec, modulo_infix)
            right = _format_expr(t.args[1], prec + 1, modulo_infix)
            text = f"{left} {t.name} {right}"
            return f"({text})" if prec < min_prec else text
        if prec is not None:
            a = _format_expr(t.args[0], 0, modulo_infix)
            b = _format_expr(t.args[1], 0, modulo_infix)
            return f'"%"({a}, {b})'
    return format_term(t)


def _format_call(s: Struct) -> str:
    if s.args:
        return format_term(s)
    name = format_term(s.name)
    return name if name == s.name else name + "()"


def format_goal(item: BodyItem) -> str:
    """One body item in the text syntax (infix for the comparison built-ins)."""
    if type(item) is Goal:
        term = item.term
        op = _INFIX_TEXT.get(term.name)
        if op is not None and len(term.args) == 2:
            left = _format_expr(term.args[0], modulo_infix=False)
            return f"{left} {op} {_format_expr(term.args[1])}"
        return _format_call(term)
    if type(item) is Not:
        if len(item.body) == 1:  # a lone disjunction prints its own parentheses
            return "not " + format_goal(item.body[0])
        return "not (" + format_body(item.body) + ")"
    if type(item) is Or:
        return "(" + " ; ".join(format_body(b) for b in item.branches) + ")"
    raise TypeError(f"not a body item: {item!r}")


def format_body(items: Iterable[BodyItem]) -> str:
    return ", ".join(format_goal(item) for item in items)


def format_clause(clause: Clause) -> str:
    """A clause in the text syntax, annotations first; parseable back to the same clause."""
    annotations = dict(clause.annotations)
    if clause.description is not None:
        annotations = {"description": clause.description, **annotations}
    if clause.id is not None:
        annotations = {"id": clause.id, **annotations}
    lines = [f"@{name}({_quote(value)})" for name, value in annotations.items()]
    head = _format_call(clause.head)
    if clause.body:
        lines.append(f"{head} :- {format_body(clause.body)}.")
    else:
        lines.append(f"{head}.")
    return "\n".join(lines)
