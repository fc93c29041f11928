"""The code generator of compiled clause bodies (see :mod:`fastpath` for what they are).

A clause is generated for a *mode*: which arguments of its call are bound. Each body goal
becomes code over Python locals (one per clause variable), and the goals nest: a goal
that may have several solutions is a ``for`` loop, a test is an ``if``. Every binding a
compiled goal makes is an *atom* (a string, an integer, a float that is not NaN: the
values on which Python's ``==`` and hashing agree with the engine's unification), so a
variable bound once is a plain value. Where that cannot be known statically -- a value
read from the request, the result of arithmetic -- it is checked at run time, and the
run raises :class:`CannotTell` (the interpreter then runs the clause).

Two shapes are generated from the same goal code:

* ``track``: ``run(q, args)`` for a clause, which returns its first proof or the point
  where the body got furthest (for the "why not"), or ``NO_HEAD``;
* ``gen``: a predicate's solutions in a mode, a generator of ``(outputs, proof)`` (or,
  *bare*, of whole answers: how :mod:`codetables` makes a table): its facts first, then
  each clause in order, as the interpreter tries them. A compiled body calls a
  non-recursive rule through it.

The goals compiled: calls of facts, of request-independent tables (complete, or made on
demand: see :meth:`~siamese.engine.machine.Machine.table_now`; their keys from
:func:`~siamese.engine.tables.table_key`) and of non-recursive rules; the comparisons,
``==``, ``!=``, ``in``, ``is`` and arithmetic; ``input`` with a constant path; the other
deterministic built-ins when their arguments are bound; ``not`` of one call whose
arguments are bound. Anything else makes the clause interpreted (:class:`Unsupported`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .builtins import DEFAULT_BUILTINS, Builtin, evaluate, lookup_path
from .goals import BUILTIN, CALL, G_ARGS, G_CALLEE, G_OP, NOT, Slot, TList, TStruct
from .tables import table_key
from .terms import Struct, Var, from_json

if TYPE_CHECKING:
    from .program import CompiledClause, Predicate

__all__ = ["NO_HEAD", "CannotTell", "Gen", "SliceOver", "Unsupported", "atom_const"]

NO_HEAD: Any = object()  # the call does not match the clause's head
MAX_LOOPS = 18  # CPython nests at most 20 blocks (loops); a deeper body is interpreted
MAX_NESTING = 8  # rule calls inside rule calls, compiled; deeper ones are interpreted

_CMP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_ARITH3 = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}
_SPECIAL = {"eq", "neq", "member", "is", "input", *_CMP, *_ARITH3}


class SliceOver(Exception):
    """A compiled run has used up its slice of the event loop's time: the interpreter runs
    the clause instead, after giving the loop its turn (a compiled run cannot pause)."""


class CannotTell(Exception):
    """A compiled run met what only the interpreter can do (a table inside a fixpoint under
    way, answers that are not ground, a value that is not an atom): the interpreter runs
    the clause instead."""


class Unsupported(Exception):
    """The clause cannot be compiled in this mode (known when generating)."""


def atom_const(t: Any) -> bool:
    """A constant of a clause that compiled code may compare with ``==``."""
    tt = type(t)
    return tt is str or tt is int or (tt is float and t == t)


class Gen:
    """The source of one generated function, with the values it names (never in its
    text: atoms and predicates are passed as globals)."""

    def __init__(self, compiler: Any, nesting: int) -> None:
        self.consts: dict[str, Any] = {
            "SliceOver": SliceOver, "CannotTell": CannotTell, "NO_HEAD": NO_HEAD,
            "EVAL": evaluate, "STRUCT": Struct, "LOOKUP": lookup_path, "FROM_JSON": from_json,
        }
        self._names: dict[int, str] = {}
        self.lines: list[str] = []
        self.prelude: list[str] = []
        self.solver_for = compiler.solver  # (pred, mode, nesting) -> a solver, or None
        self.nesting = nesting
        self.atomic_tables = compiler.atomic_tables  # the predicates whose answers are atoms
        self.atom_rows = compiler.atom_rows  # the predicates whose facts are atoms
        self.uid = 0
        self.loops = 0
        self.shown: list[tuple[tuple[str, int], ...]] = []  # per goal, for the "why not"
        # the fact indexes the code looks up: (predicate, mask), mask None for all bound
        self.needs: list[tuple[Predicate, int | None]] = []

    def const(self, value: Any) -> str:
        key = id(value)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"K{len(self._names)}"
            self.consts[name] = value
        return name

    def emit(self, ind: str, *lines: str) -> None:
        self.lines.extend(ind + line for line in lines)

    def source(self) -> str:
        return "\n".join(self.lines) + "\n"

    # -- pieces ---------------------------------------------------------------------------

    def value(self, a: Any, bound: set[int]) -> str:
        """The code of a bound argument's value (Unsupported for anything else)."""
        if type(a) is Slot:
            if a.i not in bound:
                raise Unsupported("an unbound variable where a value is needed")
            return f"v{a.i}"
        if type(a) is TList:
            return _tuple([self.value(x, bound) for x in a.items])
        if type(a) is TStruct:
            raise Unsupported("a compound term")
        if type(a) is tuple:
            if not all(atom_const(x) for x in a):
                raise Unsupported("a list of other than atoms")
            return self.const(a)
        if not atom_const(a):
            raise Unsupported(f"the constant {a!r}")
        return self.const(a)

    def expr(self, a: Any, bound: set[int]) -> str:
        """The code of an arithmetic expression's term, values substituted (see
        :func:`~siamese.engine.builtins.evaluate`, which the code calls)."""
        if type(a) is TStruct:
            return f"STRUCT({self.const(a.name)}, {_tuple([self.expr(x, bound) for x in a.args])})"
        return self.value(a, bound)

    def step(self, ind: str) -> None:
        """A step per goal, and the budget's check (the machine's, see Budget)."""
        self.emit(ind,
                  "steps += 1",
                  "if steps >= nc:",
                  "    q.steps = steps",
                  "    if q.checkpoint():",
                  "        raise SliceOver",
                  "    nc = q.next_check")

    def cannot_tell(self, ind: str) -> None:
        self.emit(ind, "q.steps = steps", "raise CannotTell")

    def loop(self) -> None:
        self.loops += 1
        if self.loops > MAX_LOOPS:
            raise Unsupported("too many nested loops")

    # -- a clause body --------------------------------------------------------------------

    def body(
        self, cc: CompiledClause, gi: int, bound: set[int], ind: str, chosen: list[str],
        done: Any, track: bool,
    ) -> None:
        """The code of goals ``gi``... of the clause, with ``done(ind, chosen)`` emitted
        where all of them have a proof; ``track``: keep the furthest point reached."""
        body = cc.body
        if gi == len(body):
            done(ind, chosen)
            return
        g = body[gi]
        self.shown.append(tuple((name, i) for i, name in enumerate(cc.var_names)
                                if i in bound and name[0] == "?"))
        self.step(ind)
        op = g[G_OP]
        u = self.uid  # names this goal's locals (unique in the function)
        self.uid += 1
        if op == CALL:
            inner, entry, after = self.call(g, u, bound, ind)
        elif op == BUILTIN:
            inner, entry, after = self.builtin(g, u, bound, ind)
        elif op == NOT:
            inner, entry, after = self.negation(g, u, bound, ind)
        else:
            raise Unsupported("a disjunction")
        if track and gi < len(body) - 1:
            self.emit(inner,
                      f"if best < {gi}:",
                      f"    best = {gi}",
                      f"    snap = {_values(bound, cc.nvars)}")
        self.body(cc, gi + 1, bound, inner, [*chosen, entry], done, track)
        for ind_after, lines in after:
            self.emit(ind_after, *lines)

    def bind(self, ind: str, items: list[tuple[Any, str]], bound: set[int]) -> str:
        """Bind or compare each (template argument, value code): the indentation inside
        the tests of the repeated and the bound ones."""
        for a, code in items:
            if type(a) is Slot and a.i not in bound:
                self.emit(ind, f"v{a.i} = {code}")
                bound.add(a.i)
            else:
                self.emit(ind, f"if {code} == {self.value(a, bound)}:")
                ind += "    "
        return ind

    # -- calls ----------------------------------------------------------------------------

    def call(self, g: tuple[Any, ...], u: int, bound: set[int], ind: str) -> Any:
        pred: Predicate = g[G_CALLEE]
        gargs = g[G_ARGS]
        for a in gargs:
            if type(a) is not Slot:
                self.value(a, bound)  # a constant must be an atom
        bpos = [j for j, a in enumerate(gargs) if type(a) is not Slot or a.i in bound]
        p = self.const(pred)
        if pred.tabled:
            return self.tabled_call(g, u, bound, ind, bpos)
        if pred.clauses:
            return self.rule_call(g, u, bound, ind, bpos)
        if len(bpos) < len(gargs) and pred not in self.atom_rows:
            raise Unsupported("facts of other than atoms")
        rows = f"rows{u}"
        self.prelude.append(f"    {rows} = {p}.rows")
        if len(bpos) == len(gargs):  # one row at most: a lookup, no loop
            self.needs.append((pred, None))
            self.prelude += [f"    gx{u} = {p}.ground_index",
                             f"    if gx{u} is None:",
                             f"        gx{u} = {p}.ground_lookup()"]
            key = _tuple([self.value(a, bound) for a in gargs])
            self.emit(ind, f"k{u} = gx{u}.get({key})", f"if k{u} is not None:")
            return ind + "    ", f"k{u}", []
        self.loop()
        if not bpos:
            self.emit(ind, f"for k{u} in range(len({rows})):")
        else:
            mask = sum(1 << j for j in bpos)
            self.needs.append((pred, mask))
            self.prelude += [f"    ix{u} = {p}.by_mask.get({mask})",
                             f"    if ix{u} is None:",
                             f"        ix{u} = {p}.mask_index({mask})"]
            key = (self.value(gargs[bpos[0]], bound) if len(bpos) == 1
                   else _tuple([self.value(gargs[j], bound) for j in bpos]))
            self.emit(ind, f"for k{u} in ix{u}.get({key}, ()):")
        inner = ind + "    "
        self.emit(inner, f"r{u} = {rows}[k{u}]")
        inner = self.bind(inner, [(a, f"r{u}[{j}]") for j, a in enumerate(gargs)
                                  if j not in bpos], bound)
        return inner, f"k{u}", []

    def tabled_call(
        self, g: tuple[Any, ...], u: int, bound: set[int], ind: str, bpos: list[int]
    ) -> Any:
        pred: Predicate = g[G_CALLEE]
        gargs = g[G_ARGS]
        if not (pred.request_independent and pred.abstractable and pred in self.atomic_tables
                and len(gargs) < 16):
            raise Unsupported("a table of another shape")
        t = f"t{u}"
        self.table(pred, gargs, bound, t, ind)
        self.loop()
        if len(bpos) == len(gargs):
            key = _tuple([self.value(a, bound) for a in gargs])
            # a complete ground table with more than four answers: a set lookup
            self.emit(ind,
                      f"if len({t}.answers) > 4:",
                      f"    it{u} = ({key},) if {key} in {t}.seen else ()",
                      "else:",
                      f"    it{u} = {t}.answers")
        else:
            self.emit(ind, f"it{u} = {t}.answers")
        self.emit(ind, f"for ans{u} in it{u}:")
        # answers are filtered on every argument (the table may be wider than the call)
        inner = self.bind(ind + "    ", [(a, f"ans{u}[{j}]") for j, a in enumerate(gargs)],
                          bound)
        return inner, f"({t}, ans{u})", []

    def table(self, pred: Predicate, gargs: tuple[Any, ...], bound: set[int], t: str,
              ind: str) -> None:
        """Set ``t`` to the complete table of a tabled goal: found, or evaluated now (by the
        machine's fixpoint: the answers in the interpreter's order) for the values of this
        call. A table whose answers are not all ground: the interpreter runs the clause."""
        p = self.const(pred)
        call = _tuple([self.value(a, bound) if type(a) is not Slot or a.i in bound else "None"
                       for a in gargs])
        self.emit(ind, f"k{t} = {self.table_key(pred, gargs, bound)}",
                  f"{t} = q.find_table({p}, k{t})",
                  f"if {t} is None:",
                  "    q.steps = steps",
                  f"    {t} = q.table_now({p}, {call}, k{t})",
                  "    steps = q.steps",
                  "    nc = q.next_check",
                  f"if not {t}.ground:")
        self.cannot_tell(ind + "    ")

    def table_key(self, pred: Predicate, gargs: tuple[Any, ...], bound: set[int]) -> str:
        """The code of the table key of a tabled goal: :func:`table_key` itself, evaluated
        now on the goal with a placeholder string for each value bound at run time (and a
        variable for each free one), whose code then replaces it in the key."""
        codes: dict[int, str] = {}  # id(placeholder) -> the code of its value
        keep: list[str] = []  # the placeholders, alive while their ids are keys
        free: dict[int, Var] = {}
        call: list[Any] = []
        for a in gargs:
            if type(a) is not Slot or a.i in bound:
                ph = "".join(("\x00placeholder ", str(len(keep))))  # a new object
                keep.append(ph)
                codes[id(ph)] = self.value(a, bound)
                call.append(ph)
            else:
                v = free.get(a.i)
                if v is None:
                    v = free[a.i] = Var(a.name)
                call.append(v)
        key, _, _ = table_key(pred, tuple(call))

        def code(x: Any) -> str:
            if type(x) is tuple:
                return _tuple([code(y) for y in x])
            c = codes.get(id(x))
            return c if c is not None else self.const(x)

        return code(key)

    def rule_call(
        self, g: tuple[Any, ...], u: int, bound: set[int], ind: str, bpos: list[int]
    ) -> Any:
        pred: Predicate = g[G_CALLEE]
        gargs = g[G_ARGS]
        if self.nesting >= MAX_NESTING:
            raise Unsupported("rule calls nested too deep")
        solver = self.solver_for(pred, frozenset(bpos), self.nesting + 1)
        if solver is None:
            raise Unsupported(f"{pred.name}/{pred.arity} is not compiled in this mode")
        self.loop()
        args = _tuple([self.value(a, bound) if j in bpos else "None"
                       for j, a in enumerate(gargs)])
        self.emit(ind, "q.steps = steps",
                  f"for s{u} in {self.const(solver)}.gen(q, {args}):")
        inner = ind + "    "
        self.emit(inner, "steps = q.steps", "nc = q.next_check", f"o{u} = s{u}[0]")
        free = [j for j in range(len(gargs)) if j not in bpos]
        inner = self.bind(inner, [(gargs[j], f"o{u}[{k}]") for k, j in enumerate(free)],
                          bound)
        # the solver runs again at the next turn of the loop: the steps so far first
        return inner, f"s{u}[1]", [(ind + "    ", ["q.steps = steps"]),
                                    (ind, ["steps = q.steps", "nc = q.next_check"])]

    # -- built-ins ------------------------------------------------------------------------

    def builtin(self, g: tuple[Any, ...], u: int, bound: set[int], ind: str) -> Any:
        b: Builtin = g[G_CALLEE]
        name = b.name
        args = g[G_ARGS]
        if DEFAULT_BUILTINS.get(name) is not b or b.is_async or b.volatile:
            raise Unsupported(f"the built-in {name}")
        inner = ind + "    "
        if name in _CMP:
            x, y = self.value(args[0], bound), self.value(args[1], bound)
            # values of different types are not ordered: the comparison fails
            self.emit(ind, f"if (type({x}) is str) is (type({y}) is str) and {x} {_CMP[name]} {y}:")
        elif name == "eq" or name == "neq":
            a, c = args
            if name == "eq" and type(a) is Slot and a.i not in bound:
                a, c = c, a
            x = self.value(a, bound)
            if type(c) is Slot and c.i not in bound:
                if name == "neq":
                    raise Unsupported("!= of an unbound variable")
                return self.bind(ind, [(c, x)], bound), "None", []
            self.emit(ind, f"if {x} {'==' if name == 'eq' else '!='} {self.value(c, bound)}:")
        elif name == "member":
            x, lst = args
            if type(lst) is Slot:  # a string or a number there is not a list
                raise Unsupported("in of a list that is a variable")
            items = self.value(lst, bound)
            if type(x) is Slot and x.i not in bound:
                self.loop()
                self.emit(ind, f"for v{x.i} in {items}:")
                bound.add(x.i)
            else:
                self.emit(ind, f"if {self.value(x, bound)} in {items}:")
        elif name == "is" or name in _ARITH3:
            if name == "is":
                target, e = args[0], self.expr(args[1], bound)
            else:
                target = args[2]
                operands = _tuple([self.expr(a, bound) for a in args[:2]])
                e = f"STRUCT({self.const(_ARITH3[name])}, {operands})"
            self.emit(ind, f"x{u} = EVAL({e}, q.limits.max_int_bits)",
                      f"if x{u} != x{u}:")  # NaN: not an atom compiled code can hold
            self.cannot_tell(ind + "    ")
            inner = self.number_into(ind, target, f"x{u}", bound)
            return inner, "None", []
        elif name == "input":
            path, target = args
            if type(path) is not str:
                raise Unsupported("input with a computed path")
            x = f"x{u}"
            self.emit(ind, f"i{u} = q.input", f"if i{u} is not None:",
                      f"    f{u}, {x} = LOOKUP(i{u}, {self.const(path)})",
                      f"    if f{u}:",
                      f"        {x} = FROM_JSON({x})",
                      f"        if not (type({x}) is str or type({x}) is int"
                      f" or (type({x}) is float and {x} == {x})):")
            self.cannot_tell(ind + "            ")
            inner = self.bind(ind + "        ", [(target, x)], bound)
            return inner, "None", []
        else:
            # any other deterministic built-in, its arguments bound: a test
            if not b.det or name in _SPECIAL:
                raise Unsupported(f"the built-in {name}")
            vals = _tuple([self.value(a, bound) for a in args])
            self.emit(ind, f"if {self.const(b)}.fn(q.ctx, {vals}):")
        return inner, "None", []

    def number_into(self, ind: str, target: Any, x: str, bound: set[int]) -> str:
        """Bind ``target`` to the number ``x``, or test that it equals it."""
        if type(target) is Slot and target.i not in bound:
            return self.bind(ind, [(target, x)], bound)
        t = self.value(target, bound)
        self.emit(ind, f"if type({t}) is not str and {t} == {x}:")
        return ind + "    "

    def negation(self, g: tuple[Any, ...], u: int, bound: set[int], ind: str) -> Any:
        goals = g[G_CALLEE]
        if len(goals) != 1 or goals[0][G_OP] != CALL:
            raise Unsupported("not of other than one call")
        ng = goals[0]
        pred: Predicate = ng[G_CALLEE]
        key = _tuple([self.value(a, bound) for a in ng[G_ARGS]])
        p = self.const(pred)
        if pred.tabled:
            if not (pred.request_independent and pred.abstractable):
                raise Unsupported("not of a table of another shape")
            t = f"t{u}"
            self.table(pred, ng[G_ARGS], bound, t, ind)
            self.emit(ind, f"if {key} not in {t}.seen:")
        elif pred.clauses:
            if self.nesting >= MAX_NESTING:
                raise Unsupported("rule calls nested too deep")
            solver = self.solver_for(pred, frozenset(range(pred.arity)), self.nesting + 1)
            if solver is None:
                raise Unsupported(f"{pred.name}/{pred.arity} is not compiled")
            self.emit(ind, "q.steps = steps",
                      f"n{u} = next({self.const(solver)}.gen(q, {key}), None)",
                      "steps = q.steps", "nc = q.next_check", f"if n{u} is None:")
        else:
            self.needs.append((pred, None))
            self.prelude += [f"    gx{u} = {p}.ground_index",
                             f"    if gx{u} is None:",
                             f"        gx{u} = {p}.ground_lookup()"]
            self.emit(ind, f"if {key} not in gx{u}:")
        return ind + "    ", "None", []


# -- the two shapes ---------------------------------------------------------------------------


def head(gen: Gen, cc: CompiledClause, mode: frozenset[int], ind: str, no_head: str | None,
         bound: set[int]) -> str:
    """Match the head against the bound arguments ``a<j>`` (Unsupported for a head that
    binds a variable of the call to another: the interpreter shares variables).
    ``no_head``: the statement when it does not match, or None to nest in an ``if``."""
    seen_free: set[int] = set()
    for j, a in enumerate(cc.head):
        if j not in mode:
            if type(a) is Slot:
                if a.i in seen_free:
                    raise Unsupported("a variable repeated in the head at unbound arguments")
                seen_free.add(a.i)
            elif not atom_const(a):
                raise Unsupported("a head constant that is not an atom")
            continue
        if type(a) is Slot and a.i not in bound:
            gen.emit(ind, f"v{a.i} = a{j}")
            bound.add(a.i)
            continue
        cond = f"a{j} != {gen.value(a, bound)}"
        if no_head is not None:
            gen.emit(ind, f"if {cond}:", f"    {no_head}")
        else:
            gen.emit(ind, f"if not ({cond}):")
            ind += "    "
    if seen_free & bound:
        raise Unsupported("a head variable at bound and unbound arguments")
    return ind


def outputs(gen: Gen, cc: CompiledClause, mode: frozenset[int], bound: set[int]) -> dict[int, str]:
    """The code of the value of each unbound argument of the call, after the body."""
    # Unsupported if the body leaves one unbound
    return {j: gen.value(a, bound) for j, a in enumerate(cc.head) if j not in mode}


def _tuple(items: list[str]) -> str:
    """The code of a tuple of the given expressions (of any length, one included)."""
    return "(" + "".join(item + ", " for item in items) + ")"


def _values(bound: set[int], nvars: int) -> str:
    """The code of the tuple of the clause's variables, None for those not bound yet."""
    return _tuple([f"v{i}" if i in bound else "None" for i in range(nvars)])


