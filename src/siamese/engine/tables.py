"""Tabling's data: the key of a tabled call, answer tables, their consumers, and the store
of tables that queries share.

One function, :func:`table_key`, says which table a call uses; the machine calls it, and
compiled code is generated from it (see :mod:`fastpath`), so the two cannot disagree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .terms import _COMPOUND, MAX_TERM_NODES, Struct, Var, deref, key_value, too_big

if TYPE_CHECKING:
    from .program import Predicate, Program

__all__ = [
    "Consumer", "Evaluation", "Table", "ground_key", "publish", "table_key", "var_key",
    "variant_key",
]


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


def ground_key(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The key of a call or answer whose arguments are all bound atoms, else None."""
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


def table_key(
    pred: Predicate, args: tuple[Any, ...], limit: int = MAX_TERM_NODES
) -> tuple[Any, tuple[Any, ...], bool]:
    """The table a call of tabled ``pred`` uses: ``(key, tabled_args, walked)``, where
    ``tabled_args`` is the call the table is evaluated as (see :func:`_abstract`, for the
    predicates the analysis found ``abstractable``) and ``walked`` says that the call was
    walked whole (a term of any size: the caller reads the clock next)."""
    targs = (
        _abstract(args)
        if pred.request_independent and pred.abstractable and len(args) > 1
        else args
    )
    # the two common shapes without a walk: every argument an atom, or the first an atom
    # and the others distinct free variables
    k = ground_key(targs)
    if k is not None:
        return (pred, k), targs, False
    n = len(targs)
    if n < 16:
        a0 = deref(targs[0])
        ta = type(a0)
        if ta is str or ta is int or ta is float or ta is bool:
            rest = [deref(a) for a in targs[1:]]
            if all(type(v) is Var for v in rest) and len(set(map(id, rest))) == n - 1:
                return (pred, (key_value(a0),) + _FREE[n - 1]), targs, False
    return (pred, variant_key(targs, limit)), targs, True


class Table:
    """The answers of one tabled call variant. ``seen`` holds their keys; ``proofs`` (for
    queries that explain) the proof of each answer by key."""

    __slots__ = (
        "answers", "args", "complete", "consumers", "ground", "key", "pred", "proofs", "seen"
    )

    def __init__(self, pred: Predicate, key: Any, args: tuple[Any, ...], proofs: bool) -> None:
        self.pred = pred
        self.key = key
        self.args = args
        self.answers: list[tuple[Any, ...]] = []
        self.seen: set[Any] = set()
        # the calls waiting on it: a list of Consumer while a fixpoint makes it (see
        # Machine._new_table), none for a table that generated code made
        self.consumers: Any = ()
        self.complete = False
        self.ground = True  # every answer ground: a fully bound call is then a set lookup
        # by answer key: a ProofNode, or a pending one (events.EventProof); for a table
        # that generated code made, its proofs made again at the first need (codetables)
        self.proofs: Any = {} if proofs else None


class Consumer:
    """A call waiting on an incomplete table: the call (copied), and its continuation up to
    its producer's ANSWER marker, resumed once per answer."""

    __slots__ = ("args", "cont", "events", "goal")

    def __init__(self, goal: Any, args: tuple[Any, ...], cont: Any, events: Any) -> None:
        self.goal = goal
        self.args = args
        self.cont = cont
        self.events = events


class Evaluation:
    """One fixpoint: the tables it computes and its worklist of (consumer, answer, table)
    tasks (a None consumer: run the table's producer)."""

    __slots__ = ("tables", "work")

    def __init__(self) -> None:
        self.tables: dict[Any, Table] = {}
        self.work: deque[Any] = deque()


def publish(program: Program, tables: Iterable[tuple[Any, Table]], limit: int) -> None:
    """Keep the complete tables (``(key, table)`` pairs) of request-independent calls on
    the program for the next queries, up to ``limit`` answers in all (past it, the shared
    tables start afresh)."""
    for k, t in tables:
        if not t.pred.request_independent:
            continue
        old = program.tables.get(k)
        if old is not None and old.proofs is not None and t.proofs is None:
            continue  # keep the table that can also explain its answers
        program.table_answers += len(t.answers)
        if program.table_answers > limit:
            program.tables = {}
            program.table_answers = len(t.answers)
        program.tables[k] = t
