"""Findings on policy text edited in the console: what ``siamese check`` reports (every
warning and error, syntax errors included), and the errors that stop a build, each at its
``path:line:col`` with the offending line of the text as it was posted."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..engine import Builtin, EngineError, PolicyErrors, PolicySyntaxError
from ..policy.lint import Finding, lint
from ..policy.loader import PolicyFile, build_program

__all__ = ["MAX_SHOWN", "Located", "check", "finding_of", "from_build_errors", "located"]

MAX_SHOWN = 500  # findings listed on one page (a large text can have thousands of warnings)

# "path:line:col: message" (the first line of a build error; the excerpt follows it)
_AT = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")
_WHERE = re.compile(r"^(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")


@dataclass(frozen=True)
class Located:
    """A finding and the line it points at in the edited text (None when it points at no
    line of a posted file)."""

    finding: Finding
    source_line: str | None

    @property
    def where(self) -> str:
        f = self.finding
        return f"{f.path}:{f.line}:{f.col}" if f.line else f.path


def finding_of(error: Exception, paths: frozenset[str] = frozenset()) -> Finding:
    """A build error as an error finding: a syntax error at its place; another error at the
    ``path:line:col`` its text begins with (a path of ``paths`` first, as a path may hold a
    colon), else at no line."""
    if isinstance(error, PolicySyntaxError):
        return Finding(error.source, error.line, error.col, "error", "syntax", error.message)
    text = str(error)
    return _parsed(text.splitlines()[0] if text else repr(error), paths)


def _parsed(first: str, paths: frozenset[str]) -> Finding:
    for path in paths:
        if first.startswith(path + ":"):
            m = _WHERE.match(first[len(path) + 1:])
            if m is not None:
                return Finding(path, int(m["line"]), int(m["col"]), "error", "syntax",
                               m["message"])
    m = _AT.match(first)
    if m is not None:
        return Finding(m["path"], int(m["line"]), int(m["col"]), "error", "syntax",
                       m["message"])
    return Finding("<playground>", 0, 0, "error", "load", first)


def from_build_errors(errors: list[str], paths: frozenset[str]) -> list[Finding]:
    """The errors of a build (``sources.Built.errors``: ``path:line:col: message`` and the
    excerpt under it) as findings, in order."""
    return [_parsed(e.splitlines()[0] if e else "", paths) for e in errors]


def _check(files: list[PolicyFile], builtins: dict[str, Builtin] | None) -> list[Finding]:
    paths = frozenset(f.path for f in files)
    try:
        program = build_program(files, builtins, lint_errors=False)
    except PolicyErrors as e:
        return sorted(finding_of(x, paths) for x in e.errors)
    except EngineError as e:
        return [finding_of(e, paths)]
    except RecursionError:
        return [Finding("<playground>", 0, 0, "error", "syntax",
                        "the text is nested too deeply")]
    return lint(program)


async def check(
    files: list[PolicyFile], builtins: dict[str, Builtin] | None, lock: asyncio.Semaphore
) -> list[Finding]:
    """``siamese check`` of the files: built without stopping at lint errors, so that every
    error and warning is listed (syntax errors, which stop the build, as findings). The work
    runs in a worker thread, one build at a time through ``lock``."""
    async with lock:
        return await asyncio.to_thread(_check, files, builtins)


def located(findings: list[Finding], texts: Mapping[str, str]) -> list[Located]:
    """The findings with the line each points at, from ``texts`` (path -> posted text)."""
    lines = {path: text.split("\n") for path, text in texts.items()}
    out = []
    for f in findings:
        file_lines = lines.get(f.path)
        line = None
        if file_lines is not None and 1 <= f.line <= len(file_lines):
            line = file_lines[f.line - 1]
        out.append(Located(f, line))
    return out
