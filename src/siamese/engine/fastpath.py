"""Compiled clause bodies: the joins of facts and tables, as generated Python.

The machine interprets a clause body goal by goal (a continuation, a choicepoint and a
trail entry per step). Most decision rules are joins over facts and over the tables of
recursive relations -- ``allow(?u, ?a, ?r) :- resource_type(?r, ?t), has_role(?u, ?role),
role_includes(?role, ?sub), permission(?sub, ?a, ?t).`` For such a clause, whose every goal
calls a fact predicate or a request-independent tabled predicate with atoms and variables
as arguments, and whose values are all strings, the body is compiled once into nested
Python loops over the same indexes and tables: bound variables are Python locals, and
the point where a failing body got furthest is kept as it goes (for the "why not").

The generated ``run(q, args)`` uses this interface of the machine ``q`` and no other:
``q.steps`` and ``q.next_check`` (read, and written back before it returns or checks),
``q.checkpoint()`` (the budget's check: True when the event loop is owed a turn) and
``q.find_table(pred, key)`` (a complete table, or None). A tabled goal's key is made by
:func:`~siamese.engine.tables.table_key` itself, evaluated when the code is generated on
placeholders for the goal's values (see :func:`_tabled_key`).

A compiled run finds the same first proof as the interpreter (same candidates in the same
order) and fails at the same goal with the same bindings; when it cannot tell (a table
not computed yet, an argument that is not a string) it says so and the interpreter runs
the clause instead. It counts a step per goal and checks the limits and gives the event
loop its turn as the interpreter does. ``Program.compiled = False`` turns it off.
"""

from __future__ import annotations

import linecache
from typing import TYPE_CHECKING, Any

from .analysis import greatest
from .goals import CALL, G_ARGS, G_CALLEE, G_OP, G_SRC, Slot
from .tables import table_key
from .terms import Var

if TYPE_CHECKING:
    from .program import CompiledClause, Predicate, Program

__all__ = ["NO_HEAD", "FastClause", "SliceOver", "analyse_fast", "compiled_sources"]

MAX_GOALS = 16  # CPython nests at most 20 blocks; a longer body is interpreted

NO_HEAD: Any = object()  # the call does not match the clause's head


class SliceOver(Exception):
    """A compiled run has used up its slice of the event loop's time: the interpreter runs
    the clause instead, after giving the loop its turn (a compiled run cannot pause)."""


def _str_rows(p: Predicate) -> bool:
    for row in p.rows:
        for v in row:
            if type(v) is not str:
                return False
    return True


def _string_valued(program: Program) -> set[Predicate]:
    """Predicates all of whose answers hold strings only (the greatest such set): facts of
    strings, and rules whose head holds string constants and variables that each occur in
    a positive call of such a predicate (any proof then binds them to strings)."""
    preds = [p for p in program.predicates.values() if _str_rows(p)]
    return greatest(preds, lambda p, strs: all(_strings_in_head(cc, strs) for cc in p.clauses))


def _strings_in_head(cc: CompiledClause, strs: set[Predicate]) -> bool:
    covered: set[int] = set()
    for g in cc.body:
        if g[G_OP] == CALL and g[G_CALLEE] in strs:
            covered.update(a.i for a in g[G_ARGS] if type(a) is Slot)
    for a in cc.head:
        if type(a) is Slot:
            if a.i not in covered:
                return False
        elif type(a) is not str:
            return False
    return True


def analyse_fast(program: Program) -> None:
    """Mark the clauses whose bodies can be compiled (after tabling and request dependence
    are known)."""
    strs = _string_valued(program) if program.compiled else set()
    for p in program.predicates.values():
        for cc in p.clauses:
            cc.fast = FastClause(cc) if strs and _compilable(cc, strs) else None
        # a clause that is not compiled can still be passed over when a constant of its
        # head rules it out for a call (``allow(?u, "GET", ?p) :- ...`` for other actions)
        p.compiled = program.compiled and bool(p.clauses) and not p.tabled and all(
            cc.fast is not None or cc.head_consts for cc in p.clauses
        )


def _compilable(cc: CompiledClause, strs: set[Predicate]) -> bool:
    if not cc.body or len(cc.body) > MAX_GOALS:
        return False
    if not all(type(a) is Slot or type(a) is str for a in cc.head):
        return False
    for g in cc.body:
        if g[G_OP] != CALL:
            return False
        p: Predicate = g[G_CALLEE]
        if p not in strs:
            return False
        if p.tabled:
            if not p.request_independent or not p.abstractable or len(g[G_ARGS]) >= 16:
                return False  # a table of the common shapes (see tables.table_key)
        elif p.clauses:
            return False
        if not all(type(a) is Slot or type(a) is str for a in g[G_ARGS]):
            return False
    return True


class FastClause:
    """A clause's compiled body, generated at its first use. ``run(query, args)`` returns
    ``NO_HEAD``, None (the interpreter must run this call), ``(True, chosen)`` -- per goal,
    the fact's row index or the (table, answer) it used -- or ``(False, best, values)``: the
    last goal of the longest proved prefix and the clause's variables then (None where
    unbound). It raises :class:`SliceOver` when the event loop is owed a turn, and the
    limits' errors."""

    __slots__ = ("cc", "locations", "run", "shown", "source")

    def __init__(self, cc: CompiledClause) -> None:
        self.cc = cc
        self.run = self._first_run
        self.source: str | None = None  # the generated code, once generated
        c = cc.clause
        # where each body goal is written: a failed goal's location in the "why not"
        self.locations = [
            f"{c.source}:{g[G_SRC].line}:{g[G_SRC].col}" if g[G_SRC] is not None else c.location
            for g in cc.body
        ]
        # for a failure at each goal, the named variables bound by then (name, slot): the
        # bindings a "why not" shows (the head's, and those of the goals before it)
        bound = {a.i for a in cc.head if type(a) is Slot}
        self.shown: list[tuple[tuple[str, int], ...]] = []
        for g in cc.body:
            self.shown.append(tuple(
                (name, i) for i, name in enumerate(cc.var_names)
                if i in bound and name[0] == "?"
            ))
            bound.update(a.i for a in g[G_ARGS] if type(a) is Slot)

    def _first_run(self, q: Any, args: tuple[Any, ...]) -> Any:
        self.generate()
        return self.run(q, args)

    def generate(self) -> str:
        """Generate the body's code (once) and return its source."""
        if self.source is None:
            self.run, self.source = _generate(self.cc)
        return self.source


def _generate(cc: CompiledClause) -> tuple[Any, str]:
    consts: dict[str, Any] = {"SliceOver": SliceOver, "NO_HEAD": NO_HEAD}
    names: dict[int, str] = {}

    def const(value: Any) -> str:
        """A name for a value in the generated code (values never enter its text)."""
        key = id(value)
        name = names.get(key)
        if name is None:
            name = names[key] = f"K{len(names)}"
            consts[name] = value
        return name

    def v(i: int) -> str:
        return f"v{i}"

    lines: list[str] = ["def run(q, args):"]
    ind = "    "
    nvars = cc.nvars
    bound: set[int] = set()  # the call's arity is the predicate's: no check of len(args)
    for j, a in enumerate(cc.head):
        lines.append(f"{ind}a{j} = args[{j}]")
        if type(a) is Slot:
            if a.i in bound:
                lines.append(f"{ind}if a{j} != {v(a.i)}:")
                lines.append(f"{ind}    return NO_HEAD")
            else:
                lines.append(f"{ind}{v(a.i)} = a{j}")
                bound.add(a.i)
        else:
            lines.append(f"{ind}if a{j} != {const(a)}:")
            lines.append(f"{ind}    return NO_HEAD")
    lines += [
        f"{ind}steps = q.steps",
        f"{ind}nc = q.next_check",
        f"{ind}best = -1",
        f"{ind}snap = {_values(bound, nvars)}",
    ]
    last = len(cc.body) - 1
    chosen: list[str] = []
    prelude: list[str] = []
    body_start = len(lines)

    def value_of(a: Any) -> str:
        return v(a.i) if type(a) is Slot else const(a)

    for gi, g in enumerate(cc.body):
        pred: Predicate = g[G_CALLEE]
        gargs = g[G_ARGS]
        p = const(pred)
        lines += [
            f"{ind}steps += 1",
            f"{ind}if steps >= nc:",
            f"{ind}    q.steps = steps",
            f"{ind}    if q.checkpoint():",
            f"{ind}        raise SliceOver",
            f"{ind}    nc = q.next_check",
        ]
        bound_pos = [j for j, a in enumerate(gargs) if type(a) is not Slot or a.i in bound]
        # free positions: the first occurrence of a variable binds it, a repeat compares
        first_free: dict[int, int] = {}
        binds: list[tuple[int, int]] = []  # (position, slot)
        repeats: list[tuple[int, int]] = []  # (position, earlier position)
        for j, a in enumerate(gargs):
            if j in bound_pos:
                continue
            if a.i in first_free:
                repeats.append((j, first_free[a.i]))
            else:
                first_free[a.i] = j
                binds.append((j, a.i))
        all_bound = len(bound_pos) == len(gargs)
        if pred.tabled:
            tk = _tabled_key(pred, gargs, bound, const, value_of)
            t = f"t{gi}"
            lines += [
                f"{ind}{t} = q.find_table({p}, {tk})",
                f"{ind}if {t} is None or not {t}.ground:",
                f"{ind}    q.steps = steps",
                f"{ind}    return None",
                f"{ind}if {t}.answers:",
            ]
            body_ind = ind + "    "
            if all_bound:
                key = _tuple_code([value_of(a) for a in gargs])
                # a complete ground table with more than four answers: a set lookup
                lines += [
                    f"{body_ind}if len({t}.answers) > 4:",
                    f"{body_ind}    it{gi} = ({key},) if {key} in {t}.seen else ()",
                    f"{body_ind}else:",
                    f"{body_ind}    it{gi} = {t}.answers",
                ]
            else:
                lines.append(f"{body_ind}it{gi} = {t}.answers")
            lines.append(f"{body_ind}for ans{gi} in it{gi}:")
            inner = body_ind + "    "
            row = f"ans{gi}"
            chosen.append(f"({t}, ans{gi})")
        else:
            # the rows and the index of a fact goal are fetched once, before the loops
            rows = f"rows{gi}"
            prelude.append(f"    {rows} = {p}.rows")
            if all_bound:  # one row at most: a lookup, no loop
                key = _tuple_code([value_of(a) for a in gargs])
                prelude += [
                    f"    gi{gi} = {p}.ground_index",
                    f"    if gi{gi} is None:",
                    f"        gi{gi} = {p}.ground_lookup()",
                ]
                lines += [
                    f"{ind}k{gi} = gi{gi}.get({key})",
                    f"{ind}if k{gi} is not None:",
                ]
            elif not bound_pos:
                lines.append(f"{ind}for k{gi} in range(len({rows})):")
            else:
                mask = sum(1 << j for j in bound_pos)
                key = (
                    value_of(gargs[bound_pos[0]]) if len(bound_pos) == 1
                    else _tuple_code([value_of(gargs[j]) for j in bound_pos])
                )
                prelude += [
                    f"    ix{gi} = {p}.by_mask.get({mask})",
                    f"    if ix{gi} is None:",
                    f"        ix{gi} = {p}.mask_index({mask})",
                ]
                lines.append(f"{ind}for k{gi} in ix{gi}.get({key}, ()):")
            inner = ind + "    "
            row = f"r{gi}"
            lines.append(f"{inner}{row} = {rows}[k{gi}]")
            chosen.append(f"k{gi}")
        if pred.tabled:
            # answers are filtered on the bound arguments (the table may be wider)
            for j in bound_pos:
                lines += [f"{inner}if {row}[{j}] != {value_of(gargs[j])}:",
                          f"{inner}    continue"]
        for j, earlier in repeats:
            lines += [f"{inner}if {row}[{j}] != {row}[{earlier}]:", f"{inner}    continue"]
        for j, slot in binds:
            lines.append(f"{inner}{v(slot)} = {row}[{j}]")
            bound.add(slot)
        if gi < last:
            lines += [
                f"{inner}if best < {gi}:",
                f"{inner}    best = {gi}",
                f"{inner}    snap = {_values(bound, nvars)}",
            ]
        ind = inner
    lines += [f"{ind}q.steps = steps", f"{ind}return (True, ({', '.join(chosen)},))"]
    lines += ["    q.steps = steps", "    return (False, best, snap)"]
    lines[body_start:body_start] = prelude
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(consts)
    # the text holds only names made here; values (atoms, predicates) are passed as globals
    filename = f"<compiled clause {cc.clause.label}>"
    exec(compile(source, filename, "exec"), namespace)
    # tracebacks show the generated lines (one entry per clause label: a reload replaces it)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace["run"], source


def compiled_sources(program: Program, name: str, arity: int) -> list[tuple[str, str | None]]:
    """Each clause of ``name/arity`` by label, with the source of its compiled body (None
    for a clause the interpreter runs). KeyError for an unknown predicate."""
    pred = program.predicates[(name, arity)]
    return [(cc.clause.label, cc.fast.generate() if cc.fast is not None else None)
            for cc in pred.clauses]


def _tuple_code(items: list[str]) -> str:
    """The code of a tuple of the given expressions (of any length, one included)."""
    return "(" + "".join(item + ", " for item in items) + ")"


def _values(bound: set[int], nvars: int) -> str:
    """The code of the tuple of the clause's variables, None for those not bound yet."""
    return _tuple_code([f"v{i}" if i in bound else "None" for i in range(nvars)])


def _tabled_key(pred: Predicate, gargs: tuple[Any, ...], bound: set[int], const: Any,
                value_of: Any) -> str:
    """The code of the table key of a tabled goal: :func:`~siamese.engine.tables.table_key`
    evaluated now on the goal with a placeholder string for each value bound at run time
    (and a variable for each free one), whose code then replaces it in the key. The
    compiled call uses the table the interpreter would (their values are strings)."""
    codes: dict[int, str] = {}  # id(placeholder) -> the code of its value
    placeholders: list[str] = []  # kept alive while their ids are keys
    free: dict[int, Var] = {}
    call: list[Any] = []
    for a in gargs:
        if type(a) is not Slot or a.i in bound:
            ph = "".join(("\x00placeholder ", str(len(placeholders))))  # a new object
            placeholders.append(ph)
            codes[id(ph)] = value_of(a)
            call.append(ph)
        else:
            v = free.get(a.i)
            if v is None:
                v = free[a.i] = Var(a.name)
            call.append(v)
    key, _, _ = table_key(pred, tuple(call))

    def code(x: Any) -> str:
        if type(x) is tuple:
            return _tuple_code([code(y) for y in x])
        c = codes.get(id(x))
        return c if c is not None else const(x)

    return code(key)
