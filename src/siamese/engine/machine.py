"""The machine: SLD resolution as an explicit-stack loop, with the table fixpoint.

Why a machine and not recursive generators: the state of a query lives in plain data
(a continuation and a choicepoint stack, see :mod:`goals`), so a query can stop anywhere
-- to give the event loop a turn, to await an async built-in, or to end at a limit --
without Python recursion, and without an async generator per goal.

* Bindings live on :class:`~siamese.engine.terms.Var` objects and are undone with a trail.
* A rule's body is built once per activation from its compiled template.
* Recursive predicates (found statically, see :mod:`analysis`) are tabled: a call variant
  is evaluated to a fixpoint by a worklist of producer tasks and consumer resumptions
  (each consumer sees each answer once), so cycles and left recursion terminate.
  Tables of request-independent predicates are kept on the program and shared by the
  next queries; they die with the program.
* The machine is pure: the clock, the request (for ``input``) and the limits are given.

:meth:`Machine.run` is a generator of requests to its driver (:mod:`driver`): SOLUTION,
PAUSE (the event loop is owed a turn) or an :class:`Await` (send back the result).

Compiled clause bodies (:mod:`fastpath`) use this interface of the machine, and no other:
``steps`` and ``next_check`` and :meth:`~siamese.engine.limits.Budget.checkpoint` (the
budget), :meth:`Machine.find_table` and :meth:`Machine.table_now`, ``input``, ``limits``
and ``ctx``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from .codetables import EMPTY, table_by_code
from .context import BuiltinContext
from .errors import EngineError, EvaluationError, LimitExceeded
from .events import EventProof, copy_events, snapshot
from .fastgen import CannotTell, SliceOver
from .goals import (
    ANSWER,
    BUILTIN,
    C_DEPTH,
    C_GOAL,
    C_NEXT,
    CALL,
    CALL_RAW,
    CP_ALT,
    CP_ANSWERS,
    CP_AWAIT,
    CP_BARRIER,
    CP_CLAUSES,
    CP_EVENTS,
    CP_FACTS,
    CP_GEN,
    CP_KIND,
    CP_NODE,
    CP_OR,
    CP_POS,
    CP_TRAIL,
    EXIT,
    EXIT_GOAL,
    G_ARGS,
    G_CALLEE,
    G_OP,
    MARK,
    NOT,
    NOTOK,
    OR,
    copy_goal,
    goal_text,
    link,
    push_body,
    unify_head,
)
from .limits import CHECK_EVERY, Budget, Limits
from .program import CompiledClause, Predicate, Program, candidates
from .tables import (
    Consumer,
    Evaluation,
    Table,
    ground_key,
    publish,
    table_key,
    variant_key,
)
from .terms import UNBOUND, Var, _unify, copy_term, deref, is_ground, match_args, resolve, undo

__all__ = ["PAUSE", "SOLUTION", "Await", "Machine"]


def _with_vars(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A call of compiled code (None where unbound) as terms."""
    return tuple([Var("_") if a is None else a for a in args])


class _Signal:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SOLUTION: Any = _Signal("SOLUTION")
PAUSE: Any = _Signal("PAUSE")


class Await:
    """A request from the machine to its driver: await this and send the result."""

    __slots__ = ("awaitable", "name", "timeout")

    def __init__(self, awaitable: Any, name: str, timeout: float | None) -> None:
        self.awaitable = awaitable
        self.name = name
        self.timeout = timeout


_DEFAULT_LIMITS = Limits()


class Machine(Budget):
    """One query's machine state: the program, the trail, the tables it made, the proof
    events of the current solution, and its budget (it *is* its :class:`Budget`: the loop
    counts steps on itself)."""

    def __init__(
        self,
        program: Program,
        goals: tuple[Any, ...],
        *,
        limits: Limits = _DEFAULT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        input: Any = None,
        proofs: bool = False,
    ) -> None:
        if not program.ready:
            raise EngineError("the program is not finished: build it with siamese.engine.build")
        # the budget's fields (see Budget)
        self.limits = limits
        self.clock = clock
        self.next_check = min(CHECK_EVERY, limits.max_steps + 1)
        self.started = self.last_pause = clock()
        timeout_ms = limits.timeout_ms
        self.deadline = None if timeout_ms is None else self.started + timeout_ms / 1000
        self.program = program
        self.goals = goals
        self.proofs = proofs
        self.wall_clock = wall_clock
        self.input = input
        self.trail: list[Var] = []
        self.local_tables: dict[Any, Table] = {}

    # set on the instance when they change (a query is made per decision: less to make)
    events: Any = None  # the proof events of the current solution (see events)
    evaluation: Evaluation | None = None  # the fixpoint running, if any
    pause_owed = False  # a compiled pass gave up at the end of a slice: the driver's turn
    misses: list[Any] | None = None  # generated code is making a table (see codetables)
    _ctx: BuiltinContext | None = None

    @property
    def ctx(self) -> BuiltinContext:
        """The context the query's built-ins get (made at the first need: a decision that
        compiled code answers has none)."""
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = BuiltinContext(self.trail, self.limits, self.clock,
                                             self.wall_clock, self.deadline, self.input)
        return ctx

    def run(self) -> Generator[Any, Any, None]:
        """The raw machine: yields SOLUTION, PAUSE or Await (send the awaited result back)."""
        return self._run(link(self.goals, 0, None), None)

    def exhaust(self, goals: list[Any]) -> Generator[Any, Any, bool]:
        """Sub-run a conjunction to exhaustion; True if it had a proof (then it stops there,
        its bindings live). Requests of the sub-run (pauses, awaits) are passed up."""
        sub = self._run(link(goals, 0, None), None)
        send: Any = None
        try:
            while True:
                try:
                    x = sub.send(send)
                except StopIteration:
                    return False
                if x is SOLUTION:
                    return True
                send = yield x
        finally:
            sub.close()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self, cont: Any, events: Any) -> Generator[Any, Any, None]:  # one hot loop
        trail = self.trail
        ctx = self._ctx  # made at the first built-in (see ctx)
        cps: list[list[Any]] = []
        proofs = self.proofs
        max_depth = self.limits.max_depth
        while True:
            if cont is None:
                self.events = events
                yield SOLUTION
            else:
                node = cont
                goal, depth, nxt = node
                op, callee, args, _ = goal  # see goals: a goal's fields
                if op == CALL or op == CALL_RAW:  # noqa: SIM109 - hot loop: no tuple per goal
                    self.steps += 1
                    if self.steps >= self.next_check and self.checkpoint():
                        yield PAUSE
                    if depth > max_depth:
                        raise LimitExceeded("max_depth", max_depth, goal_text(goal))
                    pred: Predicate = callee
                    if pred.tabled and op == CALL:
                        key, targs, walked = table_key(pred, args, self.limits.max_term_nodes)
                        if walked:
                            self.next_check = 0  # a walk of any size: the clock is read next
                        table = self.find_table(pred, key)
                        if table is None:  # not computed yet: no generator for the common case
                            table = yield from self._table_for(node, events, key, targs)
                        if table is not None and table.answers:
                            if table.complete and table.ground and len(table.answers) > 4:
                                # a call with every argument bound is a set lookup
                                k = ground_key(args)
                                if k is not None:
                                    if k in table.seen:
                                        if proofs:
                                            events = (("answer", goal, table, k), events)
                                        cont = nxt
                                        continue
                                    table = None
                            if table is not None:
                                cps.append([CP_ANSWERS, len(trail), node, events, table, 0])
                    elif pred.rows:
                        cands = candidates(pred, args)
                        if cands:
                            if len(cands) == 1 and not pred.clauses:
                                # one candidate fact and no rules: no choicepoint needed
                                k = cands[0]
                                mark = len(trail)
                                if match_args(args, pred.rows[k], trail):
                                    if proofs:
                                        events = (("fact", goal, k), events)
                                    cont = nxt
                                    continue
                                undo(trail, mark)
                            else:
                                cps.append([CP_FACTS, len(trail), node, events, cands, 0])
                        elif pred.clauses:
                            cps.append([CP_CLAUSES, len(trail), node, events, 0])
                    elif pred.clauses:
                        cps.append([CP_CLAUSES, len(trail), node, events, 0])
                elif op == BUILTIN:
                    self.steps += 1
                    if self.steps >= self.next_check and self.checkpoint():
                        yield PAUSE
                    b = callee
                    if ctx is None:
                        ctx = self.ctx
                    if b.volatile:
                        ctx.volatile = True
                    if b.is_async:
                        agen = b.call_async(ctx, args)
                        cps.append([CP_AWAIT, len(trail), node, events, agen, b])
                    elif b.det:
                        mark = len(trail)
                        if b.fn(ctx, args):
                            if proofs:
                                events = (("builtin", goal), events)
                            cont = nxt
                            continue
                        undo(trail, mark)
                    else:
                        # a nondeterministic built-in may still answer at once (True/False)
                        mark = len(trail)
                        r = b.fn(ctx, args)
                        if r is True:
                            if proofs:
                                events = (("builtin", goal), events)
                            cont = nxt
                            continue
                        if r is not False and r is not None:
                            cps.append([CP_GEN, mark, node, events, r])
                        else:
                            undo(trail, mark)
                elif op == NOT:
                    cps.append([CP_BARRIER, len(trail), node, events])
                    notok = (NOTOK, len(cps) - 1, None, None)
                    cont = link(callee, depth, (notok, depth, None))
                    continue
                elif op == OR:
                    branches = callee
                    cps.append([CP_OR, len(trail), node, events, 1])
                    cont = link(branches[0], depth, nxt)
                    continue
                elif op == EXIT:
                    events = (("exit",), events)
                    cont = nxt
                    continue
                elif op == NOTOK:
                    # the negated goal has a proof: the negation fails; drop its choicepoints
                    barrier = callee
                    undo(trail, cps[barrier][CP_TRAIL])
                    del cps[barrier:]
                elif op == ANSWER:
                    self._answer(goal, events)
                elif op == MARK:
                    callee(args)
                    cont = nxt
                    continue
                else:  # pragma: no cover - compile() produces no other goal
                    raise EvaluationError(f"unknown goal {goal!r}")
            # ---- backtrack: resume the newest choicepoint that still has an alternative ----
            while cps:
                cp = cps[-1]
                if len(trail) > cp[CP_TRAIL]:
                    undo(trail, cp[CP_TRAIL])
                kind = cp[CP_KIND]
                node = cp[CP_NODE]
                goal = node[C_GOAL]
                if kind == CP_FACTS:
                    r = self._next_fact(cp)
                    if r:
                        if cp[CP_POS] >= len(cp[CP_ALT]) and not goal[G_CALLEE].clauses:
                            cps.pop()
                        events = cp[CP_EVENTS]
                        if proofs:
                            events = (("fact", goal, r - 1), events)
                        cont = node[C_NEXT]
                        break
                    if goal[G_CALLEE].clauses:
                        cp[CP_KIND] = CP_CLAUSES
                        cp[CP_ALT] = 0
                        continue
                    cps.pop()
                    continue
                if kind == CP_CLAUSES:
                    r2 = self._next_clause(cp)
                    if r2 is not None:
                        if cp[CP_ALT] >= len(goal[G_CALLEE].clauses):
                            cps.pop()
                        cont, events = r2
                        break
                    cps.pop()
                    continue
                if kind == CP_ANSWERS:
                    table = cp[CP_ALT]
                    answers = table.answers
                    i = cp[CP_POS]
                    args = goal[G_ARGS]
                    found = False
                    mark = cp[CP_TRAIL]
                    while i < len(answers):
                        ans = answers[i]
                        i += 1
                        if match_args(args, ans, trail):
                            found = True
                            break
                        if len(trail) > mark:
                            undo(trail, mark)
                    cp[CP_POS] = i
                    if found:
                        events = cp[CP_EVENTS]
                        if proofs:
                            events = (("answer", goal, table, ans), events)
                        cont = node[C_NEXT]
                        break
                    cps.pop()
                    continue
                if kind == CP_GEN:
                    try:
                        next(cp[CP_ALT])
                    except StopIteration:
                        cps.pop()
                        continue
                    events = cp[CP_EVENTS]
                    if proofs:
                        events = (("builtin", goal), events)
                    cont = node[C_NEXT]
                    break
                if kind == CP_OR:
                    branches = goal[G_CALLEE]
                    i = cp[CP_ALT]
                    if i + 1 >= len(branches):
                        cps.pop()
                    else:
                        cp[CP_ALT] = i + 1
                    events = cp[CP_EVENTS]
                    cont = link(branches[i], node[C_DEPTH], node[C_NEXT])
                    break
                if kind == CP_BARRIER:
                    # the negated goal has no proof: the negation succeeds
                    cps.pop()
                    events = cp[CP_EVENTS]
                    if proofs:
                        events = (("not", goal), events)
                    cont = node[C_NEXT]
                    break
                if kind == CP_AWAIT:
                    b = cp[CP_POS]
                    reply = yield Await(cp[CP_ALT].__anext__(), b.name, b.timeout)
                    if reply[0] == "stop":
                        cps.pop()
                        continue
                    if cp[CP_ALT].bind(trail, reply[1]):
                        events = cp[CP_EVENTS]
                        if proofs:
                            events = (("builtin", goal), events)
                        cont = node[C_NEXT]
                        break
                    continue
                raise EvaluationError(f"unknown choicepoint {kind}")  # pragma: no cover
            else:
                return

    # -- facts and clauses --------------------------------------------------------------------

    def _next_fact(self, cp: list[Any]) -> int:
        """Unify the call with the next candidate fact; its index + 1, or 0 when none is left."""
        cands = cp[CP_ALT]
        i = cp[CP_POS]
        goal = cp[CP_NODE][C_GOAL]
        args = goal[G_ARGS]
        rows = goal[G_CALLEE].rows
        trail = self.trail
        mark = cp[CP_TRAIL]
        n = len(cands)
        while i < n:
            k = cands[i]
            i += 1
            if match_args(args, rows[k], trail):
                cp[CP_POS] = i
                return k + 1
            if len(trail) > mark:
                undo(trail, mark)
        cp[CP_POS] = i
        return 0

    def _next_clause(self, cp: list[Any]) -> tuple[Any, Any] | None:
        """Unify the call with the next clause's head: the continuation of its body and the
        events, or None when no clause is left."""
        goal, depth, nxt = cp[CP_NODE]
        pred: Predicate = goal[G_CALLEE]
        args = goal[G_ARGS]
        clauses = pred.clauses
        i = cp[CP_ALT]
        trail = self.trail
        mark = cp[CP_TRAIL]
        a0 = deref(args[0]) if args else None
        ta0 = type(a0)
        atomic0 = ta0 is str or ta0 is int or ta0 is float or ta0 is bool
        n = len(clauses)
        while i < n:
            cc: CompiledClause = clauses[i]
            i += 1
            fc = cc.first_const
            if atomic0 and fc is not None and (fc != a0 or (type(fc) is bool) != (ta0 is bool)):
                continue
            frame: list[Any] = [None] * cc.nvars
            if unify_head(cc.head, args, frame, trail):
                if self.evaluation is None:
                    self.program.counts.interpreted_clauses += 1
                else:
                    self.program.counts.table_clauses += 1
                cp[CP_ALT] = i
                events = cp[CP_EVENTS]
                tail = nxt
                if self.proofs:
                    events = (("rule", goal, cc), events)
                    tail = (EXIT_GOAL, depth, nxt)
                if cc.body:
                    return push_body(cc.body, frame, depth + 1, tail), events
                return tail, events
            undo(trail, mark)
        cp[CP_ALT] = i
        return None

    # -- tabling --------------------------------------------------------------------------------

    def find_table(self, pred: Predicate, key: Any) -> Table | None:
        """The complete table for ``key`` (see :func:`~siamese.engine.tables.table_key`), if
        this query or, for a request-independent predicate, an earlier one has it."""
        t = self.local_tables.get(key)
        if t is None and pred.request_independent:
            t = self.program.tables.get(key)
            if t is not None and self.proofs and t.proofs is None:
                t = None  # computed without proofs: this query must compute its own
        return t

    def table_now(self, pred: Predicate, args: tuple[Any, ...], key: Any = None) -> Table:
        """The complete table of a call of tabled ``pred`` (atoms, None where an argument
        is unbound; ``key``: its table key, if known), evaluated now if need be, for
        compiled code (which cannot pause): raises SliceOver when the event loop is owed a
        turn first (the evaluation is dropped; the interpreter evaluates it again after the
        turn) and CannotTell inside a fixpoint. Made by generated code when it can tell
        the fixpoint's order (see codetables)."""
        if key is None:
            key = table_key(pred, _with_vars(args), self.limits.max_term_nodes)[0]
        t = self.find_table(pred, key)
        if t is not None:
            return t
        misses = self.misses
        if misses is not None:  # generated code is making a table: it waits for this one
            misses.append((pred, args))
            return EMPTY
        if self.evaluation is not None:
            raise CannotTell
        t = table_by_code(self, pred, key, args)
        if t is not None:
            return t
        targs = table_key(pred, _with_vars(args), self.limits.max_term_nodes)[1]
        evaluation = self._evaluate(pred, key, targs)
        mark = len(self.trail)
        try:
            for request in evaluation:
                if request is PAUSE:
                    raise SliceOver
                raise CannotTell  # pragma: no cover - an await: not in a shared table
        finally:
            # now, not when the traceback lets it go: it resets the machine; and the
            # bindings of a task it was in the middle of
            evaluation.close()
            undo(self.trail, mark)
        return self.local_tables[key]

    def _table_for(
        self, node: Any, events: Any, key: Any, args: tuple[Any, ...]
    ) -> Generator[Any, Any, Table | None]:
        """The table of a tabled call that :meth:`find_table` did not find: evaluated now, or
        None when the call became a consumer of an incomplete table of the running
        evaluation. ``args`` are the call's arguments as tabled."""
        pred: Predicate = node[C_GOAL][G_CALLEE]
        ev = self.evaluation
        if ev is not None:
            consumer = self._capture(node, events)
            if consumer is not None:
                t = ev.tables.get(key)
                if t is None:
                    t = self._new_table(ev, pred, key, args)
                t.consumers.append(consumer)
                for ans in t.answers:
                    ev.work.append((consumer, ans, t))
                return None
        yield from self._evaluate(pred, key, args)
        return self.local_tables[key]

    def _new_table(
        self, ev: Evaluation, pred: Predicate, key: Any, args: tuple[Any, ...]
    ) -> Table:
        mapping: dict[Var, Var] = {}
        lim = self.limits.max_term_nodes
        t = Table(pred, key, tuple([copy_term(a, mapping, lim) for a in args]), self.proofs)
        self.next_check = 0  # as after any walk of a term: the clock is read at the next step
        t.consumers = []  # the calls that will wait on it
        ev.tables[key] = t
        ev.work.append((None, None, t))
        return t

    def _capture(self, node: Any, events: Any) -> Consumer | None:
        """Copy the continuation of a call up to its table's ANSWER marker (None if the call
        is not directly inside a table's evaluation, e.g. under a negation)."""
        mapping: dict[Var, Var] = {}
        goals: list[tuple[Any, int]] = []
        c = node[C_NEXT]
        while c is not None:
            g = c[C_GOAL]
            if g[G_OP] == NOTOK:
                return None
            goals.append((copy_goal(g, mapping), c[C_DEPTH]))
            if g[G_OP] == ANSWER:
                break
            c = c[C_NEXT]
        else:
            return None
        cont: Any = None
        for g, d in reversed(goals):
            cont = (g, d, cont)
        goal = copy_goal(node[C_GOAL], mapping)
        ev_copy = copy_events(events, mapping) if self.proofs else None
        return Consumer(goal, goal[G_ARGS], cont, ev_copy)

    def _evaluate(
        self, pred: Predicate, key: Any, args: tuple[Any, ...]
    ) -> Generator[Any, Any, None]:
        """Evaluate a tabled call and every call its evaluation meets to their fixpoint."""
        ev = Evaluation()
        outer = self.evaluation
        self.evaluation = ev
        trail = self.trail
        try:
            self._new_table(ev, pred, key, args)
            work = ev.work
            while work:
                # a step per task: resuming consumers with answers calls nothing, so without
                # this a fixpoint could run past the budget, the clock and the slice
                self.steps += 1
                if self.steps >= self.next_check and self.checkpoint():
                    yield PAUSE
                consumer, ans, t = work.popleft()
                mark = len(trail)
                if consumer is None:  # produce: run the predicate's own clauses for the call
                    cont = (
                        (CALL_RAW, t.pred, t.args, None),
                        0,
                        ((ANSWER, t, t.args, None), 0, None),
                    )
                    yield from self._run(cont, None)
                elif _unify(consumer.args, ans, trail):
                    events = None
                    if self.proofs:
                        events = (("answer", consumer.goal, t, ans), consumer.events)
                    yield from self._run(consumer.cont, events)
                undo(trail, mark)
        finally:
            self.evaluation = outer
        for k, t in ev.tables.items():
            t.complete = True
            t.consumers = ()
            self.local_tables[k] = t
        publish(self.program, ev.tables.items(), self.limits.shared_table_answers)

    def _answer(self, goal: tuple[Any, ...], events: Any) -> None:
        """A producer reached its ANSWER marker: add the bindings as an answer (once)."""
        t: Table = goal[G_CALLEE]
        lim = self.limits.max_term_nodes
        vals = []
        for a in goal[G_ARGS]:
            while type(a) is Var:
                r = a.ref
                if r is UNBOUND:
                    break
                a = r
            vals.append(a if type(a) is str else resolve(a, lim))
        ans = tuple(vals)
        k = ground_key(ans)
        atomic = k is not None
        if k is None:
            k = variant_key(ans, lim)
            self.next_check = 0  # a walk of any size: the clock is read at the next step
        if k in t.seen:
            return
        t.seen.add(k)
        if len(t.answers) >= self.limits.max_solutions:
            raise LimitExceeded(
                "max_solutions",
                self.limits.max_solutions,
                f"answers of {t.pred.name}/{t.pred.arity}",
            )
        if not atomic and not all(is_ground(a, lim) for a in ans):
            mapping: dict[Var, Var] = {}
            ans = tuple([copy_term(a, mapping, lim) for a in ans])
            t.ground = False
        t.answers.append(ans)
        if t.proofs is not None:
            items = snapshot(events)
            if any(item[0] != "exit" for item in items):  # a proof tree has a root
                t.proofs[k] = EventProof(items)
        ev = self.evaluation
        if ev is not None:
            for c in t.consumers:
                ev.work.append((c, ans, t))
