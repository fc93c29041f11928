"""The solver: SLD resolution as an explicit-stack machine, with tabling.

Why a machine and not recursive generators: the state of a query lives in plain data
(a continuation list and a choicepoint stack), so a query can stop anywhere — to give
the event loop a turn, to await an async built-in, or to end at a limit — without
Python recursion, and without an async generator per goal.

* Bindings live on :class:`~siamese.engine.terms.Var` objects and are undone with a trail.
* A continuation is a linked tuple ``(goal, depth, next)``; a rule's body is built once
  per activation from its compiled template.
* Recursive predicates (found statically, see :mod:`analysis`) are tabled: a call variant
  is evaluated to a fixpoint by a worklist of producer tasks and consumer resumptions
  (each consumer sees each answer once), so cycles and left recursion terminate.
  Tables of request-independent predicates are kept on the program and shared by the
  next queries; they die with the program.
* The solver is pure: the clock, the request (for ``input``) and the limits are given.
"""

from __future__ import annotations

import asyncio
import contextvars
import operator
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import EvaluationError, LimitExceeded
from .fastpath import NO_HEAD, SliceOver
from .program import (
    ANSWER,
    BUILTIN,
    CALL,
    CALL_RAW,
    EXIT,
    MARK,
    NOT,
    NOTOK,
    OR,
    CompiledClause,
    Predicate,
    Program,
    Slot,
    TList,
    TStruct,
    key_value,
)
from .proof import MAX_PROOF_DEPTH, ProofNode, WhyNot, shorten
from .terms import (
    _COMPOUND,
    MAX_TERM_NODES,
    UNBOUND,
    Struct,
    Var,
    _unify,
    copy_term,
    deref,
    format_call,
    format_term,
    is_ground,
    resolve,
    too_big,
    undo,
    unify,
)

__all__ = ["SOLUTION", "Limits", "Query"]


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


class _Signal:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SOLUTION: Any = _Signal("SOLUTION")
PAUSE: Any = _Signal("PAUSE")


class Await:
    """A request from the machine to its async driver: await this and send the result."""

    __slots__ = ("awaitable", "name", "timeout")

    def __init__(self, awaitable: Any, name: str, timeout: float | None) -> None:
        self.awaitable = awaitable
        self.name = name
        self.timeout = timeout


# choicepoint kinds
_CP_FACTS = 0
_CP_CLAUSES = 1
_CP_GEN = 2
_CP_OR = 3
_CP_BARRIER = 4
_CP_ANSWERS = 5
_CP_AWAIT = 6

_EXIT_GOAL = (EXIT, None, None, None)

# the query an async built-in is running for (set while the driver awaits it), so that a
# built-in written in the original engine's shape can still report to its query
current_query: contextvars.ContextVar[Query | None] = contextvars.ContextVar(
    "siamese_current_query", default=None
)


def note(message: str, *, volatile: bool = True) -> None:
    """For async built-ins: record why a goal failed (a fetch refused, timed out, ...) in the
    running query's explanation; by default the decision is then not cached either."""
    q = current_query.get()
    if q is not None:
        q.notes.append(message)
        if volatile:
            q.volatile = True
_CHECK_EVERY = 256


# --- building runtime goals from compiled templates ------------------------------------


def build(t: Any, frame: list[Any]) -> Any:
    tt = type(t)
    if tt is Slot:
        v = frame[t.i]
        if v is None:
            v = frame[t.i] = Var(t.name)
        return v
    if tt is TStruct:
        return Struct(t.name, tuple([build(a, frame) for a in t.args]))
    if tt is TList:
        return tuple([build(a, frame) for a in t.items])
    return t


def build_goal(g: tuple[Any, ...], frame: list[Any]) -> tuple[Any, ...]:
    op = g[0]
    if op == CALL or op == BUILTIN:  # noqa: SIM109 - hot path: `in` would build a tuple per call
        args = []
        for a in g[2]:
            if type(a) is Slot:
                v = frame[a.i]
                if v is None:
                    v = frame[a.i] = Var(a.name)
                args.append(v)
            elif type(a) is TStruct or type(a) is TList:
                args.append(build(a, frame))
            else:
                args.append(a)
        return (op, g[1], tuple(args), g[3])
    if op == NOT:
        return (NOT, tuple([build_goal(x, frame) for x in g[1]]), None, g[3])
    return (OR, tuple([tuple([build_goal(x, frame) for x in br]) for br in g[1]]), None, g[3])


def push_body(body: tuple[Any, ...], frame: list[Any], depth: int, cont: Any) -> Any:
    for g in reversed(body):
        cont = (build_goal(g, frame), depth, cont)
    return cont


def link(goals: tuple[Any, ...] | list[Any], depth: int, cont: Any) -> Any:
    for g in reversed(goals):
        cont = (g, depth, cont)
    return cont


def unify_head(
    tmpl: tuple[Any, ...], args: tuple[Any, ...], frame: list[Any], trail: list[Var]
) -> bool:
    for t, a in zip(tmpl, args):
        tt = type(t)
        if tt is Slot:
            v = frame[t.i]
            if v is None:
                frame[t.i] = a
            elif not _unify(v, a, trail):
                return False
        elif tt is TStruct or tt is TList:
            if not _unify(build(t, frame), a, trail):
                return False
        elif not _unify(t, a, trail):
            return False
    return True


# --- variant keys and copies for tabling -----------------------------------------------


class _VarKey:
    """The i-th free variable of a call variant. One instance per number (see
    :func:`var_key`), so that equality is identity and hashing costs no Python call."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __repr__(self) -> str:
        return f"_VarKey({self.i})"


_VAR_KEYS: list[_VarKey] = []


def var_key(i: int) -> _VarKey:
    while len(_VAR_KEYS) <= i:
        _VAR_KEYS.append(_VarKey(len(_VAR_KEYS)))
    return _VAR_KEYS[i]


class _StructTag:
    """Marks a compound term's key: no value of a term can equal it (a string could: the
    list ``["$struct", "f", [a]]`` and the term ``f(a)`` once had one key)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_STRUCT"


_STRUCT = _StructTag()


def variant_key(args: tuple[Any, ...], limit: int = MAX_TERM_NODES) -> tuple[Any, ...]:
    """The call with its unbound variables numbered by first occurrence (a call *variant*).
    Raises LimitExceeded("max_term_nodes") past ``limit`` nodes in all."""
    seen: dict[Var, _VarKey] = {}
    left = limit

    def k(t: Any) -> Any:
        nonlocal left
        t = deref(t)
        tt = type(t)
        if tt is Var:
            vk = seen.get(t)
            if vk is None:
                vk = seen[t] = var_key(len(seen))
            return vk
        if tt is tuple:
            left -= len(t) + _COMPOUND
            if left < 0:
                raise too_big(limit, "a call or answer")
            return tuple([k(x) for x in t])
        if tt is Struct:
            left -= len(t.args) + _COMPOUND
            if left < 0:
                raise too_big(limit, "a call or answer")
            return (_STRUCT, t.name, tuple([k(x) for x in t.args]))
        return key_value(t)

    return tuple([k(a) for a in args])


def _ground_key(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The answer key of a call whose arguments are all bound atoms, else None."""
    out = []
    for a in args:
        a = deref(a)
        ta = type(a)
        if ta is str or ta is int or ta is float:
            out.append(a)
        elif ta is bool:
            out.append(key_value(a))
        else:
            return None
    return tuple(out)


_FREE = [tuple(var_key(i) for i in range(n)) for n in range(16)]


def _table_key(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The variant key of a tabled call in the two common shapes (else None: the caller
    walks the call with :func:`variant_key`): every argument an atom, or the first an atom
    and the others distinct free variables."""
    k = _ground_key(args)
    if k is not None:
        return k
    n = len(args)
    if n < 16:
        a0 = deref(args[0])
        ta = type(a0)
        if ta is str or ta is int or ta is float or ta is bool:
            rest = [deref(a) for a in args[1:]]
            if all(type(v) is Var for v in rest) and len(set(map(id, rest))) == n - 1:
                return (key_value(a0),) + _FREE[n - 1]
    return None


def _abstract(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The call a tabled call is evaluated as: its first argument, if bound to an atom, and
    every other argument free. Calls that differ only after the first argument then share
    one table (answers are filtered by unification), so e.g. ``member_of(alice, ?g)`` is
    computed once for all the groups a later call asks about. (Long linear chains queried
    with both ends bound should be written left-recursive.)"""
    a0 = deref(args[0])
    ta = type(a0)
    if not (ta is str or ta is int or ta is float or ta is bool):
        return args
    for a in args[1:]:
        if type(deref(a)) is not Var:
            return (a0, *(Var("_") for _ in args[1:]))
    return args


def _candidates(pred: Predicate, args: tuple[Any, ...]) -> Any:
    """The indexes of the facts that can match a call, found by hash index on the
    arguments that are bound to atoms (a set lookup when all of them are)."""
    mask = 0
    bit = 1
    key: list[Any] = []
    for a in args:
        while type(a) is Var:
            r = a.ref
            if r is UNBOUND:
                break
            a = r
        ta = type(a)
        if ta is str or ta is int or ta is float:
            mask |= bit
            key.append(a)
        elif ta is bool:
            mask |= bit
            key.append(key_value(a))
        bit <<= 1
    if mask == 0:
        return range(len(pred.rows))
    if mask == bit - 1:
        i = pred.ground_lookup().get(tuple(key))
        return () if i is None else (i,)
    idx = pred.by_mask.get(mask)
    if idx is None:
        idx = pred.mask_index(mask)
    return idx.get(key[0] if len(key) == 1 else tuple(key), ())


def _match(args: tuple[Any, ...], row: tuple[Any, ...], trail: list[Var]) -> bool:
    """Unify a call's arguments with a fact row or a table answer (the caller undoes on
    failure). Rows are ground; an answer may hold variables, which only ``_unify`` binds."""
    for a, v in zip(args, row):
        while type(a) is Var:
            r = a.ref
            if r is UNBOUND:
                a.ref = v
                trail.append(a)
                break
            a = r
        else:
            if a is v:
                continue
            if type(a) is str:
                if type(v) is str and a == v:
                    continue
                if type(v) is not Var:
                    return False
            if not _unify(a, v, trail):
                return False
    return True


def _copy_goal(g: tuple[Any, ...], mapping: dict[Var, Var]) -> tuple[Any, ...]:
    op = g[0]
    if op == CALL or op == BUILTIN or op == CALL_RAW:  # noqa: SIM109 - no tuple built per goal
        return (op, g[1], tuple([copy_term(a, mapping) for a in g[2]]), g[3])
    if op == NOT:
        return (NOT, tuple([_copy_goal(x, mapping) for x in g[1]]), None, g[3])
    if op == OR:
        return (OR, tuple([tuple([_copy_goal(x, mapping) for x in br]) for br in g[1]]), None, g[3])
    if op == ANSWER:
        return (ANSWER, g[1], tuple([copy_term(a, mapping) for a in g[2]]), None)
    return g


def _copy_events(events: Any, mapping: dict[Var, Var]) -> Any:
    items = []
    while events is not None:
        items.append(events[0])
        events = events[1]
    out: Any = None
    for ev in reversed(items):
        if ev[0] in ("rule", "fact", "builtin", "not", "answer") and ev[1] is not None:
            ev = (ev[0], _copy_goal(ev[1], mapping)) + ev[2:]  # noqa: RUF005 - faster than *
        out = (ev, out)
    return out


class Table:
    __slots__ = (
        "answers", "args", "complete", "consumers", "ground", "key", "pred", "proofs", "seen"
    )

    def __init__(self, pred: Predicate, key: Any, args: tuple[Any, ...], proofs: bool) -> None:
        self.pred = pred
        self.key = key
        self.args = args
        self.answers: list[tuple[Any, ...]] = []
        self.seen: set[Any] = set()
        self.consumers: list[_Consumer] = []
        self.complete = False
        self.ground = True  # every answer ground: a fully bound call is then a set lookup
        self.proofs: dict[Any, ProofNode] | None = {} if proofs else None


class _Consumer:
    __slots__ = ("args", "cont", "events", "goal")

    def __init__(self, goal: Any, args: tuple[Any, ...], cont: Any, events: Any) -> None:
        self.goal = goal
        self.args = args
        self.cont = cont
        self.events = events


class _Evaluation:
    __slots__ = ("tables", "work")

    def __init__(self) -> None:
        self.tables: dict[Any, Table] = {}
        self.work: deque[Any] = deque()


# --- the query -----------------------------------------------------------------------------


class Query:
    """One query against a program: the machine state plus the drivers that run it.

    ``goals`` are runtime goals (see :meth:`Program.goal` and :func:`compile_query`).
    ``input`` is the request that the ``input`` built-in reads. Built-ins receive the
    query itself as their context: ``unify``, ``input``, ``wall_clock``, ``mark_volatile``.
    """

    def __init__(
        self,
        program: Program,
        goals: tuple[Any, ...],
        *,
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        input: Any = None,
        proofs: bool = False,
    ) -> None:
        if not program._analysed:
            program.analyse()
        self.program = program
        self.goals = goals
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock
        self.input = input
        self.proofs = proofs
        self.trail: list[Var] = []
        self.next_check = min(_CHECK_EVERY, limits.max_steps + 1)
        self.started = self.last_pause = clock()
        timeout_ms = limits.timeout_ms
        self.deadline = None if timeout_ms is None else self.started + timeout_ms / 1000
        self.notes: list[str] = []  # what async built-ins reported (see note())
        self.local_tables: dict[Any, Table] = {}

    # set on the instance when they change (a query is made per decision: less to make)
    steps = 0
    made = 0  # characters and list items made by built-ins (see Limits.max_made)
    volatile = False  # a volatile built-in was used: do not cache the result
    events: Any = None
    evaluation: _Evaluation | None = None
    solutions = 0
    pause_owed = False  # a compiled pass gave up at the end of a slice: the driver's turn

    # -- context for built-ins ------------------------------------------------------------

    def unify(self, a: Any, b: Any) -> bool:
        return unify(a, b, self.trail)

    def mark_volatile(self) -> None:
        self.volatile = True

    # -- drivers ----------------------------------------------------------------------------

    def run(self) -> Generator[Any, Any, None]:
        """The raw machine: yields SOLUTION, PAUSE or Await (send the awaited result back)."""
        return self._run(link(self.goals, 0, None), None)

    def solve_sync(self) -> Iterator[None]:
        """Yield once per solution (bindings are live on the query's variables meanwhile)."""
        gen = self.run()
        for x in gen:
            if x is SOLUTION:
                self._count_solution()
                yield None
            elif x is not PAUSE:
                close = getattr(x.awaitable, "close", None)
                if close is not None:
                    close()
                gen.close()
                raise EvaluationError(
                    f"built-in '{x.name}' is asynchronous: use the async query API"
                )

    def first_sync(self) -> bool:
        for _ in self.solve_sync():
            return True
        return False

    async def solve(self) -> AsyncGenerator[None, None]:
        """Async driver: yields once per solution; awaits async built-ins and gives the
        event loop a turn every ``slice_ms``."""
        gen = self.run()
        send: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    x = gen.throw(error) if error is not None else gen.send(send)
                except StopIteration:
                    return
                send = None
                error = None
                if x is SOLUTION:
                    self._count_solution()
                    yield None
                elif x is PAUSE:
                    await asyncio.sleep(0)
                else:
                    send, error = await self._await(x)
        finally:
            gen.close()

    async def first(self) -> bool:
        """Whether the query has a solution (its bindings stay live if so)."""
        return bool(await self._drive(self.run(), True))

    def drive(self, gen: Generator[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        """Run a generator of machine requests (e.g. :meth:`why_not`) to its return value
        (await the coroutine returned: one coroutine per call, not two)."""
        return self._drive(gen, False)

    async def _drive(self, gen: Generator[Any, Any, Any], first: bool) -> Any:
        """The driver of :meth:`first` (True at the first solution, False with none) and of
        :meth:`drive` (the generator's return value). A coroutine, not an async generator:
        most decisions never await, and this is their whole cost of being async."""
        if self.pause_owed:  # by a compiled pass that ran out of its slice: its turn first
            self.pause_owed = False
            await asyncio.sleep(0)
        send: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    x = gen.throw(error) if error is not None else gen.send(send)
                except StopIteration as stop:
                    return False if first else stop.value
                send, error = None, None
                if x is SOLUTION:
                    if first:
                        self._count_solution()
                        return True
                elif x is PAUSE:
                    await asyncio.sleep(0)
                else:
                    send, error = await self._await(x)
        finally:
            gen.close()

    async def _await(self, req: Await) -> tuple[Any, BaseException | None]:
        timeout = req.timeout
        if self.deadline is not None:
            left = max(self.deadline - self.clock(), 0.0)
            timeout = left if timeout is None else min(timeout, left)
        token = current_query.set(self)
        try:
            # asyncio.timeout, not wait_for: no Task per call of an async built-in
            async with asyncio.timeout(timeout):
                value = await req.awaitable
        except StopAsyncIteration:
            return ("stop", None), None
        except TimeoutError:
            own = req.timeout is not None and timeout == req.timeout
            limit = (
                f"{req.timeout} s (the built-in's own)" if own else f"{self.limits.timeout_ms} ms"
            )
            return None, LimitExceeded("timeout", limit, f"built-in '{req.name}'")
        except LimitExceeded as e:
            return None, e
        except Exception as e:  # a failing async built-in ends the query: never a silent pass
            return None, EvaluationError(f"built-in '{req.name}' failed: {e!r}")
        finally:
            current_query.reset(token)
        return ("ok", value), None

    def _count_solution(self) -> None:
        self.solutions += 1
        if self.solutions > self.limits.max_solutions:
            raise LimitExceeded("max_solutions", self.limits.max_solutions)

    # -- limits -----------------------------------------------------------------------------

    def _checkpoint(self) -> bool:
        """Check the step budget and the clock; True when the event loop is owed a turn."""
        lim = self.limits
        if self.steps > lim.max_steps:
            raise LimitExceeded("max_steps", lim.max_steps)
        self.next_check = min(self.steps + _CHECK_EVERY, lim.max_steps + 1)
        now = self.clock()
        if self.deadline is not None and now > self.deadline:
            raise LimitExceeded("timeout", f"{lim.timeout_ms} ms")
        if now - self.last_pause >= lim.slice_ms / 1000:
            self.last_pause = now
            return True
        return False

    # -- the machine --------------------------------------------------------------------------

    def _run(self, cont: Any, events: Any) -> Generator[Any, Any, None]:  # one hot loop
        trail = self.trail
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
                op = goal[0]
                if op == CALL or op == CALL_RAW:  # noqa: SIM109 - hot loop: no tuple per goal
                    self.steps += 1
                    if self.steps >= self.next_check and self._checkpoint():
                        yield PAUSE
                    if depth > max_depth:
                        raise LimitExceeded("max_depth", max_depth, _goal_text(goal))
                    pred: Predicate = goal[1]
                    args = goal[2]
                    if pred.tabled and op == CALL:
                        targs = (
                            _abstract(args)
                            if pred.request_independent and pred.abstractable and len(args) > 1
                            else args
                        )
                        tkey = _table_key(targs)
                        if tkey is None:
                            tkey = variant_key(targs, self.limits.max_term_nodes)
                            self.next_check = 0  # a walk of any size: the clock is read next
                        key = (pred, tkey)
                        table = self._find_table(pred, key)
                        if table is None:  # not computed yet: no generator for the common case
                            table = yield from self._table_for(node, events, key, targs)
                        if table is not None and table.answers:
                            if table.complete and table.ground and len(table.answers) > 4:
                                # a call with every argument bound is a set lookup
                                k = _ground_key(args)
                                if k is not None:
                                    if k in table.seen:
                                        if proofs:
                                            events = (("answer", goal, table, k), events)
                                        cont = nxt
                                        continue
                                    table = None
                            if table is not None:
                                cps.append([_CP_ANSWERS, len(trail), node, events, table, 0])
                    elif pred.rows:
                        cands = _candidates(pred, args)
                        if cands:
                            if len(cands) == 1 and not pred.clauses:
                                # one candidate fact and no rules: no choicepoint needed
                                k = cands[0]
                                mark = len(trail)
                                if _match(args, pred.rows[k], trail):
                                    if proofs:
                                        events = (("fact", goal, k), events)
                                    cont = nxt
                                    continue
                                undo(trail, mark)
                            else:
                                cps.append([_CP_FACTS, len(trail), node, events, cands, 0])
                        elif pred.clauses:
                            cps.append([_CP_CLAUSES, len(trail), node, events, 0])
                    elif pred.clauses:
                        cps.append([_CP_CLAUSES, len(trail), node, events, 0])
                elif op == BUILTIN:
                    self.steps += 1
                    if self.steps >= self.next_check and self._checkpoint():
                        yield PAUSE
                    b = goal[1]
                    if b.volatile:
                        self.volatile = True
                    if b.is_async:
                        agen = b.call_async(self, goal[2])
                        cps.append([_CP_AWAIT, len(trail), node, events, agen, b])
                    elif b.det:
                        mark = len(trail)
                        if b.fn(self, goal[2]):
                            if proofs:
                                events = (("builtin", goal), events)
                            cont = nxt
                            continue
                        undo(trail, mark)
                    else:
                        # a nondeterministic built-in may still answer at once (True/False)
                        mark = len(trail)
                        r = b.fn(self, goal[2])
                        if r is True:
                            if proofs:
                                events = (("builtin", goal), events)
                            cont = nxt
                            continue
                        if r is not False and r is not None:
                            cps.append([_CP_GEN, mark, node, events, r])
                        else:
                            undo(trail, mark)
                elif op == NOT:
                    cps.append([_CP_BARRIER, len(trail), node, events])
                    cont = link(goal[1], depth, ((NOTOK, len(cps) - 1, None, None), depth, None))
                    continue
                elif op == OR:
                    branches = goal[1]
                    cps.append([_CP_OR, len(trail), node, events, 1])
                    cont = link(branches[0], depth, nxt)
                    continue
                elif op == EXIT:
                    events = (("exit",), events)
                    cont = nxt
                    continue
                elif op == NOTOK:
                    # the negated goal has a proof: the negation fails; drop its choicepoints
                    barrier = goal[1]
                    undo(trail, cps[barrier][1])
                    del cps[barrier:]
                elif op == ANSWER:
                    self._answer(goal, events)
                elif op == MARK:
                    goal[1](goal[2])
                    cont = nxt
                    continue
                else:  # pragma: no cover - compile() produces no other goal
                    raise EvaluationError(f"unknown goal {goal!r}")
            # ---- backtrack: resume the newest choicepoint that still has an alternative ----
            while cps:
                cp = cps[-1]
                if len(trail) > cp[1]:
                    undo(trail, cp[1])
                kind = cp[0]
                node = cp[2]
                if kind == _CP_FACTS:
                    r = self._next_fact(cp)
                    if r:
                        if cp[5] >= len(cp[4]) and not node[0][1].clauses:
                            cps.pop()
                        events = cp[3]
                        if proofs:
                            events = (("fact", node[0], r - 1), events)
                        cont = node[2]
                        break
                    if node[0][1].clauses:
                        cp[0] = _CP_CLAUSES
                        cp[4] = 0
                        continue
                    cps.pop()
                    continue
                if kind == _CP_CLAUSES:
                    r2 = self._next_clause(cp)
                    if r2 is not None:
                        if cp[4] >= len(node[0][1].clauses):
                            cps.pop()
                        cont, events = r2
                        break
                    cps.pop()
                    continue
                if kind == _CP_ANSWERS:
                    table = cp[4]
                    answers = table.answers
                    i = cp[5]
                    args = node[0][2]
                    found = False
                    mark = cp[1]
                    while i < len(answers):
                        ans = answers[i]
                        i += 1
                        if _match(args, ans, trail):
                            found = True
                            break
                        if len(trail) > mark:
                            undo(trail, mark)
                    cp[5] = i
                    if found:
                        events = cp[3]
                        if proofs:
                            events = (("answer", node[0], table, ans), events)
                        cont = node[2]
                        break
                    cps.pop()
                    continue
                if kind == _CP_GEN:
                    try:
                        next(cp[4])
                    except StopIteration:
                        cps.pop()
                        continue
                    events = cp[3]
                    if proofs:
                        events = (("builtin", node[0]), events)
                    cont = node[2]
                    break
                if kind == _CP_OR:
                    branches = node[0][1]
                    i = cp[4]
                    if i + 1 >= len(branches):
                        cps.pop()
                    else:
                        cp[4] = i + 1
                    events = cp[3]
                    cont = link(branches[i], node[1], node[2])
                    break
                if kind == _CP_BARRIER:
                    # the negated goal has no proof: the negation succeeds
                    cps.pop()
                    events = cp[3]
                    if proofs:
                        events = (("not", node[0]), events)
                    cont = node[2]
                    break
                if kind == _CP_AWAIT:
                    reply = yield Await(cp[4].__anext__(), cp[5].name, cp[5].timeout)
                    if reply[0] == "stop":
                        cps.pop()
                        continue
                    if cp[4].bind(self, reply[1]):
                        events = cp[3]
                        if proofs:
                            events = (("builtin", node[0]), events)
                        cont = node[2]
                        break
                    continue
                raise EvaluationError(f"unknown choicepoint {kind}")  # pragma: no cover
            else:
                return

    # -- facts and clauses --------------------------------------------------------------------

    def _next_fact(self, cp: list[Any]) -> int:
        """Unify the call with the next candidate fact; its index + 1, or 0 when none is left."""
        cands = cp[4]
        i = cp[5]
        args = cp[2][0][2]
        rows = cp[2][0][1].rows
        trail = self.trail
        mark = cp[1]
        n = len(cands)
        while i < n:
            k = cands[i]
            i += 1
            if _match(args, rows[k], trail):
                cp[5] = i
                return k + 1
            if len(trail) > mark:
                undo(trail, mark)
        cp[5] = i
        return 0

    def _next_clause(self, cp: list[Any]) -> tuple[Any, Any] | None:
        node = cp[2]
        goal, depth, nxt = node
        pred: Predicate = goal[1]
        args = goal[2]
        clauses = pred.clauses
        i = cp[4]
        trail = self.trail
        mark = cp[1]
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
                cp[4] = i
                events = cp[3]
                tail = nxt
                if self.proofs:
                    events = (("rule", goal, cc), events)
                    tail = (_EXIT_GOAL, depth, nxt)
                if cc.body:
                    return push_body(cc.body, frame, depth + 1, tail), events
                return tail, events
            undo(trail, mark)
        cp[4] = i
        return None

    # -- tabling --------------------------------------------------------------------------------

    def _find_table(self, pred: Predicate, key: Any) -> Table | None:
        """The complete table for ``key`` (see :meth:`_table_for`), if this query or, for a
        request-independent predicate, an earlier one has it."""
        t = self.local_tables.get(key)
        if t is None and pred.request_independent:
            t = self.program.tables.get(key)
            if t is not None and self.proofs and t.proofs is None:
                t = None  # computed without proofs: this query must compute its own
        return t

    def _table_for(
        self, node: Any, events: Any, key: Any, args: tuple[Any, ...]
    ) -> Generator[Any, Any, Table | None]:
        """The table of a tabled call that :meth:`_find_table` did not find: evaluated now, or
        None when the call became a consumer of an incomplete table of the running
        evaluation. ``args`` are the call's arguments as tabled (see :func:`_abstract`)."""
        pred: Predicate = node[0][1]
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
        self, ev: _Evaluation, pred: Predicate, key: Any, args: tuple[Any, ...]
    ) -> Table:
        mapping: dict[Var, Var] = {}
        lim = self.limits.max_term_nodes
        t = Table(pred, key, tuple([copy_term(a, mapping, lim) for a in args]), self.proofs)
        self.next_check = 0  # as after any walk of a term: the clock is read at the next step
        ev.tables[key] = t
        ev.work.append((None, None, t))
        return t

    def _capture(self, node: Any, events: Any) -> _Consumer | None:
        """Copy the continuation of a call up to its table's ANSWER marker (None if the call
        is not directly inside a table's evaluation, e.g. under a negation)."""
        mapping: dict[Var, Var] = {}
        goals: list[tuple[Any, int]] = []
        c = node[2]
        while c is not None:
            g = c[0]
            if g[0] == NOTOK:
                return None
            goals.append((_copy_goal(g, mapping), c[1]))
            if g[0] == ANSWER:
                break
            c = c[2]
        else:
            return None
        cont: Any = None
        for g, d in reversed(goals):
            cont = (g, d, cont)
        goal = _copy_goal(node[0], mapping)
        ev_copy = _copy_events(events, mapping) if self.proofs else None
        return _Consumer(goal, goal[2], cont, ev_copy)

    def _evaluate(
        self, pred: Predicate, key: Any, args: tuple[Any, ...]
    ) -> Generator[Any, Any, None]:
        ev = _Evaluation()
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
                if self.steps >= self.next_check and self._checkpoint():
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
        limit = self.limits.shared_table_answers
        program = self.program
        for k, t in ev.tables.items():
            t.complete = True
            t.consumers = []
            self.local_tables[k] = t
            if t.pred.request_independent:
                old = program.tables.get(k)
                if old is not None and old.proofs is not None and t.proofs is None:
                    continue  # keep the table that can also explain its answers
                program.table_answers += len(t.answers)
                if program.table_answers > limit:  # bound memory: start the shared tables afresh
                    program.tables = {}
                    program.table_answers = len(t.answers)
                program.tables[k] = t

    def _answer(self, goal: tuple[Any, ...], events: Any) -> None:
        t: Table = goal[1]
        lim = self.limits.max_term_nodes
        vals = []
        for a in goal[2]:
            while type(a) is Var:
                r = a.ref
                if r is UNBOUND:
                    break
                a = r
            vals.append(a if type(a) is str else resolve(a, lim))
        ans = tuple(vals)
        k = _ground_key(ans)
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
            nodes = proof_from_events(events, self.program)
            if nodes:
                t.proofs[k] = nodes[0]
        ev = self.evaluation
        if ev is not None:
            for c in t.consumers:
                ev.work.append((c, ans, t))

    # -- explanations -----------------------------------------------------------------------------

    def proof(self) -> list[ProofNode]:
        """The proof of the current solution (queries made with ``proofs=True``)."""
        return proof_from_events(self.events, self.program)

    def proof_json(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The current solution's proof as JSON-ready dicts (``ProofNode.to_dict``), and
        its rule ids, the deciding rule first, each once."""
        return proof_json(self.events, self.program)

    def _exhaust(self, goals: list[Any]) -> Generator[Any, Any, bool]:
        """Sub-run a conjunction to exhaustion; True if it had a proof (then it stops there).
        Requests of the sub-run (pauses, awaits) are passed up to the driver."""
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

    def why_not(
        self, goal: tuple[Any, ...], depth: int = 2
    ) -> Generator[Any, Any, list[WhyNot]]:
        """Generator (drive it like :meth:`run`) whose return value is the "why not" of a
        failing call: for each clause whose head matches, the first body goal that fails
        and the bindings at that point (from the first proof of the goals before it)."""
        _, out = yield from self._clause_pass(goal, depth, False)
        return out

    def prove(self, goal: tuple[Any, ...]) -> Generator[
        Any, Any, tuple[list[dict[str, Any]], list[str]] | None
    ]:
        """The first proof of a call, as :meth:`first` then :meth:`proof_json` give it, by
        the one pass of :meth:`prove_or_why_not` without its "why not" (queries with
        ``proofs=True``); None when the call has no proof."""
        found, _ = yield from self._one_pass(goal, 0, False)
        return found

    def prove_or_why_not(
        self, goal: tuple[Any, ...], depth: int = 2
    ) -> Generator[Any, Any, tuple[tuple[list[dict[str, Any]], list[str]] | None, list[WhyNot]]]:
        """One pass that does the work of :meth:`first` then :meth:`proof_json`, and of
        :meth:`why_not` when there is no proof: ``((proof, rule_ids), [])`` for the first
        proof of the call, in the order a query finds it, or ``(None, why_not)``. A deny
        then costs one search of the call's clauses, not two. (Queries with ``proofs=True``;
        a tabled predicate is asked as a query first.)"""
        return self._one_pass(goal, depth, True)

    def _one_pass(
        self, goal: tuple[Any, ...], depth: int, why: bool
    ) -> Generator[Any, Any, tuple[tuple[list[dict[str, Any]], list[str]] | None, list[WhyNot]]]:
        if (goal[0] == CALL or goal[0] == CALL_RAW) and goal[1].tabled:
            return self._tabled_pass(goal, depth, why)
        return self._clause_pass(goal, depth, True, why)  # the generator itself: one level less

    def _tabled_pass(
        self, goal: tuple[Any, ...], depth: int, why: bool
    ) -> Generator[Any, Any, tuple[tuple[list[dict[str, Any]], list[str]] | None, list[WhyNot]]]:
        trail = self.trail
        mark = len(trail)
        found = yield from self._exhaust([goal])
        if found:
            proof = proof_json(self.events, self.program)
            undo(trail, mark)
            return proof, []
        undo(trail, mark)
        out = (yield from self.why_not(goal, depth)) if why else []
        return None, out

    def _clause_pass(
        self, goal: tuple[Any, ...], depth: int, prove: bool, why: bool = True
    ) -> Generator[Any, Any, tuple[tuple[list[dict[str, Any]], list[str]] | None, list[WhyNot]]]:
        out: list[WhyNot] = []
        if goal[0] != CALL and goal[0] != CALL_RAW:
            return None, out
        pred: Predicate = goal[1]
        args = goal[2]
        trail = self.trail
        if prove and pred.rows:  # a call tries the facts first
            mark = len(trail)
            rows = pred.rows
            for k in _candidates(pred, args):
                if _match(args, rows[k], trail):
                    undo(trail, mark)
                    return ([pred.fact_json(k)], []), out
                undo(trail, mark)
        values: Any = _UNSET  # the call's values, if all strings (for compiled bodies)
        for cc in pred.clauses:
            fast = cc.fast
            if fast is not None:
                if values is _UNSET:
                    values = _string_values(args)
                if values is not None:
                    try:
                        r = fast.run(self, values)
                    except SliceOver:  # the turn the compiled run owed; then interpret it
                        yield PAUSE
                        r = None
                    if r is NO_HEAD:
                        continue
                    if r is not None:  # else the compiled body could not tell: interpret it
                        if r[0]:
                            if not prove:  # this clause proves the goal: not a reason why not
                                continue
                            found = _fast_proof(cc, goal, r[1])
                            if found is not None:
                                return found, []
                        else:
                            if why:
                                failed = _fast_failed_goal(cc, r[1], r[2])
                                nested: list[WhyNot] = []
                                if depth > 0 and failed[1].clauses:
                                    mark = len(trail)
                                    nested = yield from self.why_not(failed, depth - 1)
                                    undo(trail, mark)
                                out.append(_fast_why_not(cc, goal, values, r[1], r[2], failed,
                                                         nested))
                            continue
            mark = len(trail)
            frame: list[Any] = [None] * cc.nvars
            if not unify_head(cc.head, args, frame, trail):
                undo(trail, mark)
                continue
            body = [build_goal(g, frame) for g in cc.body]
            c = cc.clause
            if not body:
                if prove:  # the head as matched proves the call
                    node = _rule_json(cc, _call_text(goal))
                    undo(trail, mark)
                    return ([node], [cc.label]), []
                undo(trail, mark)
                continue
            if not why:  # a proof or nothing: no progress markers
                proved = yield from self._exhaust(body)
                if proved and prove:
                    break
                undo(trail, mark)
                continue
            # One exhaustive run of the body with a marker after each goal: the furthest
            # marker reached is the longest prefix of goals with a proof, so the goal after it
            # is the first that fails; the bindings are those of the first time it was reached.
            progress = _Progress(cc, frame, body, trail)
            goals: list[Any] = []
            for i, g in enumerate(body):
                goals.append(g)
                goals.append((MARK, progress.reached, i, None))
            proved = yield from self._exhaust(goals)
            if proved:
                if not prove:  # this clause proves the goal: not a reason why not
                    undo(trail, mark)
                    continue
                break
            progress.finish()
            head = Struct(pred.name, tuple([resolve(a) for a in args]))  # as the head matched
            undo(trail, mark)
            fg = body[progress.best + 1]
            nested = []
            if depth > 0 and fg[0] == CALL and fg[1].clauses:
                nested = yield from self.why_not(progress.goal, depth - 1)
                undo(trail, mark)
            src = fg[3]
            loc = f"{c.source}:{src.line}:{src.col}" if src is not None else c.location
            out.append(
                WhyNot(
                    rule=c.label,
                    location=c.location,
                    goal=head,
                    failed_goal=progress.text,
                    failed_location=loc,
                    bindings=progress.bindings,
                    nested=nested,
                )
            )
        else:
            return None, out
        # a proof (``break``): its bindings are still live, the head as proved
        node = _rule_json(cc, _call_text(goal))
        children, rules = proof_json(self.events, self.program, top=2)
        if children:
            node["children"] = children
        undo(trail, mark)
        return ([node], [cc.label, *(r for r in rules if r != cc.label)]), []

    def compiled_pass(
        self, goal: tuple[Any, ...], depth: int = 2, why: bool = True
    ) -> tuple[tuple[list[dict[str, Any]], list[str]] | None, list[WhyNot]] | Any:
        """The one pass (:meth:`prove_or_why_not`, or :meth:`prove` without ``why``) as a
        plain call, for a call of strings to a predicate whose clauses are all compiled
        (or ruled out by a constant in their head): no generator, no driver.
        ``NOT_COMPILED`` when it cannot answer alone (not such a call, an interpreted clause
        whose head matches, a table not computed yet, a nested "why not", a run longer than
        a slice): the caller then drives the pass, which starts again."""
        pred: Predicate = goal[1]
        if goal[0] != CALL or not pred.compiled:
            return NOT_COMPILED
        values = _string_values(goal[2])
        if values is None:
            return NOT_COMPILED
        if pred.rows:  # facts first; with strings only, a row matches when it is equal
            rows = pred.rows
            for k in _candidates(pred, values):
                if rows[k] == values:
                    return ([pred.fact_json(k)], []), []
        out: list[WhyNot] = []
        for cc in pred.clauses:
            fast = cc.fast
            if fast is None:  # interpreted: passed over only if its head cannot match
                for j, t in cc.head_consts:
                    if t != values[j]:  # the values are strings: no other term is equal
                        break
                else:
                    return NOT_COMPILED
                continue
            try:
                r = fast.run(self, values)
            except SliceOver:
                self.pause_owed = True
                return NOT_COMPILED
            if r is NO_HEAD:
                continue
            if r is None:
                return NOT_COMPILED
            if r[0]:
                found = _fast_proof(cc, goal, r[1])
                return NOT_COMPILED if found is None else (found, [])
            if why:
                failed = _fast_failed_goal(cc, r[1], r[2])
                if depth > 0 and failed[1].clauses:
                    return NOT_COMPILED
                out.append(_fast_why_not(cc, goal, values, r[1], r[2], failed, []))
        return None, out


NOT_COMPILED: Any = _Signal("NOT_COMPILED")


def _fast_failed_goal(cc: CompiledClause, best: int, bound: tuple[Any, ...]) -> tuple[Any, ...]:
    """The goal a compiled body failed at, with the values its variables had then (a fresh
    variable for each one still unbound)."""
    fg = cc.body[best + 1]
    fresh: dict[int, Var] | None = None
    fargs = []
    for a in fg[2]:
        if type(a) is Slot:
            val = bound[a.i]
            if val is None:
                if fresh is None:
                    fresh = {}
                val = fresh.get(a.i)
                if val is None:
                    val = fresh[a.i] = Var(a.name)
            fargs.append(val)
        else:
            fargs.append(a)
    return (CALL, fg[1], tuple(fargs), fg[3])


def _fast_why_not(
    cc: CompiledClause, goal: tuple[Any, ...], values: tuple[Any, ...], best: int,
    bound: tuple[Any, ...], failed: tuple[Any, ...], nested: list[WhyNot],
) -> WhyNot:
    """The "why not" of a compiled body that failed (see :meth:`Query._clause_pass`): the
    goal after the longest proved prefix, with the variables as they were then. Its JSON is
    made here too: every value is a string, the texts are needed for both."""
    fast = cc.fast
    bindings = {name: bound[i] for name, i in fast.shown[best + 1]}
    name = goal[1].name
    failed_text = _call_text(failed)
    location = fast.locations[best + 1]
    w = WhyNot(cc.label, cc.location, Struct(name, values), failed_text, location, bindings,
               nested)
    d = {"rule": cc.label, "location": cc.location, "goal": shorten(format_call(name, values)),
         "failed_goal": shorten(failed_text), "failed_location": location,
         "bindings": bindings}
    if nested:
        d["because"] = [n.to_dict() for n in nested]
    w._json = d
    return w


_UNSET: Any = object()


def _string_values(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A call's arguments as the strings they are bound to, or None if one is not a string."""
    for a in args:
        if type(a) is not str:
            values = tuple([deref(x) for x in args])
            for v in values:
                if type(v) is not str:
                    return None
            return values
    return args


def _fast_proof(
    cc: CompiledClause, goal: tuple[Any, ...], chosen: tuple[Any, ...]
) -> tuple[list[dict[str, Any]], list[str]] | None:
    """The proof JSON of a compiled body's proof, as :func:`proof_json` makes it from the
    interpreter's events; None if a tabled sub-proof is too deep to show this way."""
    rules = [cc.label]
    children: list[dict[str, Any]] = []
    for g, ch in zip(cc.body, chosen):
        pred: Predicate = g[1]
        if type(ch) is int:
            children.append(pred.fact_json(ch))
            continue
        table, ans = ch
        sub = table.proofs.get(ans) if table.proofs is not None else None
        if sub is None:
            children.append({"goal": shorten(format_call(pred.name, ans)), "kind": "table"})
            continue
        sub_json, sub_rules, height = sub.shared()
        if 2 + height - 1 >= MAX_PROOF_DEPTH:  # level 2: the children of a top rule
            return None
        children.append(sub_json)
        for r in sub_rules:
            if r not in rules:
                rules.append(r)
    node = _rule_json(cc, _call_text(goal))
    node["children"] = children
    return [node], rules


class _Progress:
    """How far a "why not" run got through a clause body (see :meth:`Query._clause_pass`).

    A new furthest point keeps only the bindings made since the head matched (the trail's
    tail and the values it bound), a cheap copy: most runs that reach far end in a proof and
    never need them. A run that fails calls :meth:`finish`, which puts the bindings of the
    furthest point back for a moment and reads the bindings and the failed goal from them."""

    __slots__ = ("best", "body", "cc", "frame", "goal", "refs", "start", "text_now", "trail",
                 "values", "vars")

    def __init__(
        self, cc: CompiledClause, frame: list[Any], body: list[Any], trail: list[Var]
    ) -> None:
        self.cc = cc
        self.frame = frame
        self.body = body
        self.trail = trail
        self.start = len(trail)
        self.best = -1
        self.vars: list[Var] = []
        self.refs: list[Any] = []

    def reached(self, i: int) -> None:
        if i <= self.best:
            return
        self.best = i
        if i + 1 < len(self.body):
            vs = self.vars = self.trail[self.start:]
            self.refs = list(map(_REF, vs))

    def finish(self) -> None:
        """After a run without a proof: the values at the furthest point reached. Undoes the
        run's bindings (the caller undoes the head's next)."""
        undo(self.trail, self.start)
        for v, r in zip(self.vars, self.refs):
            v.ref = r
        try:
            nxt = self.body[self.best + 1]
            self.values = [resolve(v) for v in self.frame]  # None (no value yet) stays
            self.goal = _resolved_goal(nxt)
            # a negation or a disjunction keeps its variables: its text must be made now
            self.text_now = None if nxt[0] in (CALL, BUILTIN) else _goal_text(nxt)
        finally:
            for v in self.vars:
                v.ref = UNBOUND

    @property
    def text(self) -> str:
        return self.text_now if self.text_now is not None else _goal_text(self.goal)

    @property
    def bindings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, val in zip(self.cc.var_names, self.values):
            if val is None or type(val) is Var or name == "_" or not name.startswith("?"):
                continue
            out[name] = val
        return out


_REF = operator.attrgetter("ref")


def _resolved_goal(g: tuple[Any, ...]) -> tuple[Any, ...]:
    if g[0] == CALL or g[0] == BUILTIN:
        return (g[0], g[1], tuple([resolve(a) for a in g[2]]), g[3])
    return g


def _goal_text(goal: tuple[Any, ...]) -> str:
    op = goal[0]
    if op == CALL or op == CALL_RAW or op == BUILTIN:  # noqa: SIM109 - like the others here
        return _call_text(goal)
    if op == NOT:
        return "not (" + ", ".join(_goal_text(g) for g in goal[1]) + ")"
    if op == OR:
        return "(" + " ; ".join(", ".join(_goal_text(g) for g in br) for br in goal[1]) + ")"
    return repr(goal)


def _call_text(goal: tuple[Any, ...]) -> str:
    """A call as ``format_term`` prints it, without building its term."""
    return format_call(goal[1].name, goal[2])


def _rule_json(cc: CompiledClause, goal_text: str) -> dict[str, Any]:
    """A rule's node of a proof's JSON, without its children (``ProofNode.to_dict``)."""
    d: dict[str, Any] = {"goal": shorten(goal_text), "kind": "rule", "rule": cc.label,
                         "location": cc.location}
    description = cc.clause.description
    if description:
        d["description"] = description
    return d


def proof_json(
    events: Any, program: Program, top: int = 1
) -> tuple[list[dict[str, Any]], list[str]]:
    """The proof of a solution as the JSON of ``ProofNode.to_dict`` and its rule ids (the
    deciding rule first, each once), made straight from the events: no tree of nodes and no
    term per goal on the way. ``top`` is the level of its roots in the explanation (2 for
    the body of a rule shown above them). A proof deep enough to be truncated takes the
    tree's path."""
    items = []
    e = events
    while e is not None:
        items.append(e[0])
        e = e[1]
    root: list[dict[str, Any]] = []
    stack: list[list[dict[str, Any]]] = [root]
    rules_open: list[dict[str, Any]] = []
    rules: list[str] = []
    for ev in reversed(items):
        kind = ev[0]
        if kind == "exit":
            if rules_open:
                d = rules_open.pop()
                stack.pop()
                if not d["children"]:
                    del d["children"]
            continue
        goal = ev[1]
        level = len(stack) + top - 1  # of a node added now: ``top`` for the roots
        if kind == "rule":
            if level >= MAX_PROOF_DEPTH:
                return _proof_json_of_tree(events, program, top)
            cc = ev[2]
            d = _rule_json(cc, _call_text(goal))
            children: list[dict[str, Any]] = []
            d["children"] = children
            stack[-1].append(d)
            stack.append(children)
            rules_open.append(d)
            if cc.label not in rules:
                rules.append(cc.label)
        elif kind == "fact":
            stack[-1].append(goal[1].fact_json(ev[2]))  # rows are ground: the call is the row
        elif kind == "builtin":
            stack[-1].append({"goal": shorten(_call_text(goal)), "kind": "builtin"})
        elif kind == "not":
            text = "not (" + ", ".join(_goal_text(g) for g in goal[1]) + ")"
            stack[-1].append({"goal": shorten(text), "kind": "not"})
        elif kind == "answer":
            table: Table = ev[2]
            sub = None
            if table.proofs is not None:
                k = _ground_key(ev[3])  # how _answer keys an answer's proof
                sub = table.proofs.get(k if k is not None else variant_key(ev[3]))
            if sub is None:
                stack[-1].append({"goal": shorten(_call_text(goal)), "kind": "table"})
                continue
            sub_json, sub_rules, height = sub.shared()
            if level + height - 1 >= MAX_PROOF_DEPTH:
                return _proof_json_of_tree(events, program, top)
            stack[-1].append(sub_json)
            for r in sub_rules:
                if r not in rules:
                    rules.append(r)
    return root, rules


def _proof_json_of_tree(
    events: Any, program: Program, top: int
) -> tuple[list[dict[str, Any]], list[str]]:
    nodes = proof_from_events(events, program)
    rules: list[str] = []
    for node in nodes:
        for r in node.rule_ids():
            if r not in rules:
                rules.append(r)
    return [n.to_dict(MAX_PROOF_DEPTH - top + 1) for n in nodes], rules


def proof_from_events(events: Any, program: Program) -> list[ProofNode]:
    """Rebuild proof trees from the persistent event list of a solution."""
    items = []
    while events is not None:
        items.append(events[0])
        events = events[1]
    root: list[ProofNode] = []
    stack: list[list[ProofNode]] = [root]
    for ev in reversed(items):
        kind = ev[0]
        if kind == "exit":
            if len(stack) > 1:
                stack.pop()
            continue
        goal = ev[1]
        if kind == "not":
            text = "not (" + ", ".join(_goal_text(g) for g in goal[1]) + ")"
            stack[-1].append(ProofNode(text, "not", None, None, []))
            continue
        term = Struct(goal[1].name, tuple([resolve(a) for a in goal[2]]))
        if kind == "rule":
            cc: CompiledClause = ev[2]
            node = ProofNode(term, "rule", cc.clause.label, cc.clause.location, [], cc.clause)
            stack[-1].append(node)
            stack.append(node.children)
        elif kind == "fact":
            pred: Predicate = goal[1]
            stack[-1].append(ProofNode(term, "fact", None, pred.row_location(ev[2]), []))
        elif kind == "builtin":
            stack[-1].append(ProofNode(term, "builtin", None, None, []))
        elif kind == "answer":
            table: Table = ev[2]
            sub = table.proofs.get(variant_key(ev[3])) if table.proofs is not None else None
            if sub is not None:
                stack[-1].append(sub)
            else:
                stack[-1].append(ProofNode(term, "table", None, None, []))
    return root


def solution_key(values: dict[str, Any]) -> str:
    """What makes two solutions the same: their values as written (so ``true`` and ``1``
    stay apart, as unification keeps them)."""
    return repr(sorted((n, format_term(v)) for n, v in values.items()))


async def distinct_solutions(q: Query, names: dict[str, Var]) -> AsyncGenerator[dict[str, Any]]:
    """Each distinct binding of the named variables (``_`` left out), resolved, in the order
    found. The query's bindings stay live while the caller holds a solution (for proofs)."""
    visible = {n: v for n, v in names.items() if n != "_"}
    seen: set[str] = set()
    solve = q.solve()
    try:
        async for _ in solve:
            values = {n: resolve(v) for n, v in visible.items()}
            key = solution_key(values)
            if key in seen:
                continue
            seen.add(key)
            yield values
    finally:
        await solve.aclose()


def compile_query(program: Program, items: Any) -> tuple[Any, ...]:
    """Runtime goals for parsed body items; the items' own variables stay the query's."""
    slots: dict[Var, Slot] = {}
    templates = program.compile_body(items, slots)
    frame: list[Any] = [None] * len(slots)
    for var, slot in slots.items():
        frame[slot.i] = var
    return tuple(build_goal(g, frame) for g in templates)


def call_goal(program: Program, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The runtime goal for ``name(args...)`` (a predicate or a built-in)."""
    b = program.builtins.get(name)
    if b is not None:
        return (BUILTIN, b, args, None)
    return (CALL, program.predicate(name, len(args)), args, None)
