"""The pipeline that makes a finished program: build, analyse, compile.

:func:`build` takes parsed items and returns a :class:`Program` that queries may run:
predicates with their facts and compiled clauses (:mod:`program`), tabling, request
dependence and stratification decided (:mod:`analysis`), and the clause bodies that can
run as generated code marked (:mod:`fastpath`). A program that is changed afterwards
(``add_clause``, ``add_items``) must be finished again with :func:`finish`; a query of an
unfinished program is refused, never analysed on the way.
"""

from __future__ import annotations

from collections.abc import Iterable

from .analysis import analyse
from .ast import ProgramItem
from .builtins import Builtin
from .fastpath import analyse_fast
from .program import Program

__all__ = ["build", "finish"]


def finish(program: Program) -> Program:
    """Analyse and compile ``program`` (once: a finished program is returned as it is)."""
    if not program.ready:
        analyse(program)
        analyse_fast(program)
        program.ready = True
    return program


def build(
    items: Iterable[ProgramItem],
    builtins: dict[str, Builtin] | None = None,
    *,
    tabling: bool = True,
    compiled: bool = True,
) -> Program:
    """A finished program of ``items`` (PolicySyntaxError for a program that cannot be:
    negation through recursion, a built-in redefined or misused)."""
    program = Program(builtins)
    program.tabling = tabling
    program.compiled = compiled
    program.add_items(items)
    return finish(program)
