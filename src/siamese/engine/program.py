"""A compiled program: predicates with indexed ground facts and compiled clauses.

Compilation happens once, when a policy set is built (ENGINE-NOTES "Compiling clauses"):
each clause's variables become numbered slots, so the solver never walks a clause's
term tree to rename it; ground facts are stored as tuples in per-predicate tables with
hash indexes built lazily for the argument positions that calls actually bind.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any, cast

from .ast import BodyItem, Clause, FactBlock, Goal, Not, Or, ProgramItem
from .builtins import BUILTIN_ARITIES, DEFAULT_BUILTINS, Builtin
from .errors import EngineError, PolicySyntaxError
from .goals import BUILTIN, CALL, NOT, OR, Slot, TList, TStruct
from .proof import fact_node
from .terms import UNBOUND, JsonMap, Struct, Term, Var, key_tuple, key_value

__all__ = ["CompiledClause", "Predicate", "Program", "candidates"]


class CompiledClause:
    __slots__ = ("body", "clause", "fast", "first_const", "head", "head_consts", "index", "label",
                 "location", "nvars", "var_names")

    def __init__(
        self,
        clause: Clause,
        var_names: list[str],
        head: tuple[Any, ...],
        body: tuple[Any, ...],
        index: int,
    ) -> None:
        self.clause = clause
        self.nvars = len(var_names)
        self.var_names = var_names
        self.head = head
        self.body = body
        self.index = index
        first = head[0] if head else None
        self.first_const = first if type(first) in (str, int, float, bool) else None
        self.fast: Any = None  # the compiled body (see fastpath), set by the analysis
        self.location = clause.location  # made once: explanations name the clause often
        # (position, term) of the head's arguments that are not variables
        self.head_consts = tuple((j, t) for j, t in enumerate(head) if type(t) is not Slot)
        self.label = clause.label


_ATOMIC = (str, int, float, bool)
FACT_JSON_CACHE = 4096  # facts per predicate whose proof JSON is kept (~1.4 MB)


class Counts:
    """What ran a program's decisions, for operators (metrics) and tests: decisions that
    compiled code answered alone and those the interpreter drove, and the clause
    activations the interpreter ran outside and inside table fixpoints."""

    __slots__ = ("compiled", "driven", "interpreted_clauses", "table_clauses")

    def __init__(self) -> None:
        self.compiled = 0
        self.driven = 0
        self.interpreted_clauses = 0
        self.table_clauses = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class Predicate:
    """All clauses of one name/arity: ground facts (``rows``) first, then ``clauses`` in order."""

    __slots__ = (
        "abstractable",
        "arity",
        "by_mask",
        "clauses",
        "compiled",
        "defined",
        "fact_json_cache",
        "ground_index",
        "indexes",
        "name",
        "request_independent",
        "row_lines",
        "row_sources",
        "row_starts",
        "rows",
        "tabled",
    )

    def __init__(self, name: str, arity: int) -> None:
        self.name = name
        self.arity = arity
        self.rows: list[tuple[Any, ...]] = []
        self.row_lines: list[int] = []
        # (first row index, source) segments, so a row's file costs nothing per row
        self.row_sources: list[tuple[int, str]] = []
        self.row_starts: list[int] = []  # the first row index of each segment
        # proof nodes of facts as JSON, made once each (see fact_json)
        self.fact_json_cache: dict[int, dict[str, Any]] = {}
        self.ground_index: dict[tuple[Any, ...], int] | None = None
        self.indexes: dict[tuple[int, ...], dict[Any, list[int]]] = {}
        # the same indexes, by bound-argument bitmask
        self.by_mask: dict[int, dict[Any, list[int]]] = {}
        self.clauses: list[CompiledClause] = []
        self.tabled = False
        # every clause compiled, or ruled out by a head constant (see fastpath.analyse_fast)
        self.compiled = False
        self.request_independent = True
        # a tabled call with its first argument bound may be evaluated with the others free
        # (see tables.table_key and analysis.abstractable)
        self.abstractable = False
        self.defined = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.arity)

    def __repr__(self) -> str:
        return f"<Predicate {self.name}/{self.arity}>"

    def add_rows(self, rows: list[tuple[Any, ...]], lines: list[int], source: str) -> None:
        if not rows:
            return
        self.defined = True
        if not self.row_sources or self.row_sources[-1][1] != source:
            self.row_sources.append((len(self.rows), source))
            self.row_starts.append(len(self.rows))
        self.rows.extend(rows)
        self.row_lines.extend(lines)
        self.ground_index = None
        self.indexes = {}
        self.by_mask = {}
        self.fact_json_cache = {}

    def row_location(self, i: int) -> str:
        k = bisect_right(self.row_starts, i) - 1
        source = self.row_sources[k][1] if k >= 0 else "<input>"
        line = self.row_lines[i] if i < len(self.row_lines) else 0
        return f"{source}:{line}"

    def fact_json(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a node of a proof's JSON (see ``ProofNode.to_dict``), made once per
        row while the row is often asked for: callers must not change it."""
        d = self.fact_json_cache.get(i)
        if d is None:
            if len(self.fact_json_cache) >= FACT_JSON_CACHE:
                self.fact_json_cache = {}
            d = self.fact_json_cache[i] = fact_node(self.name, self.rows[i],
                                                    self.row_location(i))
        return d

    def ground_lookup(self) -> dict[tuple[Any, ...], int]:
        gi = self.ground_index
        if gi is None:
            gi = {}
            for i, row in enumerate(self.rows):
                k = key_tuple(row)
                if k not in gi:
                    gi[k] = i
            self.ground_index = gi
        return gi

    def mask_index(self, mask: int) -> dict[Any, list[int]]:
        """The index on the argument positions set in ``mask`` (bit j: position j), kept by
        mask for the callers that look it up on every call (``by_mask.get(mask)`` first)."""
        idx = self.by_mask.get(mask)
        if idx is None:
            positions = tuple(j for j in range(self.arity) if mask >> j & 1)
            idx = self.by_mask[mask] = self.index_on(positions)
        return idx

    def index_on(self, positions: tuple[int, ...]) -> dict[Any, list[int]]:
        idx = self.indexes.get(positions)
        if idx is None:
            idx = {}
            if len(positions) == 1:
                p = positions[0]
                for i, row in enumerate(self.rows):
                    k = row[p]
                    if type(k) is bool:
                        k = key_value(k)
                    lst = idx.get(k)
                    if lst is None:
                        idx[k] = [i]
                    else:
                        lst.append(i)
            else:
                for i, row in enumerate(self.rows):
                    k = key_tuple(tuple(row[p] for p in positions))
                    lst = idx.get(k)
                    if lst is None:
                        idx[k] = [i]
                    else:
                        lst.append(i)
            self.indexes[positions] = idx
        return idx


class Program:
    """Predicates by (name, arity), built from parsed items. :func:`~siamese.engine.build.finish`
    analyses and compiles it (``ready``); adding items afterwards unfinishes it, and
    queries refuse it until it is finished again. A policy set's program is not changed
    once served.

    ``tables`` holds the answer tables of request-independent tabled predicates that
    queries share (they die with the program, i.e. with its revision).
    """

    def __init__(self, builtins: dict[str, Builtin] | None = None) -> None:
        self.builtins: dict[str, Builtin] = dict(DEFAULT_BUILTINS)
        if builtins:
            self.builtins.update(builtins)
        self.predicates: dict[tuple[str, int], Predicate] = {}
        self.items: list[Clause] = []  # every rule and non-ground fact, for the checker
        self.tables: dict[Any, Any] = {}
        self.table_answers = 0
        self.ready = False  # analysed and compiled (see build.finish): queries may run
        self.tabling = True
        self.compiled = True  # clause bodies run as generated code where they can (fastpath)
        self.compiler: Any = None  # fastpath's, once analysed with compiled code on
        self.counts = Counts()
        # the literal paths that input(Path, ?V) goals read; None when some path is computed
        self.input_paths: frozenset[str] | None = frozenset()

    # --- building ---------------------------------------------------------------

    def predicate(self, name: str, arity: int) -> Predicate:
        key = (name, arity)
        p = self.predicates.get(key)
        if p is None:
            p = self.predicates[key] = Predicate(name, arity)
        return p

    def add_items(self, items: Iterable[ProgramItem]) -> None:
        pending_rows: dict[tuple[str, int], tuple[list[tuple[Any, ...]], list[int], str]] = {}
        for item in items:
            if type(item) is FactBlock:
                if item.name in self.builtins:
                    raise PolicySyntaxError(
                        item.source,
                        item.lines[0] if item.lines else 0,
                        1,
                        f"cannot define built-in predicate '{item.name}'",
                    )
                if item.rows:
                    pred = self.predicate(item.name, len(item.rows[0]))
                    pred.add_rows(item.rows, item.lines, item.source)
                continue
            self.add_clause(cast(Clause, item))  # a FactBlock continued above
        del pending_rows
        self.invalidate()

    def add_clause(self, clause: Clause) -> None:
        head = clause.head
        if clause.head.name in self.builtins:
            raise PolicySyntaxError(
                clause.source,
                clause.line,
                clause.col,
                f"cannot define built-in predicate '{head.name}'",
            )
        pred = self.predicate(head.name, len(head.args))
        pred.defined = True
        if not clause.body and all(_is_ground_const(a) for a in head.args):
            pred.add_rows([tuple(head.args)], [clause.line], clause.source)
        else:
            pred.clauses.append(self._compile(clause, len(pred.clauses)))
            self.items.append(clause)
        self.invalidate()

    def invalidate(self) -> None:
        self.tables = {}
        self.table_answers = 0
        self.ready = False

    def _compile(self, clause: Clause, index: int) -> CompiledClause:
        slots: dict[Var, Slot] = {}
        head = tuple(_template(a, slots) for a in clause.head.args)
        body = tuple(self._compile_item(b, slots, clause.source) for b in clause.body)
        return CompiledClause(clause, [s.name for s in slots.values()], head, body, index)

    def compile_body(self, items: Iterable[BodyItem], slots: dict[Var, Slot]) -> tuple[Any, ...]:
        """Compile a query body; ``slots`` maps the query's variables (extended in place)."""
        return tuple(self._compile_item(b, slots) for b in items)

    def _compile_item(
        self, item: BodyItem, slots: dict[Var, Slot], source: str = "<query>"
    ) -> tuple[Any, ...]:
        if type(item) is Goal:
            t = item.term
            args = tuple(_template(a, slots) for a in t.args)
            b = self.builtins.get(t.name)
            if b is not None:
                fixed = BUILTIN_ARITIES.get(t.name)
                if fixed is not None and len(t.args) not in fixed and b is DEFAULT_BUILTINS.get(
                    t.name
                ):
                    want = " or ".join(map(str, fixed))
                    raise PolicySyntaxError(
                        source, item.line, item.col,
                        f"built-in '{t.name}' takes {want} arguments, not {len(t.args)}",
                    )
                return (BUILTIN, b, args, item)
            return (CALL, self.predicate(t.name, len(t.args)), args, item)
        if type(item) is Not:
            return (NOT, tuple(self._compile_item(b, slots, source) for b in item.body), None, item)
        if type(item) is Or:
            branches = tuple(
                tuple(self._compile_item(b, slots, source) for b in branch)
                for branch in item.branches
            )
            return (OR, branches, None, item)
        raise EngineError(f"not a body item: {item!r}")


def _is_ground_const(t: Any) -> bool:
    tt = type(t)
    if tt is Var:
        return False
    if tt is tuple:
        return all(_is_ground_const(x) for x in t)
    if tt is Struct:
        return all(_is_ground_const(x) for x in t.args)
    return True


def _template(t: Term, slots: dict[Var, Slot]) -> Any:
    tt = type(t)
    if tt is Var:
        s = slots.get(t)
        if s is None:
            s = slots[t] = Slot(len(slots), t.name)
        return s
    if tt is tuple:
        if _is_ground_const(t):
            return t
        return TList(tuple(_template(x, slots) for x in t))
    if tt is Struct:
        if _is_ground_const(t):
            return t
        return TStruct(t.name, tuple(_template(x, slots) for x in t.args))
    if tt is JsonMap:
        return t
    return t


def candidates(pred: Predicate, args: tuple[Any, ...]) -> Any:
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
