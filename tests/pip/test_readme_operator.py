"""The README's operator built-in example (``mycompany/pip.py``) runs as written: its
module loads as the server loads ``SIAMESE_BUILTINS``, and a decision uses it, noting why
when the directory has no entry."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.engine import build, parse_source
from siamese.pip.operator import operator_builtins

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if b.startswith("# mycompany/pip.py")]
    return code


class _Directory:
    async def lookup(self, user: str) -> str | None:
        return {"alice": "eng"}.get(user)


class _Pager:
    async def is_on_call(self, user: str) -> bool:
        return user == "carol"


class _Policy:
    def __init__(self, program: Any) -> None:
        self.program = program
        self.revision = "r1"


async def test_the_readme_operator_example_decides() -> None:
    module = types.ModuleType("mycompany_pip")
    module.directory = _Directory()  # type: ignore[attr-defined]  # "your client"
    module.pager = _Pager()  # type: ignore[attr-defined]
    exec(compile(_example(), "README.md", "exec"), module.__dict__)
    builtins = operator_builtins(module.BUILTINS, source="mycompany.pip:BUILTINS")
    rules = ('allow(?u, read, ?r) :- department(?u, ?d), ?d == "eng".\n'
             "allow(?u, page, ?r) :- on_call(?u).\n")
    program = build(parse_source(rules, "p.rules"), builtins)
    authorizer = Authorizer()
    allowed = await authorizer.evaluate(_Policy(program), Request.simple("alice", "read", "x"))
    assert allowed.allowed
    denied = await authorizer.evaluate(_Policy(program), Request.simple("bob", "read", "x"))
    assert not denied.allowed and not denied.cacheable
    assert denied.explanation["notes"] == ["department: bob is not in the directory"]
    paged = await authorizer.evaluate(_Policy(program), Request.simple("carol", "page", "x"))
    assert paged.allowed and not paged.cacheable  # on_call is volatile
    assert not (await authorizer.evaluate(_Policy(program), Request.simple("bob", "page", "x"))
                ).allowed
