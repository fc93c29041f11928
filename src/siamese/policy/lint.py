"""Static checks of a policy set (``siamese check``; the errors also block a reload).

Errors — a set with any of these never serves: arity mismatches between a predicate's
uses, unsafe variables in ``not`` and in comparisons, duplicate ``@id``s, literal
``regex``/``glob`` patterns that evaluation would refuse.
Warnings — reported by ``siamese check``: calls to predicates nothing defines, singleton
variables, rules that can never fire.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..engine import (
    BUILTIN_ARITIES,
    DEFAULT_BUILTINS,
    BodyItem,
    Clause,
    Goal,
    Not,
    Or,
    Predicate,
    Program,
    Struct,
    Var,
    format_term,
)
from ..engine.patterns import check_glob, check_regex
from ..engine.terms import key_value

__all__ = ["BUILTIN_ARITIES", "Finding", "lint"]

# built-ins that test their arguments: every variable in them must already be bound
_TESTS = frozenset({"gt", "gte", "lt", "lte", "neq", "startswith", "endswith", "contains",
                    "glob", "regex", "cidr", "time_between"})
_PATTERN_CHECKS = {"regex": check_regex, "glob": check_glob}
# predicates a decision point asks for itself: never "undefined", never "unused"
ENTRY_POINTS = frozenset({("allow", 3), ("deny", 3), ("response_header", 2)})


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    col: int
    severity: str  # "error" | "warning"
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "line": self.line, "col": self.col,
            "severity": self.severity, "code": self.code, "message": self.message,
        }


def _vars(t: Any) -> Iterator[Var]:
    tt = type(t)
    if tt is Var:
        yield t
    elif tt is tuple:
        for x in t:
            yield from _vars(x)
    elif tt is Struct:
        for x in t.args:
            yield from _vars(x)


def _named(v: Var) -> bool:
    return v.name != "_" and not v.name.startswith("?_")


def _goals(items: Iterable[BodyItem], negated: bool = False) -> Iterator[tuple[Goal, bool]]:
    for item in items:
        if isinstance(item, Goal):
            yield item, negated
        elif isinstance(item, Not):
            yield from _goals(item.body, True)
        elif isinstance(item, Or):
            for branch in item.branches:
                yield from _goals(branch, negated)


def _at(c: Clause, item: Any = None) -> tuple[str, int, int]:
    if item is not None and getattr(item, "line", None):
        return c.source, item.line, item.col
    return c.source, c.line, c.col


def lint(program: Program, errors_only: bool = False) -> list[Finding]:
    out: list[Finding] = []
    clauses = program.items
    out += _arity(program)
    out += _duplicate_ids(clauses)
    for c in clauses:
        out += _safety(c, program)
        out += _patterns(c, program)
    if not errors_only:
        out += _undefined(program)
        for c in clauses:
            out += _singletons(c)
        out += _never_fire(program)
    return sorted(set(out))


def _arity(program: Program) -> list[Finding]:
    found: list[Finding] = []
    uses: dict[str, list[tuple[int, tuple[str, int, int]]]] = defaultdict(list)
    for p in program.predicates.values():
        if p.rows:
            src = p.row_sources[0][1] if p.row_sources else "<input>"
            uses[p.name].append((p.arity, (src, p.row_lines[0] if p.row_lines else 0, 1)))
    for c in program.items:
        uses[c.head.name].append((len(c.head.args), _at(c)))
        for g, _ in _goals(c.body):
            name = g.term.name
            n = len(g.term.args)
            if name in program.builtins:
                fixed = BUILTIN_ARITIES.get(name)
                if fixed is not None and n not in fixed:
                    want = " or ".join(map(str, fixed))
                    found.append(Finding(*_at(c, g), "error", "arity",
                                         f"built-in '{name}' takes {want} arguments, not {n}"))
                continue
            uses[name].append((n, _at(c, g)))
    for name, lst in uses.items():
        arities = Counter(a for a, _ in lst)
        if len(arities) < 2:
            continue
        usual = arities.most_common(1)[0][0]
        listed = " and ".join(str(a) for a in sorted(arities))
        for arity, (src, line, col) in lst:
            if arity != usual:
                found.append(Finding(src, line, col, "error", "arity",
                                     f"'{name}' is used with {listed} arguments "
                                     f"(here {arity}, elsewhere {usual})"))
    return found


def _duplicate_ids(clauses: list[Clause]) -> list[Finding]:
    first: dict[str, Clause] = {}
    out = []
    for c in clauses:
        if not c.id:
            continue
        if c.id in first:
            f = first[c.id]
            out.append(Finding(c.source, c.line, c.col, "error", "duplicate-id",
                               f"duplicate @id(\"{c.id}\"): also at {f.source}:{f.line}"))
        else:
            first[c.id] = c
    return out


def _patterns(c: Clause, program: Program) -> list[Finding]:
    """A literal pattern of ``regex`` or ``glob`` that evaluation would refuse (invalid, or
    too large to compile: see engine/patterns.py) is an error at load time."""
    found: list[Finding] = []
    for g, _ in _goals(c.body):
        name = g.term.name
        check = _PATTERN_CHECKS.get(name)
        if check is None or program.builtins.get(name) is not DEFAULT_BUILTINS[name]:
            continue
        pattern = g.term.args[0] if g.term.args else None
        if type(pattern) is str:
            why = check(pattern)
            if why is not None:
                found.append(Finding(*_at(c, g), "error", "pattern", f"{name}: {why}"))
    return found


def _safety(c: Clause, program: Program) -> list[Finding]:
    out: list[Finding] = []
    bound = {v for v in _vars(c.head) if _named(v)}

    def walk(items: tuple[BodyItem, ...], bound: set[Var]) -> set[Var]:
        for item in items:
            if isinstance(item, Goal):
                t = item.term
                name = t.name
                if name in _TESTS or (name == "is" and len(t.args) == 2):
                    checked = t.args if name in _TESTS else t.args[1:]
                    for v in _vars(checked):
                        if _named(v) and v not in bound:
                            src, line, col = _at(c, item)
                            what = "comparison" if name in _TESTS else "arithmetic"
                            out.append(Finding(src, line, col, "error", "unsafe-variable",
                                               f"unsafe variable {v.name} in {what} '{name}': "
                                               f"bind it in an earlier goal"))
                            bound.add(v)  # report each variable once
                bound |= {v for v in _vars(t) if _named(v)}
            elif isinstance(item, Not):
                for g, _ in _goals(item.body):
                    for v in _vars(g.term):
                        if _named(v) and v not in bound:
                            src, line, col = _at(c, item)
                            out.append(Finding(src, line, col, "error", "unsafe-negation",
                                               f"unsafe variable {v.name} in 'not': bind it in "
                                               f"an earlier goal (or write _ for 'any')"))
                            bound.add(v)
            elif isinstance(item, Or):
                after = [walk(branch, set(bound)) for branch in item.branches]
                bound |= set.intersection(*after) if after else set()
        return bound

    walk(c.body, bound)
    return out


def _undefined(program: Program) -> list[Finding]:
    out = []
    for c in program.items:
        for g, _ in _goals(c.body):
            name = g.term.name
            if name in program.builtins:
                continue
            p = program.predicates.get((name, len(g.term.args)))
            if p is None or not p.defined:
                if any(q.name == name for q in program.predicates.values() if q.defined):
                    continue  # reported as an arity mismatch
                src, line, col = _at(c, g)
                out.append(Finding(src, line, col, "warning", "undefined",
                                   f"'{name}/{len(g.term.args)}' is not defined by any fact or "
                                   f"rule: the goal always fails"))
    return out


def _singletons(c: Clause) -> list[Finding]:
    counts: Counter[Var] = Counter(v for v in _vars(c.head) if _named(v))
    for g, _ in _goals(c.body):
        counts.update(v for v in _vars(g.term) if _named(v))
    out = []
    for v, n in counts.items():
        if n == 1:
            out.append(Finding(c.source, c.line, c.col, "warning", "singleton",
                               f"singleton variable {v.name}: it is used once (write _ if it "
                               f"does not matter)"))
    return out


def _can_match(p: Predicate, args: tuple[Any, ...]) -> bool:
    """Whether some fact of a rules-free predicate has the call's constants."""
    consts = [(i, a) for i, a in enumerate(args) if type(a) in (str, int, float, bool)]
    if not consts:
        return bool(p.rows)

    idx = p.index_on(tuple(i for i, _ in consts))
    key = key_value(consts[0][1]) if len(consts) == 1 else tuple(key_value(a) for _, a in consts)
    return bool(idx.get(key))


def _never_fire(program: Program) -> list[Finding]:
    dead: set[Predicate] = {
        p for p in program.predicates.values() if not p.rows and not p.clauses
    }

    def blocker(c: Clause) -> tuple[Goal, str] | None:
        for item in c.body:
            if not isinstance(item, Goal) or item.term.name in program.builtins:
                continue
            p = program.predicates.get((item.term.name, len(item.term.args)))
            if p is None or p in dead:
                return item, "nothing can prove it"
            if not p.clauses and not _can_match(p, item.term.args):
                return item, "no fact matches it"
        return None

    changed = True
    while changed:
        changed = False
        for p in program.predicates.values():
            if p in dead or p.rows or not p.clauses:
                continue
            if all(blocker(cc.clause) is not None for cc in p.clauses):
                dead.add(p)
                changed = True
    out = []
    for c in program.items:
        if not c.body:
            continue
        b = blocker(c)
        if b is None:
            continue
        g, why = b
        pred = program.predicates.get((g.term.name, len(g.term.args)))
        if pred is None or not pred.defined:
            continue  # reported as undefined
        src, line, col = _at(c, g)

        out.append(Finding(src, line, col, "warning", "never-fires",
                           f"rule {c.label} can never fire: {why}: {format_term(g.term)}"))
    return out
