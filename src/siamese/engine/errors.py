"""Errors raised by the engine. Messages are short, lowercase, and carry locations."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises."""


class PolicySyntaxError(EngineError):
    """A policy text that cannot be parsed: ``path:line:col: message`` plus the offending line."""

    def __init__(self, source: str, line: int, col: int, message: str, line_text: str = "") -> None:
        self.source = source
        self.line = line
        self.col = col
        self.message = message
        self.line_text = line_text
        super().__init__(self.__str__())

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}:{self.col}"

    def __str__(self) -> str:
        head = f"{self.source}:{self.line}:{self.col}: {self.message}"
        if self.line_text:
            caret = " " * (max(self.col, 1) - 1) + "^"
            return f"{head}\n    {self.line_text}\n    {caret}"
        return head


class PolicyErrors(EngineError):
    """Several problems found at once (e.g. every syntax error of a directory)."""

    def __init__(self, errors: list[EngineError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class LimitExceeded(EngineError):
    """A query hit one of its limits: ``max_depth``, ``max_solutions``, ``max_steps``,
    ``timeout``."""

    def __init__(self, limit: str, value: object, detail: str = "") -> None:
        self.limit = limit
        self.value = value
        msg = f"limit exceeded: {limit} ({value})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class EvaluationError(EngineError):
    """A goal could not be evaluated (a type error in a built-in, an unknown predicate, ...)."""
