"""JSON values the serialiser (orjson) can write, and what to do with those it cannot.

A decision carries values from outside: a request body (parsed by orjson, which refuses lone
surrogates and reads integers beyond 64 bits as floats), the claims of a bearer token
(parsed by PyJWT with the standard library, which accepts ``"\\ud800"``, ``NaN`` and
integers of any size), and what the policy computes from them. Every such value must be
written to the decision log and into the answer: :func:`json_problem` finds the ones that
cannot be, to refuse them at the door; :func:`jsonable` converts them where refusing is no
longer possible (a log line, an answer already decided).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_DEPTH", "json_problem", "jsonable"]

# orjson writes integers from -2**63 to 2**64 - 1, and nests at most 254 levels
_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1
MAX_DEPTH = 64  # deeper is absurd for a token's claims
_NESTING = 250  # orjson stops at 254 levels


def _bad_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes ``value`` (parsed JSON) unfit for a decision, or None: an integer beyond
    64 bits, a string or key with a lone surrogate, a NaN or infinite number, a non-string
    key, nesting deeper than ``max_depth``, a value that is not JSON."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        t = type(v)
        if t is str:
            if not v.isascii() and _bad_text(v):
                return "a string holds a lone surrogate"
        elif t is int:
            if not _MIN_INT <= v <= _MAX_INT:
                return "an integer exceeds 64 bits"
        elif t is float:
            if not math.isfinite(v):
                return "a number is NaN or infinite"
        elif t is dict or t is list:
            if depth >= max_depth:
                return f"nesting deeper than {max_depth} levels"
            if t is dict:
                for k in v:
                    if type(k) is not str:
                        return "an object key is not a string"
                    if not k.isascii() and _bad_text(k):
                        return "an object key holds a lone surrogate"
                stack.extend((x, depth + 1) for x in v.values())
            else:
                stack.extend((x, depth + 1) for x in v)
        elif v is not None and t is not bool:
            return f"a {t.__name__} is not a JSON value"
    return None


def _text(s: str) -> str:
    if s.isascii() or not _bad_text(s):
        return s
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` with what orjson cannot write converted: integers beyond 64 bits become
    their decimal text, lone surrogates their ``\\udXXX`` escape, keys strings, tuples
    lists, NaN and infinities null, anything else its ``repr``; nesting is cut at 250
    levels, where orjson stops (the rest becomes its ``repr``, cut at 1000 characters)."""
    t = type(value)
    if t is str:
        return _text(value)
    if t is int:
        return value if _MIN_INT <= value <= _MAX_INT else str(value)
    if t is float:
        return value if math.isfinite(value) else None
    if value is None or t is bool:
        return value
    if depth >= _NESTING:
        return _text(repr(value)[:1000])
    if isinstance(value, dict):
        return {_text(k) if isinstance(k, str) else str(k): jsonable(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, int):  # bool subclasses and the like
        return jsonable(int(value), depth)
    return _text(repr(value)[:1000])
