"""Compiled clause bodies: rules as generated Python.

The machine interprets a clause body goal by goal (a continuation, a choicepoint and a
trail entry per step). Most decision rules are joins over facts and over the tables of
recursive relations, with tests of numbers and of the request: ``allow(?u, ?a, ?r) :-
?a in [read, write], resource_dept(?r, ?d), user_dept(?u, ?d), sensitivity(?r, ?s),
clearance(?u, ?c), ?c >= ?s.`` Such a body is compiled once into nested Python loops
and tests over the same indexes and tables (:mod:`fastgen` says which goals, and how):
bound variables are Python locals, and the point where a failing body got furthest is
kept as it goes (for the "why not"). A call of a non-recursive rule calls that rule's
own generated solutions.

The generated code uses this interface of the machine ``q`` and no other: ``q.steps``
and ``q.next_check`` (read, and written back before it returns, checks or calls other
generated code), ``q.checkpoint()`` (the budget's check: True when the event loop is
owed a turn), ``q.find_table(pred, key)`` (a complete table, or None),
``q.table_now(pred, args)`` (the table evaluated now, by the machine's own fixpoint),
``q.input``, ``q.limits`` and ``q.ctx`` (for built-ins). A tabled goal's key is made by
:func:`~siamese.engine.tables.table_key` itself, evaluated when the code is generated.

A compiled run finds the same first proof as the interpreter (same candidates in the same
order) and fails at the same goal with the same bindings; when it cannot tell (a fixpoint
that must pause, a value that is not an atom) it says so and the interpreter runs
the clause instead. It counts a step per goal and checks the limits and gives the event
loop its turn as the interpreter does. ``Program.compiled = False`` turns it off.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .analysis import greatest
from .fastgen import (
    MAX_NESTING,
    NO_HEAD,
    CannotTell,
    Gen,
    SliceOver,
    Unsupported,
    atom_const,
    head,
    outputs,
)
from .goals import CALL, G_ARGS, G_CALLEE, G_OP, Slot

if TYPE_CHECKING:
    from .program import CompiledClause, Predicate, Program

__all__ = ["FIRST", "MAX_NESTING", "NO_HEAD", "CannotTell", "FastClause", "SliceOver",
           "analyse_fast", "compiled_sources"]


class Compiler:
    """What generating a program's code needs: the tabled predicates whose answers are
    atoms, and the solvers made so far by (predicate, mode). Kept on the program: other
    modes are generated when first needed (a nested "why not")."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.atom_rows = frozenset(
            p for p in program.predicates.values()
            if all(atom_const(v) for row in p.rows for v in row)
        )
        self.atomic_tables = _atomic_tables(program, self.atom_rows)
        self.solvers: dict[tuple[Predicate, frozenset[int]], Solver | None] = {}
        self.tables: dict[tuple[Predicate, frozenset[int], bool], Solver | None] = {}
        # the fact indexes the code generated while finishing looks up (see make_indexes);
        # None after: code generated later makes its own at its first run
        self.needs: list[tuple[Predicate, int | None]] | None = []

    def solver(self, pred: Predicate, mode: frozenset[int], nesting: int) -> Solver | None:
        """The solutions of ``pred`` called with the arguments ``mode`` bound, or None if
        some clause cannot be compiled so."""
        key = (pred, mode)
        made = self.solvers.get(key, _NOT_YET)
        if made is not _NOT_YET:
            return made
        return self._made(self.solvers, key, lambda: _solver_code(self, pred, mode, nesting))

    def table_solver(self, pred: Predicate, mode: frozenset[int],
                     bare: bool = False) -> Solver | None:
        """The solutions of tabled ``pred`` in ``mode``: its table's answers in the order
        the machine's fixpoint finds them when every table they call is complete (see
        :mod:`codetables`); None if it cannot be compiled. ``bare``: the outputs alone."""
        key = (pred, mode, bare)
        made = self.tables.get(key, _NOT_YET)
        if made is not _NOT_YET:  # asked once per table made: no closure made for it
            return made
        return self._made(self.tables, key,
                          lambda: _solver_code(self, pred, mode, 0, tabled=True, bare=bare))

    def _made(self, cache: dict[Any, Solver | None], key: Any,
              code: Callable[[], Gen]) -> Solver | None:
        """The solver to keep under ``key`` (its predicate first), generated now."""
        try:
            gen = code()
        except Unsupported:
            cache[key] = None
        else:
            cache[key] = Solver(key[0], gen)
            self._needs(gen)
        return cache[key]

    def clause(self, cc: CompiledClause, mode: frozenset[int]) -> Gen | None:
        try:
            gen = _clause_code(self, cc, mode)
        except Unsupported:
            return None
        self._needs(gen)
        return gen

    def _needs(self, gen: Gen) -> None:
        if self.needs is not None:
            self.needs.extend(gen.needs)

    def make_code(self) -> None:
        """Turn the code generated so far into functions (a first decision then pays for
        none of it)."""
        for p in self.program.predicates.values():
            for cc in p.clauses:
                if cc.fast is not None:
                    cc.fast.generate()
        for solver in [*self.solvers.values(), *self.tables.values()]:
            if solver is not None:
                solver.make()

    def make_indexes(self) -> None:
        """Make the fact indexes that the code generated so far looks up (once)."""
        for pred, mask in self.needs or ():
            if mask is None:
                pred.ground_lookup()
            else:
                pred.mask_index(mask)
        self.needs = None


_NOT_YET: Any = object()
FIRST = frozenset((0,))  # the mode of a table's common call: its first argument bound


def analyse_fast(program: Program) -> None:
    """Compile the clause bodies that can be (after tabling and request dependence are
    known), with the fact indexes their code looks up: a policy set is loaded off the
    request path, a decision is not. (Other modes are compiled when first needed.)"""
    compiler = Compiler(program) if program.compiled else None
    program.compiler = compiler
    for p in program.predicates.values():
        everything = frozenset(range(p.arity))
        for cc in p.clauses:
            gen = compiler.clause(cc, everything) if compiler is not None else None
            cc.fast = None if gen is None or compiler is None else FastClause(cc, gen, compiler)
        # a clause that is not compiled can still be passed over when a constant of its
        # head rules it out for a call (``allow(?u, "GET", ?p) :- ...`` for other actions)
        p.compiled = program.compiled and bool(p.clauses) and not p.tabled and all(
            cc.fast is not None or cc.head_consts for cc in p.clauses
        )
    if compiler is not None:
        for p in program.predicates.values():
            if p.tabled and p.request_independent and p.abstractable:
                compiler.table_solver(p, FIRST, bare=True)  # the common call of a table
        compiler.make_indexes()
        compiler.make_code()


def _atomic_tables(program: Program, atom_rows: frozenset[Predicate]) -> frozenset[Predicate]:
    """The predicates all of whose answers are atoms (the greatest such set): facts of
    atoms, and rules whose head holds atom constants and variables that each occur in
    a positive call of such a predicate (any proof then binds them to atoms)."""
    preds = [p for p in program.predicates.values() if p in atom_rows]
    return frozenset(greatest(preds, lambda p, ok: all(_atoms_in_head(cc, ok)
                                                       for cc in p.clauses)))


def _atoms_in_head(cc: CompiledClause, ok: set[Predicate]) -> bool:
    covered: set[int] = set()
    for g in cc.body:
        if g[G_OP] == CALL and g[G_CALLEE] in ok:
            covered.update(a.i for a in g[G_ARGS] if type(a) is Slot)
    return all(a.i in covered if type(a) is Slot else atom_const(a) for a in cc.head)


class FastClause:
    """A clause's compiled body for a call with every argument bound, and in other modes on
    demand. ``run(query, args)`` returns ``NO_HEAD``, ``(True, chosen, values)`` -- per
    goal, what proved it (a fact's row index, a (table, answer), a rule's proof, None for
    a built-in or a negation) and the clause's variables -- or ``(False, best, values)``:
    the last goal of the longest proved prefix and the variables then (None where
    unbound). It raises :class:`CannotTell` when the interpreter must run the clause,
    :class:`SliceOver` when the event loop is owed a turn, and the limits' errors."""

    __slots__ = ("cc", "compiler", "gen", "locations", "modes", "run", "shown", "source")

    def __init__(self, cc: CompiledClause, gen: Gen, compiler: Compiler) -> None:
        self.cc = cc
        self.gen = gen
        self.compiler = compiler
        self.shown = gen.shown  # per goal, the named variables bound before it: (name, slot)
        self.run = self._first_run
        self.source: str | None = None  # the generated code, once made
        self.modes: dict[frozenset[int], Any] = {}
        c = cc.clause
        # where each body goal is written: a failed goal's location in the "why not"
        self.locations = [
            f"{c.source}:{g[3].line}:{g[3].col}" if g[3] is not None else c.location
            for g in cc.body
        ]

    def _first_run(self, q: Any, args: tuple[Any, ...]) -> Any:
        self.generate()
        return self.run(q, args)

    def generate(self) -> str:
        """Make the body's code (once) and return its source."""
        if self.source is None:
            self.run, self.source = _exec(self.gen, "run", f"<compiled clause {self.cc.label}>")
        return self.source

    def in_mode(self, mode: frozenset[int]) -> tuple[Any, Any] | None:
        """``(run, shown)`` for a call with only the arguments ``mode`` bound (None for
        arguments unbound), or None if the clause cannot be compiled so."""
        if mode not in self.modes:
            gen = self.compiler.clause(self.cc, mode)
            self.modes[mode] = None if gen is None else (
                _exec(gen, "run", f"<compiled clause {self.cc.label} {sorted(mode)}>")[0],
                gen.shown,
            )
        return self.modes[mode]


class Solver:
    """A predicate's solutions in one mode, as generated code: ``gen(q, args)`` (args
    with None where unbound) yields ``(outputs, proof)`` per solution in the
    interpreter's order; ``proof`` is a fact's row index or ``(clause, chosen, values)``."""

    __slots__ = ("gen", "pred", "source", "text")

    def __init__(self, pred: Predicate, gen: Gen) -> None:
        self.pred = pred
        self.text = gen
        self.source: str | None = None
        self.gen = self._first

    def _first(self, q: Any, args: tuple[Any, ...]) -> Any:
        self.make()
        return self.gen(q, args)

    def make(self) -> None:
        if self.source is None:
            self.gen, self.source = _exec(self.text, "gen", f"<compiled {self.pred.name}/"
                                          f"{self.pred.arity}>")


def _clause_code(compiler: Compiler, cc: CompiledClause, mode: frozenset[int]) -> Gen:
    if not cc.body:
        raise Unsupported("no body")
    gen = Gen(compiler, 0)
    gen.emit("", "def run(q, args):")
    bound: set[int] = set()
    for j in sorted(mode):
        gen.emit("    ", f"a{j} = args[{j}]")
    head(gen, cc, mode, "    ", "return NO_HEAD", bound)
    gen.emit("    ", "steps = q.steps", "nc = q.next_check", "best = -1",
             f"snap = {_values(bound, cc.nvars)}")
    start = len(gen.lines)

    def done(ind: str, chosen: list[str]) -> None:
        gen.emit(ind, "q.steps = steps",
                 f"return (True, {_tuple(chosen)}, {_values(bound, cc.nvars)})")

    gen.body(cc, 0, bound, "    ", [], done, True)
    gen.emit("    ", "q.steps = steps", "return (False, best, snap)")
    gen.lines[start:start] = gen.prelude
    return gen


def _solver_code(compiler: Compiler, pred: Predicate, mode: frozenset[int],
                 nesting: int, tabled: bool = False, bare: bool = False) -> Gen:
    """The solutions' code; ``bare``: yield each answer whole (the call's own values where
    it binds them), no proof: a table's answers are made so, its proofs again when
    needed (see codetables.Rederived)."""
    if pred.tabled is not tabled:
        raise Unsupported("a recursive predicate" if pred.tabled else "not a table")
    gen = Gen(compiler, nesting)
    gen.emit("", "def gen(q, args):")
    for j in sorted(mode):
        gen.emit("    ", f"a{j} = args[{j}]")
    gen.emit("    ", "steps = q.steps", "nc = q.next_check")
    start = len(gen.lines)
    free = [j for j in range(pred.arity) if j not in mode]
    after_yield = ["steps = q.steps", "nc = q.next_check"]
    if pred.rows:  # the facts first
        p = gen.const(pred)
        if free and pred not in compiler.atom_rows:
            raise Unsupported("facts of other than atoms")
        gen.prelude.append(f"    rows = {p}.rows")
        gen.needs.append((pred, sum(1 << j for j in mode) if free and mode else None))
        if not free:
            gen.prelude += [f"    gix = {p}.ground_index", "    if gix is None:",
                            f"        gix = {p}.ground_lookup()"]
            gen.emit("    ", f"k = gix.get({_tuple([f'a{j}' for j in sorted(mode)])})",
                     "if k is not None:", "    q.steps = steps",
                     f"    yield {_whole(mode, pred.arity, {})}" if bare
                     else "    yield ((), k)")
            gen.emit("        ", *after_yield)
        else:
            if mode:
                mask = sum(1 << j for j in mode)
                key = (f"a{min(mode)}" if len(mode) == 1
                       else _tuple([f"a{j}" for j in sorted(mode)]))
                gen.prelude += [f"    ix = {p}.by_mask.get({mask})", "    if ix is None:",
                                f"        ix = {p}.mask_index({mask})"]
                gen.emit("    ", f"for k in ix.get({key}, ()):")
            else:
                gen.emit("    ", "for k in range(len(rows)):")
            row = {j: f"rows[k][{j}]" for j in free}
            gen.emit("        ", "q.steps = steps",
                     f"yield {_whole(mode, pred.arity, row)}" if bare
                     else f"yield ({_tuple(list(row.values()))}, k)", *after_yield)
    for cc in pred.clauses:
        bound: set[int] = set()
        ind = head(gen, cc, mode, "    ", None, bound)
        c = gen.const(cc)

        def done(ind: str, chosen: list[str], cc: CompiledClause = cc, c: str = c,
                 bound: set[int] = bound) -> None:
            out = outputs(gen, cc, mode, bound)
            gen.emit(ind, "q.steps = steps",
                     f"yield {_whole(mode, pred.arity, out)}" if bare else
                     f"yield ({_tuple(list(out.values()))}, ({c}, {_tuple(chosen)}, "
                     f"{_values(bound, cc.nvars)}))",
                     *after_yield)

        gen.loops = 0
        if cc.body:
            gen.body(cc, 0, bound, ind, [], done, False)
        else:
            done(ind, [])
    gen.emit("    ", "q.steps = steps")
    gen.lines[start:start] = gen.prelude
    return gen


def _exec(gen: Gen, name: str, filename: str) -> tuple[Any, str]:
    source = gen.source()
    namespace: dict[str, Any] = dict(gen.consts)
    # the text holds only names made here; values (atoms, predicates) are passed as globals
    exec(compile(source, filename, "exec"), namespace)
    # tracebacks show the generated lines (one entry per name: a reload replaces it)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return namespace[name], source


def compiled_sources(program: Program, name: str, arity: int) -> list[tuple[str, str | None]]:
    """Each clause of ``name/arity`` by label, with the source of its compiled body (None
    for a clause the interpreter runs). KeyError for an unknown predicate."""
    pred = program.predicates[(name, arity)]
    return [(cc.clause.label, cc.fast.generate() if cc.fast is not None else None)
            for cc in pred.clauses]


_FIRST = frozenset((0,))


def _whole(mode: frozenset[int], arity: int, out: dict[int, str]) -> str:
    """The code of an answer: the call's value where it binds an argument, else ``out``'s."""
    return _tuple([f"a{j}" if j in mode else out[j] for j in range(arity)])


def _tuple(items: list[str]) -> str:
    return "(" + "".join(item + ", " for item in items) + ")"


def _values(bound: set[int], nvars: int) -> str:
    """The code of the tuple of the clause's variables, None for those not bound yet."""
    return _tuple([f"v{i}" if i in bound else "None" for i in range(nvars)])
