"""What a built-in sees of the query it runs in: :class:`BuiltinContext`.

Built-ins get this context, never the machine (as OPA hands each built-in a
``BuiltinContext``): the request, the clocks and the deadline, the limits on the values
they make, unification on the query's trail, and a way to report (``note``) and to mark
the answer as not cacheable (``mark_volatile``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from .limits import Limits
from .terms import Var, unify

__all__ = ["BuiltinContext", "current_context", "mark_volatile", "note"]


class BuiltinContext:
    """One query's context for its built-ins.

    ``input`` is the request that the ``input`` built-in reads; ``trail`` the query's
    trail (a built-in that binds and then fails undoes its bindings to the length it
    found); ``made`` counts the characters and list items the query's built-ins made
    (see :attr:`Limits.max_made`); ``notes`` what built-ins reported."""

    __slots__ = ("clock", "deadline", "input", "limits", "made", "notes", "trail", "volatile",
                 "wall_clock")

    def __init__(
        self,
        trail: list[Var],
        limits: Limits,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        deadline: float | None,
        input: Any,
    ) -> None:
        self.trail = trail
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock
        self.deadline = deadline
        self.input = input
        self.made = 0
        self.notes: list[str] = []
        self.volatile = False  # a volatile built-in was used: do not cache the result

    def unify(self, a: Any, b: Any) -> bool:
        return unify(a, b, self.trail)

    def mark_volatile(self) -> None:
        self.volatile = True

    def note(self, message: str, *, volatile: bool = True) -> None:
        """Record why a goal failed (a fetch refused, timed out...) in the explanation; by
        default the answer is then not cached either."""
        self.notes.append(message)
        if volatile:
            self.volatile = True

    def time_left(self) -> float | None:
        """Seconds until the query's deadline (None without one)."""
        return None if self.deadline is None else self.deadline - self.clock()


# the context of the query an async built-in is running for (set while the driver awaits
# it), so that a built-in written in the original engine's shape can still report to it
current_context: contextvars.ContextVar[BuiltinContext | None] = contextvars.ContextVar(
    "siamese_current_context", default=None
)


def note(message: str, *, volatile: bool = True) -> None:
    """For async built-ins: :meth:`BuiltinContext.note` on the running query's context."""
    ctx = current_context.get()
    if ctx is not None:
        ctx.note(message, volatile=volatile)


def mark_volatile() -> None:
    """For async built-ins: the running query's answer must not be cached."""
    ctx = current_context.get()
    if ctx is not None:
        ctx.volatile = True
