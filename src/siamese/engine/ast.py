"""The program representation produced by every parser: clauses with source locations.

Terms inside clauses use the runtime term types of :mod:`siamese.engine.terms`;
variables are :class:`~siamese.engine.terms.Var` objects shared within one clause
(the same ``?X`` in one clause is the same object; each ``_`` is a distinct one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .terms import Struct, Term


@dataclass(frozen=True, slots=True)
class Goal:
    """A call of a predicate or built-in: ``term`` is a Struct (name, args)."""

    term: Struct
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class Not:
    """Negation as failure of a conjunction."""

    body: tuple[BodyItem, ...]
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction: each branch is a conjunction, tried in order."""

    branches: tuple[tuple[BodyItem, ...], ...]
    line: int = 0
    col: int = 0


BodyItem = Goal | Not | Or


@dataclass(frozen=True, slots=True)
class Clause:
    """A fact (empty body) or a rule, with where it was written.

    ``source`` is the name given to the parser (usually a path relative to the
    policy directory); ``line``/``col`` point at the start of the head.
    """

    head: Struct
    body: tuple[BodyItem, ...] = ()
    id: str | None = None
    description: str | None = None
    source: str = "<input>"
    line: int = 0
    col: int = 0
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.head.name, len(self.head.args))

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def label(self) -> str:
        """How explanations name this clause: its ``@id``, else ``file:line``."""
        return self.id or self.location


@dataclass(slots=True)
class FactBlock:
    """Many ground facts of one predicate, stored compactly (machine-generated data).

    Parsers may return these instead of one Clause per fact; ``lines[i]`` is the
    line of ``rows[i]`` (0 when unknown).
    """

    name: str
    rows: list[tuple[Term, ...]]
    lines: list[int]
    source: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, len(self.rows[0]) if self.rows else 0)


ProgramItem = Clause | FactBlock
