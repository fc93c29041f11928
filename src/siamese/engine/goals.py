"""The machine's records: goal templates and runtime goals, continuation cells and
choicepoints, with their layouts, and the functions that build runtime goals from templates.

The bottom layer of the engine: it knows terms (:mod:`terms`) and nothing above.

Records are tuples and lists, not objects: a rule activation builds one runtime goal per
body goal, and a tuple is made three times faster than an instance of a class with slots
(measured on CPython 3.11). Their fields are named by the constants below, and every
module reads them through these names.

**Goals.** A goal is a tuple ``(op, callee, args, src)``:

=========  ================================================================================
``op``     what it is: one of the opcodes below
``callee`` CALL, CALL_RAW: the :class:`~siamese.engine.program.Predicate`; BUILTIN: the
           :class:`~siamese.engine.builtins.Builtin`; NOT: the negated goals; OR: the
           branches (tuples of goals); ANSWER: the table; NOTOK: the index of its
           barrier choicepoint; MARK: a function called with ``args``
``args``   CALL, CALL_RAW, BUILTIN, ANSWER: the arguments; MARK: the function's argument
``src``    the :class:`~siamese.engine.ast.Goal` (or ``Not``/``Or``) it was written as,
           for locations; None for goals the machine makes
=========  ================================================================================

A goal *template* (in a compiled clause) has the same layout; its arguments hold
:class:`Slot`, :class:`TStruct` and :class:`TList` where the clause has variables.
:func:`build_goal` makes the runtime goal of a template for one activation (a *frame*:
the activation's values, one per slot).

**Continuations.** A continuation is a linked list of cells ``(goal, depth, next)``:
the goal to run, its depth (a rule's body is one deeper than its call) and the rest.

**Choicepoints.** A choicepoint is a list ``[kind, trail_mark, node, events, alt, pos]``
(the last two only for the kinds that use them): ``node`` is the continuation cell whose
goal made it, ``trail_mark`` the trail's length then, ``events`` the proof events then.
``alt`` and ``pos`` by kind: FACTS: the candidate row indexes and the next position;
CLAUSES: the next clause's index (in ``alt``); ANSWERS: the table and the next answer's
index; GEN: a built-in's generator; OR: the next branch's index; AWAIT: the async call and
its built-in; BARRIER: neither (a negation's floor).
"""

from __future__ import annotations

from typing import Any

from .terms import Struct, Var, _unify, copy_term, format_call, resolve

__all__ = [
    "ANSWER", "BUILTIN", "CALL", "CALL_RAW", "EXIT", "MARK", "NOT", "NOTOK", "OR",
    "Slot", "TList", "TStruct", "build", "build_goal", "call_text", "copy_goal", "goal_text",
    "link", "push_body", "resolved_goal", "unify_head",
]

# --- goal opcodes ------------------------------------------------------------------------
CALL = 0  # call a predicate (tabled if it is)
BUILTIN = 1  # call a built-in
NOT = 2  # negation as failure of a conjunction
OR = 3  # disjunction
EXIT = 4  # the end of a rule's body (the proof events close the rule's node)
ANSWER = 5  # the end of a table's producer: the bindings are an answer
NOTOK = 6  # the end of a negated conjunction: it has a proof, so the negation fails
CALL_RAW = 7  # a call that bypasses tabling (a table's producer runs its own clauses)
MARK = 8  # a progress marker of a "why not" run: calls callee(args) and succeeds

# --- goal fields ---------------------------------------------------------------------------
G_OP = 0
G_CALLEE = 1
G_ARGS = 2
G_SRC = 3

# --- continuation cell fields -----------------------------------------------------------
C_GOAL = 0
C_DEPTH = 1
C_NEXT = 2

# --- choicepoint kinds and fields ---------------------------------------------------------
CP_FACTS = 0
CP_CLAUSES = 1
CP_GEN = 2
CP_OR = 3
CP_BARRIER = 4
CP_ANSWERS = 5
CP_AWAIT = 6

CP_KIND = 0
CP_TRAIL = 1
CP_NODE = 2
CP_EVENTS = 3
CP_ALT = 4
CP_POS = 5

EXIT_GOAL = (EXIT, None, None, None)


class Slot:
    """A clause variable, numbered within its clause."""

    __slots__ = ("i", "name")

    def __init__(self, i: int, name: str) -> None:
        self.i = i
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.i}, {self.name})"


class TStruct:
    """A compound term template that contains clause variables."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        self.name = name
        self.args = args


class TList:
    """A list template that contains clause variables."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.items = items


# --- building runtime goals from templates ------------------------------------------------


def build(t: Any, frame: list[Any]) -> Any:
    """The term of a template in an activation (a fresh variable for a slot met first)."""
    tt = type(t)
    if tt is Slot:
        v = frame[t.i]
        if v is None:
            v = frame[t.i] = Var(t.name)
        return v
    if tt is TStruct:
        return Struct(t.name, tuple([build(a, frame) for a in t.args]))
    if tt is TList:
        return tuple([build(a, frame) for a in t.items])
    return t


def build_goal(g: tuple[Any, ...], frame: list[Any]) -> tuple[Any, ...]:
    """The runtime goal of a goal template in an activation."""
    op = g[G_OP]
    if op == CALL or op == BUILTIN:  # noqa: SIM109 - hot path: `in` would build a tuple per call
        args = []
        for a in g[G_ARGS]:
            if type(a) is Slot:
                v = frame[a.i]
                if v is None:
                    v = frame[a.i] = Var(a.name)
                args.append(v)
            elif type(a) is TStruct or type(a) is TList:
                args.append(build(a, frame))
            else:
                args.append(a)
        return (op, g[G_CALLEE], tuple(args), g[G_SRC])
    if op == NOT:
        return (NOT, tuple([build_goal(x, frame) for x in g[G_CALLEE]]), None, g[G_SRC])
    branches = tuple([tuple([build_goal(x, frame) for x in br]) for br in g[G_CALLEE]])
    return (OR, branches, None, g[G_SRC])


def push_body(body: tuple[Any, ...], frame: list[Any], depth: int, cont: Any) -> Any:
    """The continuation that runs a clause body (templates) at ``depth``, then ``cont``."""
    for g in reversed(body):
        cont = (build_goal(g, frame), depth, cont)
    return cont


def link(goals: tuple[Any, ...] | list[Any], depth: int, cont: Any) -> Any:
    """The continuation that runs runtime ``goals`` at ``depth``, then ``cont``."""
    for g in reversed(goals):
        cont = (g, depth, cont)
    return cont


def unify_head(
    tmpl: tuple[Any, ...], args: tuple[Any, ...], frame: list[Any], trail: list[Var]
) -> bool:
    """Unify a clause head (templates) with a call's arguments, filling the frame."""
    for t, a in zip(tmpl, args):
        tt = type(t)
        if tt is Slot:
            v = frame[t.i]
            if v is None:
                frame[t.i] = a
            elif not _unify(v, a, trail):
                return False
        elif tt is TStruct or tt is TList:
            if not _unify(build(t, frame), a, trail):
                return False
        elif not _unify(t, a, trail):
            return False
    return True


def copy_goal(g: tuple[Any, ...], mapping: dict[Var, Var]) -> tuple[Any, ...]:
    """A runtime goal with its unbound variables renamed by ``mapping`` (extended)."""
    op = g[G_OP]
    if op == CALL or op == BUILTIN or op == CALL_RAW:  # noqa: SIM109 - no tuple built per goal
        return (op, g[G_CALLEE], tuple([copy_term(a, mapping) for a in g[G_ARGS]]), g[G_SRC])
    if op == NOT:
        return (NOT, tuple([copy_goal(x, mapping) for x in g[G_CALLEE]]), None, g[G_SRC])
    if op == OR:
        branches = tuple([tuple([copy_goal(x, mapping) for x in br]) for br in g[G_CALLEE]])
        return (OR, branches, None, g[G_SRC])
    if op == ANSWER:
        return (ANSWER, g[G_CALLEE], tuple([copy_term(a, mapping) for a in g[G_ARGS]]), None)
    return g


def resolved_goal(g: tuple[Any, ...]) -> tuple[Any, ...]:
    """A call or built-in goal with its arguments resolved (their values as of now)."""
    if g[G_OP] == CALL or g[G_OP] == BUILTIN:
        return (g[G_OP], g[G_CALLEE], tuple([resolve(a) for a in g[G_ARGS]]), g[G_SRC])
    return g


def goal_text(goal: tuple[Any, ...]) -> str:
    """A runtime goal as written in the text syntax."""
    op = goal[G_OP]
    if op == CALL or op == CALL_RAW or op == BUILTIN:  # noqa: SIM109 - like the others here
        return call_text(goal)
    if op == NOT:
        return "not (" + ", ".join(goal_text(g) for g in goal[G_CALLEE]) + ")"
    if op == OR:
        return "(" + " ; ".join(", ".join(goal_text(g) for g in br) for br in goal[G_CALLEE]) + ")"
    return repr(goal)


def call_text(goal: tuple[Any, ...]) -> str:
    """A call as ``format_term`` prints it, without building its term."""
    return format_call(goal[G_CALLEE].name, goal[G_ARGS])
