"""Static analysis of a compiled program: which predicates need tabling, which depend on
the request, and whether negation is stratified."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import PolicySyntaxError
from .goals import BUILTIN, CALL, G_ARGS, G_CALLEE, G_OP, NOT, OR, Slot, TList, TStruct

if TYPE_CHECKING:
    from .program import Predicate, Program


def called(body: tuple[Any, ...], negated: bool = False) -> list[tuple[Any, bool]]:
    """Every (callee, under negation) in a compiled body; callee is a Predicate or a Builtin."""
    out: list[tuple[Any, bool]] = []
    for g in body:
        op = g[G_OP]
        if op in (CALL, BUILTIN):
            out.append((g[G_CALLEE], negated))
        elif op == NOT:
            out.extend(called(g[G_CALLEE], True))
        elif op == OR:
            for branch in g[G_CALLEE]:
                out.extend(called(branch, negated))
    return out


def sccs(nodes: list[Predicate], edges: dict[Predicate, list[Predicate]]) -> list[list[Predicate]]:
    """Tarjan's strongly connected components, iteratively (policies can be deep)."""
    index: dict[Predicate, int] = {}
    low: dict[Predicate, int] = {}
    on_stack: set[Predicate] = set()
    stack: list[Predicate] = []
    out: list[list[Predicate]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            succ = edges.get(v, [])
            if i < len(succ):
                work.append((v, i + 1))
                w = succ[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            for w in succ:
                if w in on_stack:
                    low[v] = min(low[v], low[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w is v:
                        break
                out.append(comp)
    return out


def analyse(program: Program) -> None:
    preds = list(program.predicates.values())
    edges: dict[Predicate, list[Predicate]] = {}
    neg_edges: dict[Predicate, list[Predicate]] = {}
    dependent: set[Predicate] = set()
    for p in preds:
        succ: list[Predicate] = []
        neg: list[Predicate] = []
        for c in p.clauses:
            for callee, negated in called(c.body):
                if hasattr(callee, "clauses"):
                    succ.append(callee)
                    if negated:
                        neg.append(callee)
                elif callee.volatile or callee.request or callee.is_async:
                    dependent.add(p)
        edges[p] = succ
        neg_edges[p] = neg
    for comp in sccs(preds, edges):
        members = set(comp)
        recursive = len(comp) > 1 or comp[0] in edges.get(comp[0], [])
        for p in comp:
            p.tabled = recursive and program.tabling
            for q in neg_edges[p]:
                if q in members:
                    clause = next(
                        cc.clause for cc in p.clauses if (q, True) in called(cc.body)
                    )
                    raise PolicySyntaxError(
                        clause.source,
                        clause.line,
                        clause.col,
                        f"negation through recursion: {p.name}/{p.arity} depends on "
                        f"'not {q.name}/{q.arity}' within its own cycle",
                    )
    # request dependence flows from callees to callers: iterate to a fixpoint
    changed = True
    while changed:
        changed = False
        for p in preds:
            if p in dependent:
                continue
            if any(q in dependent for q in edges[p]):
                dependent.add(p)
                changed = True
    for p in preds:
        p.request_independent = p not in dependent
    abstractable(preds)
    program.input_paths = input_paths(program)


def input_paths(program: Program) -> frozenset[str] | None:
    """Every literal path of an ``input(Path, ?V)`` goal; None if some path is computed."""
    paths: set[str] = set()

    def walk(body: tuple[Any, ...]) -> bool:
        for g in body:
            op = g[G_OP]
            if op == BUILTIN and g[G_CALLEE].name == "input":
                path = g[G_ARGS][0] if g[G_ARGS] else None
                if type(path) is not str:
                    return False
                paths.add(path)
            elif op == NOT or op == OR:  # noqa: SIM109
                branches = (g[G_CALLEE],) if op == NOT else g[G_CALLEE]
                if not all(walk(br) for br in branches):
                    return False
        return True

    for p in program.predicates.values():
        for c in p.clauses:
            if not walk(c.body):
                return None
    return frozenset(paths)


def abstractable(preds: list[Predicate]) -> None:
    """Decide for each predicate whether a call with its first argument bound may be evaluated
    with every other argument free, its answers then filtered by unification (see
    ``tables._abstract``): only when that cannot change what the clauses do. It would when a
    built-in, a negation or a disjunction meets a variable that the call binds and the wider
    call leaves unbound: ``p(?x, ?y) :- d(?x), ?y != b.`` answers ``p(a, c)`` but not
    ``p(a, _)``, and ``?y < 3`` raises on an unbound ``?y``; or when such a variable is passed
    on to a predicate that reads it so. A variable stops mattering once a call to a
    predicate whose answers are all ground has bound it."""
    ground = _ground_answers(preds)
    # the predicates a call may leave any argument free for
    free_safe = greatest(preds, lambda p, safe: all(
        _safe(cc, _head_slots(cc.head), ground, safe) for cc in p.clauses
    ))
    for p in preds:
        p.abstractable = all(
            _safe(cc, _head_slots(cc.head[1:]) - _head_slots(cc.head[:1]), ground, free_safe)
            for cc in p.clauses
        )


def _ground_answers(preds: list[Predicate]) -> set[Predicate]:
    """The predicates whose every answer is ground (the greatest such set): every variable
    of each clause's head occurs in a positive call, at the top of its body, of such a
    predicate. (Ground facts are rows; a fact with a variable is a clause with no body.)"""
    return greatest(preds, lambda p, ground: all(
        _head_slots(cc.head) <= _bound_by_calls(cc.body, ground) for cc in p.clauses
    ))


def greatest(
    preds: list[Predicate], holds: Callable[[Predicate, set[Predicate]], bool]
) -> set[Predicate]:
    """The greatest set of ``preds`` in which ``holds(p, set)`` is true of every ``p``:
    start from all of them and drop those it fails for, until none is dropped."""
    out = set(preds)
    changed = True
    while changed:
        changed = False
        for p in preds:
            if p in out and not holds(p, out):
                out.discard(p)
                changed = True
    return out


def _safe(cc: Any, affected: set[int], ground: set[Predicate], free_safe: set[Predicate]) -> bool:
    """Whether the clause does the same when the variables ``affected`` start unbound
    (instead of bound by the call) as when they start bound, answers filtered afterwards."""
    for g in cc.body:
        slots = _goal_slots(g)
        if g[G_OP] == CALL:
            if slots & affected:
                if g[G_CALLEE] not in free_safe:
                    return False
                if g[G_CALLEE] not in ground:
                    affected |= slots  # may stay unbound, or bind others differently
            if g[G_CALLEE] in ground:
                affected -= slots  # bound, to values the answers are filtered on
        elif slots & affected:
            return False
    return True


def _bound_by_calls(body: tuple[Any, ...], ground: set[Predicate]) -> set[int]:
    out: set[int] = set()
    for g in body:
        if g[G_OP] == CALL and g[G_CALLEE] in ground:
            out |= _goal_slots(g)
    return out


def _head_slots(terms: tuple[Any, ...]) -> set[int]:
    out: set[int] = set()
    for t in terms:
        _slots_in(t, out)
    return out


def _goal_slots(g: tuple[Any, ...]) -> set[int]:
    out: set[int] = set()
    if g[G_OP] in (CALL, BUILTIN):
        for t in g[G_ARGS]:
            _slots_in(t, out)
    elif g[G_OP] == NOT:
        for x in g[G_CALLEE]:
            out |= _goal_slots(x)
    elif g[G_OP] == OR:
        for branch in g[G_CALLEE]:
            for x in branch:
                out |= _goal_slots(x)
    return out


def _slots_in(t: Any, out: set[int]) -> None:
    tt = type(t)
    if tt is Slot:
        out.add(t.i)
    elif tt is TList:
        for x in t.items:
            _slots_in(x, out)
    elif tt is TStruct:
        for x in t.args:
            _slots_in(x, out)
