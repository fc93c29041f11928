"""The bounds of one query, and the budget that enforces the step count and the clock.

A query counts an inference step per call of a predicate or a built-in (and per task of
a table's fixpoint). Every :data:`CHECK_EVERY` steps it reads the clock: past the
deadline it ends with :class:`LimitExceeded`, and after ``slice_ms`` it owes the event
loop a turn. Compiled clause bodies count and check through the same :class:`Budget`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import LimitExceeded
from .terms import MAX_TERM_NODES

__all__ = ["CHECK_EVERY", "Budget", "Limits"]

CHECK_EVERY = 256  # steps between two readings of the clock


@dataclass(frozen=True)
class Limits:
    """Bounds on one query. Hitting any of them raises :class:`LimitExceeded`."""

    max_depth: int = 1000
    max_solutions: int = 100_000  # answers of one query, and of any one table
    max_steps: int = 1_000_000  # inference steps (calls of predicates and built-ins)
    timeout_ms: float | None = 1000.0
    slice_ms: float = 2.0  # longest run between two turns given to the event loop
    shared_table_answers: int = 2_000_000  # memory bound of the tables kept between queries
    # the values built-ins make (concat, split, lower, upper, arithmetic...): each is
    # checked before the value is made, or as soon as it is
    max_string_chars: int = 1_000_000  # characters of one string
    max_list_items: int = 100_000  # items of one list
    max_int_bits: int = 4096  # bits of one integer (a product is refused uncomputed)
    max_made: int = 10_000_000  # characters and list items made by one query's built-ins
    # nodes of one term as a tree, for the walks that key, copy, resolve and print terms:
    # a rule can build a term that shares its subterms and doubles at each step
    max_term_nodes: int = MAX_TERM_NODES


class Budget:
    """A query's step count, deadline and event-loop slice: a base of the machine, which
    sets its fields when a query starts (without a call of its own: a query per decision):
    ``limits``, ``clock``, ``started`` and ``last_pause`` (the clock then), ``deadline``
    (``started`` + the timeout, or None) and ``next_check`` (the first check at
    ``CHECK_EVERY`` steps, or sooner under a smaller ``max_steps``).

    ``steps`` and ``next_check`` are read and written by the machine's loop and by
    compiled code directly (an attribute, not a call, per step); :meth:`checkpoint` is
    called when ``steps`` reaches ``next_check``. Setting ``next_check = 0`` makes the
    next step read the clock (after a walk of a term of any size)."""

    limits: Limits
    clock: Callable[[], float]
    next_check: int
    started: float
    last_pause: float
    deadline: float | None
    # set on the instance when they change (a query is made per decision: less to make)
    steps = 0
    solutions = 0

    def checkpoint(self) -> bool:
        """Check the step budget and the clock; True when the event loop is owed a turn."""
        lim = self.limits
        if self.steps > lim.max_steps:
            raise LimitExceeded("max_steps", lim.max_steps)
        self.next_check = min(self.steps + CHECK_EVERY, lim.max_steps + 1)
        now = self.clock()
        if self.deadline is not None and now > self.deadline:
            raise LimitExceeded("timeout", f"{lim.timeout_ms} ms")
        if now - self.last_pause >= lim.slice_ms / 1000:
            self.last_pause = now
            return True
        return False

    def count_solution(self) -> None:
        self.solutions += 1
        if self.solutions > self.limits.max_solutions:
            raise LimitExceeded("max_solutions", self.limits.max_solutions)
