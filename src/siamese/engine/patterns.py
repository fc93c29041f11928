"""The patterns of ``regex`` and ``glob``, compiled within bounds and cached within bounds.

The ``regex`` module expands a counted repeat when it compiles a pattern: ``a{1000000}``
takes about 260 MB, ``(?:(?:a{100}){100}){100}`` as much, and ``a{1000000000}`` more than
any server has. So a pattern is measured before it is compiled, by the module's own parser
(the parse tree holds a repeat once, with its counts): its *size* is its items with every
repeat expanded by its larger count, and a pattern longer than :data:`MAX_PATTERN_CHARS`
or larger than :data:`MAX_PATTERN_SIZE` is refused. A compiled pattern of the largest size
takes a few megabytes, and the cache of compiled patterns is bounded by the sum of their
sizes as well as by their number, so it can hold only a few of them. Compiled patterns are
kept out of the ``regex`` module's own cache.

Glob patterns are bounded by their length (their compiled size grows with it) and cached
here too, not in ``fnmatch``'s cache of 32,768 patterns.
"""

from __future__ import annotations

import fnmatch
import re
from collections import OrderedDict
from typing import Any

import regex
from regex import _regex_core as _core_module

from .errors import EvaluationError

__all__ = [
    "MAX_PATTERN_CHARS",
    "MAX_PATTERN_SIZE",
    "check_glob",
    "check_regex",
    "compile_glob",
    "compile_regex",
]

MAX_PATTERN_CHARS = 1000  # longest regex or glob pattern
MAX_PATTERN_SIZE = 10_000  # largest regex: its items, every repeat expanded (a few MB compiled)
CACHE_ENTRIES = 256  # compiled patterns kept (regex and glob together)
CACHE_SIZE = 100_000  # total size of the compiled patterns kept (about ten of the largest)


class _Cache:
    """Least recently used, bounded by entries and by the sum of their sizes. A refusal
    is kept too (with size 1), so asking again for a refused pattern costs a lookup."""

    def __init__(self, entries: int, size: int) -> None:
        self.entries = entries
        self.size = size
        self.total = 0
        self.items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def get(self, key: Any) -> Any:
        hit = self.items.get(key)
        if hit is None:
            return None
        self.items.move_to_end(key)
        return hit[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        self.items[key] = (value, size)
        self.total += size
        while len(self.items) > self.entries or self.total > self.size:
            _, (_, gone) = self.items.popitem(last=False)
            self.total -= gone

    def clear(self) -> None:
        self.items.clear()
        self.total = 0


_cache = _Cache(CACHE_ENTRIES, CACHE_SIZE)

# the regex module's parser: not public API (its stubs leave it out), so its use is kept to
# _parse and _children, and tests/engine/test_patterns.py checks what they rely on
_regex_core: Any = _core_module


def _parse(pattern: str) -> Any:
    """The ``regex`` module's parse tree of a pattern (as ``regex.compile`` parses it; this
    expands nothing). Raises ``regex.error`` for an invalid pattern."""
    flags = 0
    while True:
        source = _regex_core.Source(pattern)
        info = _regex_core.Info(flags, source.char_type, {})
        info.guess_encoding = _regex_core.UNICODE
        source.ignore_space = bool(info.flags & _regex_core.VERBOSE)
        try:
            parsed = _regex_core._parse_pattern(source, info)
        except _regex_core._UnscopedFlagSet:  # a global flag met late: parse again with it
            flags = info.global_flags
            continue
        if not source.at_end():
            raise regex.error("unbalanced parenthesis", pattern, source.pos)
        return parsed


def _children(node: Any) -> list[Any]:
    out = []
    for value in vars(node).values():
        if isinstance(value, _regex_core.RegexBase):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, _regex_core.RegexBase))
    return out


def pattern_size(pattern: str) -> int:
    """The size of a regex pattern: its parse tree's nodes, the subtree of a repeat counted
    once per repetition (by its larger count: ``a{2,5}`` is 5, ``a{3,}`` is 3). Computed
    without recursion, and it stops once past :data:`MAX_PATTERN_SIZE`."""
    root = _parse(pattern)
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        kids = _children(node)
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        size = sum(sizes.get(id(k), 0) for k in kids)
        low = getattr(node, "min_count", None)
        if isinstance(low, int):
            high = getattr(node, "max_count", None)
            size *= max(low, high if isinstance(high, int) else 0, 1)
        sizes[id(node)] = min(1 + size, MAX_PATTERN_SIZE + 1)
    return sizes[id(root)]


def _measure(pattern: str) -> tuple[str | None, int]:
    """Why a regex pattern is refused, or None; and its size."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern longer than {MAX_PATTERN_CHARS} characters", 0
    try:
        size = pattern_size(pattern)
    except regex.error as e:
        return f"invalid pattern {pattern!r}: {e}", 0
    except RecursionError:
        return "pattern nested too deeply", 0
    if size > MAX_PATTERN_SIZE:
        return (
            f"pattern {pattern!r} too large: more than {MAX_PATTERN_SIZE} items with its "
            "repeats expanded"
        ), size
    return None, size


def check_regex(pattern: str) -> str | None:
    """Why a regex pattern is refused (invalid, too long, too large), or None."""
    return _measure(pattern)[0]


def compile_regex(pattern: str) -> Any:
    """The compiled pattern, or EvaluationError naming why it is refused."""
    key = ("regex", pattern)
    hit = _cache.get(key)
    if hit is None:
        why, size = _measure(pattern)
        if why is None:
            try:
                hit = regex.compile(pattern, cache_pattern=False)
            except (regex.error, RecursionError, ValueError, OverflowError) as e:
                why = f"invalid pattern {pattern!r}: {e}"
        if why is not None:
            _cache.put(key, why, 1)
            raise EvaluationError(f"regex: {why}")
        _cache.put(key, hit, size)
    elif type(hit) is str:
        raise EvaluationError(f"regex: {hit}")
    return hit


def check_glob(pattern: str) -> str | None:
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern longer than {MAX_PATTERN_CHARS} characters"
    return None


def compile_glob(pattern: str) -> Any:
    """``fnmatch``'s pattern, compiled (``fnmatch.fnmatchcase`` is its ``match``)."""
    key = ("glob", pattern)
    hit = _cache.get(key)
    if hit is None:
        why = check_glob(pattern)
        if why is not None:
            raise EvaluationError(f"glob: {why}")
        hit = re.compile(fnmatch.translate(pattern))
        _cache.put(key, hit, len(pattern) + 1)
    return hit
