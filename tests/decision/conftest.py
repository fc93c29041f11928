from __future__ import annotations

from dataclasses import dataclass

from siamese.engine import Program, finish
from siamese.engine.syntax import parse_source


@dataclass
class FakePolicy:
    program: Program
    revision: str


def policy(text: str, revision: str = "rev1", source: str = "p.rules") -> FakePolicy:
    program = Program()
    program.add_items(parse_source(text, source))
    finish(program)
    return FakePolicy(program, revision)
