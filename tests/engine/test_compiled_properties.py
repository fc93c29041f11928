"""Compiled clause bodies decide exactly as the interpreter does, on random policies.

A hypothesis strategy writes small random policies in the text syntax, in the shapes a
decision rule takes: facts of strings, integers, floats and mixed columns (30% of the
policies hold strings only, the shape compiled bodies started with); ``allow(?u, ?a, ?r)``
and ``deny`` rules (some with an ``@id``, some with a constant or a repeated variable in
the head) whose bodies join fact calls, compare variables with numbers and each other
(``> >= < <= == !=``), test ``?x in [a, b, 1]`` or enumerate such a list, do arithmetic
(``?y is ?x + 1``), negate a fact or a call (``not f(?x)``, ``not h1(?x, c)``), call
non-recursive helper rules of several clauses (one calling the other), call a recursive,
tabled ``reach`` with its first argument bound, and read the request's input
(``input("a.b", ?v)``: JSON strings, numbers, booleans, null, a list, an object, or
nothing there).

Each policy is built twice from the same parsed items, compiled and interpreted, and
random requests (argument tuples, some with numbers) with random input documents are
decided by :func:`siamese.engine.decide` with ``explain=True``: on a new interpreted
program, and on a new compiled program twice (cold tables, then warm), plus once on a
compiled program that decides all of the policy's requests in turn (tables warmed by
other requests). The verdicts must be equal as JSON text: kind, proof, rule ids, why-not
(``WhyNot.to_dict``), the error's type and message, volatility and notes.

The run is deterministic (``derandomize=True``, no example database). It checks that the
generator is worth running: most policies build, and some of their clause bodies compile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese.engine import (
    PolicyErrors,
    PolicySyntaxError,
    Program,
    Verdict,
    build,
    compiled_sources,
    decide,
    parse_source,
)

EXAMPLES = 400
REQUESTS = 4  # per policy

ATOMS = ("a", "b", "c")
ODD_STRINGS = ("1", "x y", "true")  # a number's text, one to quote, a boolean's name
NUMBERS = (0, 1, 2, -1, 1.5, 2.0, 1.0)  # 2.0 meets 2 and 1.0 meets 1 (numbers by value)
ACTIONS = ("read", "write")
CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")
INPUT_PATHS = ("a.b", "a.c", "n", "a", "x.y")  # "a" is an object; "x.y" is never there
JSON_VALUES: tuple[Any, ...] = ("a", "b", "1", 1, 2.0, 1.5, -1, True, False, None,
                                [1, "a"], {"k": "a"})
# fact predicates and the sort of each column: strings, numbers, mixed
FACTS: dict[str, tuple[str, ...]] = {
    "role": ("s", "s"),
    "level": ("s", "n"),
    "attr": ("s", "m"),
    "flag": ("m",),
    "edge": ("m", "m"),
}
HELPERS: dict[str, tuple[str, ...]] = {"h1": ("s", "m"), "h2": ("m", "m")}


@dataclass(frozen=True)
class V:
    """A variable of a generated clause (``name`` without the ``?``)."""

    name: str


def term(x: Any) -> str:
    """A value, a list or a variable in the text syntax."""
    if type(x) is V:
        return "_" if x.name == "_" else "?" + x.name
    if type(x) is bool:
        return "true" if x else "false"
    if type(x) is str:
        bare = x.isidentifier() and x.isascii() and x[0].islower() and x not in {
            "true", "false", "not", "in", "is"}
        return x if bare else json.dumps(x)
    if type(x) is list:
        return "[" + ", ".join(term(i) for i in x) + "]"
    return repr(x)


def call(name: str, args: tuple[Any, ...] | list[Any]) -> str:
    return f"{name}(" + ", ".join(term(a) for a in args) + ")"


class Gen:
    """Draws the parts of one policy: values of a sort, and clause bodies."""

    def __init__(self, draw: Any, strings: bool) -> None:
        self.draw = draw
        self.strings = strings  # every value a string: the shape compiled bodies began with
        self.n = 0

    def pick(self, options: Any) -> Any:
        return self.draw(st.sampled_from(tuple(options)))

    def chance(self, k: int) -> bool:
        """True with probability 1/k."""
        return bool(self.draw(st.integers(0, k - 1)) == 0)

    def value(self, sort: str) -> Any:
        if self.strings or sort == "s":
            return self.pick(ODD_STRINGS) if self.chance(6) else self.pick(ATOMS)
        if sort == "n":
            return self.pick(NUMBERS)
        return self.pick((*ATOMS, *NUMBERS, True, False, "1"))

    def fresh(self) -> V:
        self.n += 1
        return V(f"x{self.n}")


class Body:
    """One clause body being drawn: its goals (as text) and its bound variables, each with
    the sort of the column that bound it."""

    def __init__(self, g: Gen, bound: dict[str, str], helpers: tuple[str, ...]) -> None:
        self.g = g
        self.goals: list[str] = []
        self.bound = dict(bound)
        self.helpers = helpers  # the helper rules this body may call

    def bound_var(self, sorts: tuple[str, ...] = ("s", "n", "m")) -> V | None:
        names = [n for n, s in self.bound.items() if s in sorts or self.g.strings]
        return V(self.g.pick(names)) if names else None

    def arg(self, sort: str, new: dict[str, str]) -> Any:
        """An argument for a column: a bound variable (a join), a new one, a constant, _."""
        r = self.g.draw(st.integers(0, 9))
        joinable = self.bound_var((sort, "m") if sort != "m" else ("s", "n", "m"))
        if r < 4 and joinable is not None:
            return joinable
        if r < 8:
            v = self.g.fresh()
            new[v.name] = sort
            return v
        return self.g.value(sort) if r < 9 else V("_")

    def call_goal(self, name: str, sorts: tuple[str, ...]) -> None:
        new: dict[str, str] = {}
        args = [self.arg(s, new) for s in sorts]
        self.goals.append(call(name, args))
        self.bound.update({k: v for k, v in new.items() if V(k) in args})

    def item(self) -> None:
        """One random goal of any shape (a built-in only over variables already bound,
        except a rare one over a new variable, which raises: errors are compared too)."""
        g = self.g
        kind = g.pick(("fact", "fact", "helper", "reach", "cmp", "cmp", "in", "is", "not",
                       "input", "unbound"))
        x = self.bound_var()
        if kind == "fact" or (x is None and kind not in ("helper", "input")):
            name = g.pick(FACTS)
            self.call_goal(name, FACTS[name])
        elif kind == "helper" and self.helpers:
            name = g.pick(self.helpers)
            self.call_goal(name, HELPERS[name])
        elif kind == "input":
            v = g.fresh()
            self.goals.append(f'input("{g.pick(INPUT_PATHS)}", {term(v)})')
            self.bound[v.name] = "m"
        elif kind == "reach" and x is not None:
            first = x if not g.chance(4) else g.value("m")
            second: Any = g.fresh() if g.draw(st.booleans()) else self.arg("m", {})
            self.goals.append(call("reach", (first, second)))
            if type(second) is V and second.name != "_":
                self.bound[second.name] = "m"
        elif kind == "cmp" and x is not None:
            other = self.bound_var() if g.chance(3) else g.value(g.pick(("n", "n", "s")))
            self.goals.append(f"{term(x)} {g.pick(CMP_OPS)} {term(other)}")
        elif kind == "in" and x is not None:
            items = [g.value(g.pick(("s", "n"))) for _ in range(g.draw(st.integers(1, 3)))]
            if g.chance(3):  # enumerate the list into a new variable
                v = g.fresh()
                self.goals.append(f"{term(v)} in {term(items)}")
                self.bound[v.name] = "m"
            else:
                self.goals.append(f"{term(x)} in {term([*items, x] if g.chance(4) else items)}")
        elif kind == "is" and x is not None and not g.strings:
            num = self.bound_var(("n",))
            if num is None or g.chance(8):  # rarely, any bound value: a string raises
                if not g.chance(3):
                    return
                num = x
            v = g.fresh()
            op = g.pick(("+", "-", "*"))
            self.goals.append(f"{term(v)} is {term(num)} {op} {term(g.pick(NUMBERS))}")
            self.bound[v.name] = "n"
        elif kind == "not" and x is not None:
            self.goals.append("not " + self.negated(x))
        elif kind == "unbound" and g.chance(3):
            self.goals.append(f"{term(g.fresh())} > 1")

    def negated(self, x: V) -> str:
        """A call whose arguments are bound variables and constants, to negate."""
        g = self.g
        name = g.pick((*FACTS, *self.helpers, "reach"))
        sorts = FACTS.get(name) or HELPERS.get(name) or ("m", "m")
        args = [x if i == 0 else (self.bound_var() if g.chance(2) else None) or g.value(s)
                for i, s in enumerate(sorts)]
        return call(name, args)


def clause(head: str, goals: list[str], ident: str | None) -> str:
    at = f'@id("{ident}")\n' if ident else ""
    return f"{at}{head} :- {', '.join(goals)}." if goals else f"{at}{head}."


def helper_clauses(g: Gen, name: str, callable_helpers: tuple[str, ...]) -> list[str]:
    """1-3 clauses of a non-recursive helper; its head holds variables the body binds (or
    constants), so a call with its arguments free enumerates them."""
    out = []
    for _ in range(g.draw(st.integers(1, 3))):
        b = Body(g, {}, callable_helpers)
        first = g.pick(FACTS)
        b.call_goal(first, FACTS[first])
        for _ in range(g.draw(st.integers(0, 2))):
            b.item()
        head = [b.bound_var() if not g.chance(5) else None for _ in HELPERS[name]]
        args = [v if v is not None else g.value(s) for v, s in zip(head, HELPERS[name])]
        out.append(clause(call(name, args), b.goals, None))
    return out


def decision_clauses(g: Gen, name: str, n: int) -> list[str]:
    """``n`` clauses of ``allow``/``deny``: a head of the request's variables (sometimes a
    constant action or a repeated variable), and 1-4 body goals."""
    out = []
    for k in range(n):
        u, a, r = V("u"), V("a"), V("r")
        bound = {"u": "s", "a": "s", "r": "m"}
        head: tuple[Any, ...] = (u, a, r)
        if g.chance(5):
            head = (u, g.pick(ACTIONS), r)
            del bound["a"]
        elif g.chance(8):
            head = (u, a, u)
            del bound["r"]
        b = Body(g, bound, ("h1", "h2"))
        for _ in range(g.draw(st.integers(1, 4))):
            b.item()
        out.append(clause(call(name, head), b.goals, f"{name}-{k}" if g.chance(3) else None))
    return out


@dataclass
class Case:
    text: str
    requests: list[tuple[tuple[Any, ...], Any]]  # (args, input document)


@st.composite
def cases(draw: Any) -> Case:
    """A random policy and requests to decide on it."""
    g = Gen(draw, draw(st.integers(0, 9)) < 3)
    lines = []
    for name, sorts in FACTS.items():
        rows = {tuple(g.value(s) for s in sorts)
                for _ in range(draw(st.integers(2 if name == "edge" else 0, 7)))}
        lines += [call(name, row) + "." for row in sorted(rows, key=repr)]
    if g.chance(2):
        lines += ["reach(?x, ?y) :- edge(?x, ?y).",
                  "reach(?x, ?y) :- edge(?x, ?z), reach(?z, ?y)."]
    else:  # left recursion
        lines += ["reach(?x, ?y) :- reach(?x, ?z), edge(?z, ?y).",
                  "reach(?x, ?y) :- edge(?x, ?y)."]
    lines += helper_clauses(g, "h1", ())
    lines += helper_clauses(g, "h2", ("h1",))
    lines += decision_clauses(g, "allow", draw(st.integers(1, 3)))
    lines += decision_clauses(g, "deny", draw(st.integers(0, 2)))
    requests = []
    for _ in range(REQUESTS):
        args = (g.value("s"), g.pick(ACTIONS), g.value("m"))
        doc = None if g.chance(6) else {
            key: value for key, value in (
                ("a", {k: g.pick(JSON_VALUES) for k in ("b", "c") if not g.chance(4)}),
                ("n", g.pick(JSON_VALUES)))
            if not g.chance(5)}
        requests.append((args, doc))
    return Case("\n".join(lines) + "\n", requests)


# --- deciding ---------------------------------------------------------------------------------


async def _wait(pending: Awaitable[Verdict]) -> Verdict:
    return await pending


def verdict(program: Program, args: tuple[Any, ...], doc: Any) -> tuple[str, bool]:
    """The verdict of ``decide`` as JSON text (keys sorted; ``1``, ``1.0`` and ``true``
    told apart), and whether it came at once (compiled passes alone decided it)."""
    v = decide(program, args, input=doc, explain=True)
    at_once = isinstance(v, Verdict)
    if not isinstance(v, Verdict):
        v = asyncio.run(_wait(v))
    error = None if v.error is None else [type(v.error).__name__, str(v.error)]
    return json.dumps({
        "kind": v.kind, "proof": v.proof, "rule_ids": list(v.rule_ids),
        "why_not": [w.to_dict() for w in v.why_not], "error": error,
        "volatile": v.volatile, "notes": list(v.notes),
    }, indent=1, sort_keys=True, default=repr), at_once


def compiled_bodies(program: Program) -> int:
    """How many clause bodies of the decision and helper rules run as compiled code."""
    rules = {"allow": 3, "deny": 3, **{name: len(sorts) for name, sorts in HELPERS.items()}}
    return sum(src is not None for name, n in rules.items() if (name, n) in program.predicates
               for _, src in compiled_sources(program, name, n))


@dataclass
class Tally:
    """What the examples covered."""

    examples: int = 0
    built: int = 0
    compiled: int = 0  # clause bodies that compiled, over all policies
    at_once: int = 0  # compiled decisions that the compiled passes answered alone
    kinds: dict[str, int] = field(default_factory=dict)  # interpreted verdicts by kind


def check(case: Case, tally: Tally) -> None:
    """Decide the case's requests compiled and interpreted (see the module docstring)."""
    tally.examples += 1
    try:
        items = parse_source(case.text, "p.rules")
        sequence = build(items)
    except (PolicySyntaxError, PolicyErrors):
        return
    tally.built += 1
    tally.compiled += compiled_bodies(sequence)
    for args, doc in case.requests:
        want, _ = verdict(build(items, compiled=False), args, doc)
        kind = json.loads(want)["kind"]
        tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
        fresh = build(items)
        for label, program in (("cold tables", fresh), ("warm tables", fresh),
                               ("after the other requests", sequence)):
            got, at_once = verdict(program, args, doc)
            tally.at_once += at_once
            assert got == want, (
                f"compiled ({label}) and interpreted verdicts differ for {args!r}, input "
                f"{json.dumps(doc)}\n--- policy\n{case.text}--- interpreted\n{want}\n"
                f"--- compiled ({label})\n{got}")


def test_compiled_and_interpreted_decisions_agree_on_random_policies() -> None:
    tally = Tally()

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def run(case: Case) -> None:
        check(case, tally)

    run()
    # the generator is worth running: policies build, bodies compile, verdicts vary
    assert tally.built >= 0.9 * tally.examples, tally
    assert tally.compiled > 0 and tally.at_once > 0, tally
    assert {"allow", "deny", "default-deny", "error"} <= set(tally.kinds), tally
