"""Static analysis of a compiled program: which predicates need tabling, which depend on
the request, and whether negation is stratified."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import PolicySyntaxError
from .fastpath import analyse_fast
from .program import BUILTIN, CALL, NOT, OR

if TYPE_CHECKING:
    from .program import Predicate, Program


def called(body: tuple[Any, ...], negated: bool = False) -> list[tuple[Any, bool]]:
    """Every (callee, under negation) in a compiled body; callee is a Predicate or a Builtin."""
    out: list[tuple[Any, bool]] = []
    for g in body:
        op = g[0]
        if op in (CALL, BUILTIN):
            out.append((g[1], negated))
        elif op == NOT:
            out.extend(called(g[1], True))
        elif op == OR:
            for branch in g[1]:
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
    program.input_paths = input_paths(program)
    analyse_fast(program)


def input_paths(program: Program) -> frozenset[str] | None:
    """Every literal path of an ``input(Path, ?V)`` goal; None if some path is computed."""
    paths: set[str] = set()

    def walk(body: tuple[Any, ...]) -> bool:
        for g in body:
            op = g[0]
            if op == BUILTIN and g[1].name == "input":
                path = g[2][0] if g[2] else None
                if type(path) is not str:
                    return False
                paths.add(path)
            elif (op == NOT and not walk(g[1])) or (op == OR and not all(walk(br) for br in g[1])):
                return False
        return True

    for p in program.predicates.values():
        for c in p.clauses:
            if not walk(c.body):
                return None
    return frozenset(paths)
