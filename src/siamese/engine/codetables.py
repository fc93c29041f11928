"""Tables made by generated code: the answers of a tabled call in the order the machine's
fixpoint finds them, without running the fixpoint.

The fixpoint (:meth:`~siamese.engine.machine.Machine._evaluate`) runs a call's producer --
its clauses in order -- and, for each tabled call the producer makes whose table is not
complete yet, a *consumer* resumed once per answer of that table as the answers come.
When every table the producer calls is complete, there is no consumer: the producer is
all there is, and the predicate's generated solutions (:class:`~siamese.engine.fastpath.
Solver`) find the same answers in the same order, each with the same first derivation.

One consumer is also simple. If the producer meets one table that is not complete, and
finds no new answer after meeting it, the fixpoint's answers are the producer's, then
those the consumer makes from that table's answers in their order. That is what the
solutions find once that table is complete, so it is made first (by this same method,
down a chain: a folder's ancestors, a group's parents) and the call made again. Two such
tables, an answer after one, or a cycle back to a table being made: the fixpoint's order
would interleave, and :func:`table_by_code` says None (the fixpoint runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import LimitExceeded
from .events import PendingProof
from .fastgen import CannotTell, SliceOver
from .fastpath import FIRST
from .limits import Limits
from .tables import Table, publish, table_key
from .terms import Var

if TYPE_CHECKING:
    from .machine import Machine
    from .program import Predicate

__all__ = ["EMPTY", "Rederived", "table_by_code"]

MAX_CHAIN = 10_000  # tables made first, down one chain, for one call
# a proof made again runs what already ran once, on complete tables: no slice to give
_AGAIN = Limits(slice_ms=float("inf"), timeout_ms=None)

EMPTY = Table(None, None, (), False)  # type: ignore[arg-type]
EMPTY.complete = True  # what a table not complete yet gives its consumer at first


class _Missing:
    """The one table a producer met that is not complete: (predicate, key, the call it
    is of: atoms, None where unbound)."""

    __slots__ = ("args", "key", "pred")

    def __init__(self, pred: Predicate, key: Any, args: tuple[Any, ...]) -> None:
        self.pred = pred
        self.key = key
        self.args = args


def table_by_code(m: Machine, pred: Predicate, key: Any, args: tuple[Any, ...]) -> Table | None:
    """The complete table of a call of atoms (None where unbound) whose table key is
    ``key``, made by generated code (see the module's notes), or None when only the
    fixpoint can tell its order. Raises the limits' errors and SliceOver (nothing half
    made is kept)."""
    call = _tabled(pred, args)
    made = _one(m, pred, key, call)
    if type(made) is not _Missing:
        return made  # the table, or None (the common cases: no chain)
    if made.key == key:
        return None  # it waits for itself: left recursion, the fixpoint's
    chain: list[_Missing] = [_Missing(pred, key, call), made]
    while chain:
        if len(chain) > MAX_CHAIN:
            return None
        top = chain[-1]
        made = _one(m, top.pred, top.key, top.args)
        if made is None:
            return None
        if type(made) is _Missing:
            if any(c.key == made.key for c in chain):
                return None  # a cycle: the fixpoint interleaves its tables
            chain.append(made)
            continue
        chain.pop()
    return m.local_tables[key]


def _tabled(pred: Predicate, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The call the table is of: :func:`~siamese.engine.tables.table_key`'s abstraction
    (the first argument alone, when the analysis allows it) of a call of atoms."""
    if (pred.request_independent and pred.abstractable and len(args) > 1
            and args[0] is not None and any(a is not None for a in args[1:])):
        return (args[0], *(None for _ in args[1:]))
    return args


def _one(m: Machine, pred: Predicate, key: Any, call: tuple[Any, ...]) -> Any:
    """Make one table (of ``call``: atoms, None where unbound), or say which one table it
    waits for (:class:`_Missing`), or None."""
    compiler = m.program.compiler
    if compiler is None or not pred.request_independent:
        return None
    mode = FIRST if call[0] is not None and call.count(None) == len(call) - 1 else \
        frozenset(j for j, v in enumerate(call) if v is not None)
    solver = compiler.table_solver(pred, mode, bare=True)
    if solver is None:
        return None
    t = Table(pred, key, call, False)  # its args: the call, None where unbound
    seen = t.seen
    answers = t.answers
    limit = m.limits.max_solutions
    misses: list[Any] = []
    m.misses = misses
    try:
        for ans in solver.gen(m, call):
            # an answer of atoms is its own key (no boolean: see tables.ground_key)
            if ans in seen:
                continue
            if misses:
                return None  # an answer after a consumer's: the fixpoint's order differs
            seen.add(ans)
            if len(answers) >= limit:
                raise LimitExceeded("max_solutions", limit, f"answers of {pred.name}/{pred.arity}")
            answers.append(ans)
    except CannotTell:
        return None
    finally:
        m.misses = None
    if misses:
        if len(misses) > 1:
            return None
        mpred, margs = misses[0]
        call2 = tuple([Var("_") if a is None else a for a in margs])
        return _Missing(mpred, table_key(mpred, call2, m.limits.max_term_nodes)[0],
                        _tabled(mpred, margs))
    t.proofs = Rederived(m, pred, mode, call)  # free to keep: any query may explain with it
    t.complete = True
    m.local_tables[key] = t
    publish(m.program, ((key, t),), m.limits.shared_table_answers)
    return t


class Rederived:
    """The proofs of a table that generated code made, made again at the first need (most
    tables never show one): the same solutions, run again on complete tables, give the
    same answers in the same order with the same first derivation of each. A table keeps
    this instead of a proof per answer (the memory of a decision path that explains)."""

    __slots__ = ("call", "made", "mode", "pred", "query")

    def __init__(self, m: Machine, pred: Predicate, mode: frozenset[int],
                 call: tuple[Any, ...]) -> None:
        # what makes a query like ``m`` (one tuple: tables are many)
        self.query = (type(m), m.program, m.clock, m.wall_clock)
        self.pred = pred
        self.mode = mode
        self.call = call
        self.made: dict[tuple[Any, ...], PendingProof] | None = None

    def get(self, key: Any, default: Any = None) -> Any:
        made = self.made
        if made is None:
            made = self.made = self._make()
        return made.get(key, default)

    def _make(self) -> dict[tuple[Any, ...], PendingProof]:
        kind, program, clock, wall_clock = self.query
        q = kind(program, (), limits=_AGAIN, clock=clock, wall_clock=wall_clock, proofs=True)
        solver = q.program.compiler.table_solver(self.pred, self.mode)
        out: dict[tuple[Any, ...], PendingProof] = {}
        mode, call, pred = self.mode, self.call, self.pred
        try:
            for outs, choice in solver.gen(q, call):
                it = iter(outs)
                ans = tuple([v if j in mode else next(it) for j, v in enumerate(call)])
                if ans not in out:
                    out[ans] = PendingProof(pred, ans, choice)
        except (CannotTell, SliceOver, LimitExceeded):
            return {}  # not made again: its answers are shown as a table's, unexplained
        return out
