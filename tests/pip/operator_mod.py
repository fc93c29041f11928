"""Operator built-ins, as an operator's module would hold them (loaded by name in
test_operator.py: ``tests.pip.operator_mod:BUILTINS``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from siamese.engine import custom, note
from siamese.engine.compat import Term, Unificator, Variable

DEPARTMENTS = {"alice": "eng", "bob": "sales"}
calls: list[str] = []


async def department(goal: Term, bindings: dict[Any, Any]) -> AsyncIterator[dict[Any, Any]]:
    """department(User, ?Dept): a directory lookup."""
    user, out = goal.args
    calls.append(f"department({user})")
    if isinstance(user, Variable):
        raise ValueError("department: the user must be bound")
    dept = DEPARTMENTS.get(user)
    if dept is None:
        note(f"department: {user} is not in the directory", volatile=False)
        return
    new = Unificator.unify(out, dept, bindings)
    if new is not None:
        yield new


async def on_shift(goal: Term, bindings: dict[Any, Any]) -> AsyncIterator[dict[Any, Any]]:
    """on_shift(User): changes by the minute, so it is volatile."""
    calls.append(f"on_shift({goal.args[0]})")
    yield {}


async def boom(goal: Term, bindings: dict[Any, Any]) -> AsyncIterator[dict[Any, Any]]:
    raise RuntimeError("directory exploded")
    yield {}  # pragma: no cover


async def hang(goal: Term, bindings: dict[Any, Any]) -> AsyncIterator[dict[Any, Any]]:
    await asyncio.Event().wait()  # never set
    yield {}  # pragma: no cover


BUILTINS = {
    "department": department,
    "on_shift": custom(on_shift, volatile=True),
    "boom": {"fn": boom},
    "hang": {"fn": hang, "timeout": 0.05},
}

NOT_A_DICT = [department]


def plain(goal: Term, bindings: dict[Any, Any]) -> Any:
    return iter([{}])


async def coroutine(goal: Term, bindings: dict[Any, Any]) -> dict[Any, Any]:
    return {}


BAD_SYNC = {"plain": plain}
BAD_CORO = {"coro": coroutine}
CLASH = {"eq": department}
BAD_NAME = {"Department": department}
BAD_TIMEOUT = {"x": {"fn": department, "timeout": -1}}
BAD_KEYS = {"x": {"fn": department, "volatle": True}}
