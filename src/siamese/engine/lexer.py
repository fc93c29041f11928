"""The text syntax's tokens, and its operators (the parser reads them, the printer
writes them back)."""

from __future__ import annotations

import re
import sys
from typing import Any

__all__ = [
    "ADD_OPS", "INFIX", "MUL_OPS", "WORD_INFIX", "Token", "eof_token", "tokenize", "tokenize_line",
]

_intern = sys.intern

# --- tokens -------------------------------------------------------------------------
#
# A token is a tuple (kind, value, line, col, text). ``kind`` is one of "name", "var",
# "num", "str", "err" (a lexical error; value is the message), "eof", or the punctuation
# itself ("(", ":-", "==", ...). ``text`` is the source text, used in messages.

Token = tuple[str, Any, int, int, str]

_TOKEN_RE = re.compile(
    r"""
      (?P<ws>[ \t\r\f\v]+)
    | (?P<var>\?[A-Za-z0-9_]+)
    | (?P<num>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<dq>"(?:[^"\\\n]|\\.)*")
    | (?P<sq>'(?:[^'\\\n]|\\.)*')
    | (?P<punct>:-|==|!=|<=|>=|//|[()\[\],.;@<>+\-*/])
    | (?P<comment>\#)
    | (?P<pct>%)
    """,
    re.VERBOSE,
)

_ESCAPE_RE = re.compile(r"\\(.)")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "0": "\0", "/": "/"}

_OPERAND_END = frozenset({"num", "var", "name", "str", ")", "]"})
_OPERAND_START_RE = re.compile(r"[ \t]*[-?(\[\w\"']")
# A comparison later on the line: "?n % 2 == 0" (stops at a goal separator or a comment).
_COMPARISON_AHEAD_RE = re.compile(r"[^,;#\n]*?(?:==|!=|<=|>=|<|>)")
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_CHAR_HINTS = {
    ":": "unexpected character ':' (did you mean ':-'?)",
    "=": "unexpected character '=' (use '==' to compare, 'is' to compute)",
    "?": "expected a variable name after '?'",
}


def _decode_string(body: str) -> str | int:
    """The value of a quoted string's body, or the offset of its first unknown escape."""
    if "\\" not in body:
        return _intern(body)
    parts = []
    last = 0
    for m in _ESCAPE_RE.finditer(body):
        ch = _ESCAPES.get(m.group(1))
        if ch is None:
            return m.start()
        parts.append(body[last : m.start()])
        parts.append(ch)
        last = m.end()
    parts.append(body[last:])
    return _intern("".join(parts))


def tokenize_line(line: str, lineno: int, out: list[Token]) -> None:
    """Append the tokens of one source line to ``out`` (no token spans two lines)."""
    first = len(out)
    pos = 0
    end = len(line)
    match = _TOKEN_RE.match
    while pos < end:
        m = match(line, pos)
        col = pos + 1
        if m is None:
            ch = line[pos]
            if ch in "\"'":
                out.append(("err", "unterminated string", lineno, col, line[pos:]))
                return
            message = _CHAR_HINTS.get(ch) or f"unexpected character {ch!r}"
            out.append(("err", message, lineno, col, ch))
            pos += 1
            continue
        kind = m.lastgroup
        text = m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "name":
            out.append(("name", _intern(text), lineno, col, text))
        elif kind == "var":
            out.append(("var", text, lineno, col, text))
        elif kind == "num":
            number = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
            out.append(("num", number, lineno, col, text))
        elif kind == "punct":
            out.append((text, text, lineno, col, text))
        elif kind == "dq" or kind == "sq":
            value = _decode_string(text[1:-1])
            if type(value) is int:
                bad = text[value + 1 : value + 3]
                out.append(
                    ("err", f"unknown escape '{bad}' in string", lineno, col + value + 1, bad)
                )
            else:
                out.append(("str", value, lineno, col, text))
        elif kind == "pct" and _percent_is_operator(out, first, line, pos):
            out.append(("%", "%", lineno, col, "%"))
        else:  # a comment runs to the end of the line
            return


def _percent_is_operator(tokens: list[Token], first: int, line: str, after: int) -> bool:
    """Whether the ``%`` just read is the modulo operator rather than a comment.

    It must sit between two operands, and be inside an arithmetic context: one opened on
    this line by ``is``, ``in`` or a comparison at the same goal level, or a comparison that
    follows on the same line. Goal levels are tracked with a stack of brackets, because a
    ``,`` separates goals only outside argument lists.
    """
    if len(tokens) <= first:
        return False
    prev = tokens[-1]
    if prev[0] not in _OPERAND_END or (prev[0] == "name" and prev[1] in ("is", "in", "not")):
        return False
    if not _OPERAND_START_RE.match(line, after):
        return False
    # each frame: [arithmetic context active, is a goal level]
    stack = [[False, True]]
    last_kind = ""
    for tok in tokens[first:]:
        kind = tok[0]
        frame = stack[-1]
        if kind == "(":
            is_call = last_kind in ("name", "str")
            is_group = not is_call and not frame[0]
            stack.append([frame[0], is_group])
        elif kind == "[":
            stack.append([frame[0], False])
        elif kind in (")", "]"):
            if len(stack) > 1:
                stack.pop()
        elif kind in (",", ";"):
            if frame[1]:
                frame[0] = False
        elif kind in (":-", "."):
            stack = [[False, True]]
        elif kind in _COMPARISONS or (kind == "name" and tok[1] in ("is", "in")):
            frame[0] = True
        last_kind = kind
    return stack[-1][0] or _COMPARISON_AHEAD_RE.match(line, after) is not None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        tokenize_line(line, lineno, tokens)
    tokens.append(eof_token(tokens, lines[-1], len(lines)))
    return tokens


def eof_token(tokens: list[Token], last_line: str, last_lineno: int) -> Token:
    """The end of input, placed right after the last token (or at the end of the text)."""
    if tokens:
        last = tokens[-1]
        return ("eof", None, last[2], last[3] + len(last[4]), "")
    return ("eof", None, max(last_lineno, 1), len(last_line.rstrip("\r")) + 1, "")



# --- operators -----------------------------------------------------------------------------

INFIX = {
    "==": "eq",
    "!=": "neq",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
}
WORD_INFIX = {"in": "member", "is": "is"}
ADD_OPS = frozenset({"+", "-"})
MUL_OPS = frozenset({"*", "/", "//", "%"})
