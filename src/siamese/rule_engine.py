"""``RuleEngine``: the Python API of the original siamese-prototype engine, on the new solver.

Code written for the original keeps working: ``add_fact``, ``add_rule``,
``load_from_file`` (now any policy format, chosen by extension), ``query`` (an async
generator of ``{'?Var': value}`` dicts, duplicates removed as before), ``query_one``,
``exists`` and ``configure_logging``. New: ``load_text``, ``load_directory``, limits,
the sync ``ask``/``solve`` for scripts, and proofs (``prove``) and "why not" (``why_not``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from pathlib import Path
from typing import Any

from .engine import (
    BodyItem,
    Builtin,
    Clause,
    EngineError,
    Goal,
    Limits,
    Not,
    Or,
    Program,
    ProofNode,
    Query,
    Struct,
    Var,
    WhyNot,
    call_goal,
    compile_query,
    custom,
    distinct_solutions,
    finish,
    from_json,
    parse_goals,
    parse_source,
    resolve,
    solution_key,
    to_json,
)

log = logging.getLogger("siamese")

__all__ = ["RuleEngine"]


class RuleEngine:
    def __init__(
        self,
        builtins: dict[str, Any] | None = None,
        *,
        max_depth: int = 1000,
        max_solutions: int = 100_000,
        max_steps: int = 1_000_000,
        timeout_ms: float | None = 5000.0,
        tabling: bool = True,
        compiled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        wrapped: dict[str, Builtin] = {}
        for name, fn in (builtins or {}).items():
            wrapped[name] = fn if isinstance(fn, Builtin) else custom(fn, name)
        self.program = Program(wrapped)
        self.program.tabling = tabling
        self.program.compiled = compiled
        self.limits = Limits(
            max_depth=max_depth,
            max_solutions=max_solutions,
            max_steps=max_steps,
            timeout_ms=timeout_ms,
        )
        self.clock = clock
        self.wall_clock = wall_clock

    # -- logging ----------------------------------------------------------------------

    def configure_logging(self, level: str | int = "INFO", sink: Any = sys.stderr) -> None:
        """Send the ``siamese`` logger's records at ``level`` and above to ``sink``."""
        log.handlers.clear()
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-8s | %(message)s"))
        log.addHandler(handler)
        log.setLevel(level if isinstance(level, int) else level.upper())

    # -- knowledge ----------------------------------------------------------------------

    def add_fact(self, name: str, *args: Any) -> None:
        names: dict[str, Var] = {}
        self.program.add_clause(Clause(Struct(name, tuple(_term(a, names) for a in args)),
                                       source="<api>"))

    def add_rule(self, head: tuple[Any, ...] | list[Any], body: Iterable[Any]) -> None:
        names: dict[str, Var] = {}
        h = _term(tuple(head), names)
        if not isinstance(h, Struct):
            raise EngineError(f"rule head must be a predicate, got {head!r}")
        items = tuple(_body_item(g, names) for g in body)
        self.program.add_clause(Clause(h, items, source="<api>"))

    def load_text(self, text: str, source: str = "<text>") -> None:
        self.program.add_items(parse_source(text, source))
        finish(self.program)

    def load_from_file(self, filepath: str | Path) -> None:
        path = Path(filepath)
        log.info("loading %s", path)
        self.program.add_items(parse_source(path.read_text(encoding="utf-8"), str(path)))
        finish(self.program)

    def load_directory(self, root: str | Path) -> str:
        """Load every policy file under ``root``; returns the policy set's revision."""
        from .policy.loader import revision_of, scan

        files, _ = scan(root)
        for f in files:
            self.program.add_items(parse_source(f.data.decode("utf-8"), f.path, f.kind))
        finish(self.program)
        return revision_of(files)

    # -- queries ------------------------------------------------------------------------

    def _query(self, goals: tuple[Any, ...], proofs: bool = False, input: Any = None,
               limits: Limits | None = None) -> Query:
        program = self.program
        if not program.ready:  # changed since: analysed and compiled again
            finish(program)
        return Query(program, goals, limits=limits or self.limits, clock=self.clock,
                     wall_clock=self.wall_clock, input=input, proofs=proofs)

    def goal(self, name: str, *args: Any) -> tuple[tuple[Any, ...], dict[str, Var]]:
        names: dict[str, Var] = {}
        return (call_goal(self.program, name, tuple(_term(a, names) for a in args)),), names

    def parse_goal(self, text: str) -> tuple[tuple[Any, ...], dict[str, Var]]:
        """Runtime goals and named variables for a text-syntax query such as
        ``ancestor(?a, grace), not suspended(?a)``."""
        items, names = parse_goals(text)
        return compile_query(self.program, items), names

    async def query(
        self, name: str, *args: Any, max_solutions: int = -1,
        max_depth: int | None = None, input: Any = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        goals, names = self.goal(name, *args)
        async for sol in self._solutions(goals, names, max_solutions, max_depth, input):
            yield sol

    async def query_text(self, text: str, max_solutions: int = -1,
                         input: Any = None) -> AsyncGenerator[dict[str, Any], None]:
        goals, names = self.parse_goal(text)
        async for sol in self._solutions(goals, names, max_solutions, None, input):
            yield sol

    async def _solutions(self, goals: tuple[Any, ...], names: dict[str, Var], max_solutions: int,
                         max_depth: int | None, input: Any) -> AsyncGenerator[dict[str, Any], None]:
        limits = self.limits
        if max_depth is not None:
            limits = Limits(**{**limits.__dict__, "max_depth": max_depth})
        q = self._query(goals, input=input, limits=limits)
        count = 0
        solutions = distinct_solutions(q, names)
        try:
            async for values in solutions:
                yield {n: to_json_value(v) for n, v in values.items()}
                count += 1
                if max_solutions != -1 and count >= max_solutions:
                    return
        finally:
            await solutions.aclose()

    async def query_one(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        agen = self.query(name, *args, max_solutions=1, **kwargs)
        try:
            async for sol in agen:
                return sol
            return None
        finally:
            await agen.aclose()

    async def exists(self, name: str, *args: Any, input: Any = None) -> bool:
        goals, _ = self.goal(name, *args)
        return await self._query(goals, input=input).first()

    def ask(self, name: str, *args: Any, input: Any = None) -> bool:
        """Synchronous ``exists`` (for scripts and benchmarks; no async built-ins)."""
        if all(type(a) is str and a[:1] not in ("?", "_") for a in args):
            goal = call_goal(self.program, name, args)  # plain atoms: nothing to convert
        else:
            goal = self.goal(name, *args)[0][0]
        program = self.program
        if not program.ready:
            finish(program)
        return Query(program, (goal,), limits=self.limits, clock=self.clock,
                     wall_clock=self.wall_clock, input=input).first_sync()

    def solve(self, text: str, input: Any = None, limit: int = -1) -> list[dict[str, Any]]:
        """Synchronous: every solution of a text-syntax query (duplicates removed)."""
        goals, names = self.parse_goal(text)
        q = self._query(goals, input=input)
        visible = {n: v for n, v in names.items() if n != "_"}
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in q.solve_sync():
            values = {n: resolve(v) for n, v in visible.items()}
            key = solution_key(values)
            if key not in seen:
                seen.add(key)
                out.append({n: to_json_value(v) for n, v in values.items()})
                if limit != -1 and len(out) >= limit:
                    break
        return out

    async def prove(self, name: str, *args: Any, input: Any = None) -> list[ProofNode] | None:
        """The proof tree of the first solution, or None when there is none."""
        goals, _ = self.goal(name, *args)
        q = self._query(goals, proofs=True, input=input)
        agen = q.solve()
        try:
            async for _ in agen:
                return q.proof()
            return None
        finally:
            await agen.aclose()

    async def why_not(self, name: str, *args: Any, input: Any = None) -> list[WhyNot]:
        goals, _ = self.goal(name, *args)
        q = self._query(goals, input=input)
        return list(await q.drive(q.why_not(goals[0])) or [])


def to_json_value(v: Any) -> Any:
    """A solution value for API callers: lists as Python lists, objects as dicts, compound
    terms as Structs (which have the original Term's ``name`` and ``args``)."""
    v = resolve(v)
    return v if type(v) is Struct else to_json(v)


def _term(value: Any, names: dict[str, Var]) -> Any:
    """A Python value of the original API as a term: '?X' is a variable, a tuple whose
    first item is a string a compound term (as the original engine built them), a list
    a list, a dict a JSON object."""
    if isinstance(value, str):
        if value == "_":
            return Var("_")
        if value.startswith("?"):
            v = names.get(value)
            if v is None:
                v = names[value] = Var(value)
            return v
        return value
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return Struct(value[0], tuple(_term(a, names) for a in value[1:]))
    if isinstance(value, (list, tuple)):
        return tuple(_term(a, names) for a in value)
    if isinstance(value, dict):
        return from_json(value)
    if value is None:
        return "null"
    return value


def _body_item(goal: Any, names: dict[str, Var]) -> BodyItem:
    """A body goal of the original API: ('name', args...), ('not', goal),
    ('or', goal_or_conjunction, ...), ('and', goal, ...)."""
    if isinstance(goal, (list, tuple)) and goal and isinstance(goal[0], str):
        head = goal[0]
        if head == "not" and len(goal) == 2:
            return Not(_conjunction(goal[1], names))
        if head == "or":
            return Or(tuple(_conjunction(g, names) for g in goal[1:]))
        if head == "and":
            return Or((tuple(_body_item(g, names) for g in goal[1:]),))
        t = _term(tuple(goal), names)
        return Goal(t)
    raise EngineError(f"body goal must be a tuple ('name', args...), got {goal!r}")


def _conjunction(g: Any, names: dict[str, Var]) -> tuple[BodyItem, ...]:
    if isinstance(g, (list, tuple)) and g and isinstance(g[0], (list, tuple)):
        return tuple(_body_item(x, names) for x in g)
    return (_body_item(g, names),)
