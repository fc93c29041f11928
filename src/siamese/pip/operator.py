"""Operator built-ins: custom async built-ins from a module the operator names
(``SIAMESE_BUILTINS=mycompany.pip:BUILTINS``).

The attribute is a dict of name → one of:

- an ``async def b(goal, bindings)`` async generator function (the original engine's shape);
- a :class:`~siamese.engine.builtins.Builtin`, e.g. ``custom(b, volatile=True, timeout=0.5)``;
- a spec ``{"fn": b, "volatile": True, "timeout": 0.5}``.

``volatile``: decisions that used it are not cached. ``timeout`` (seconds) bounds each
call; a call that exceeds it, or raises, ends the decision as a deny that names it. A
built-in that cannot answer (its upstream is down) should yield nothing and call
:func:`siamese.engine.solver.note` to say why, rather than raise.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Iterable
from typing import Any

from ..engine import DEFAULT_BUILTINS, Builtin, custom
from .jsonpath import JSON_PATH_BUILTINS

__all__ = ["OperatorBuiltinError", "load_operator_builtins", "operator_builtins"]

# names the operator may not take: the engine's, and this package's
RESERVED = frozenset(DEFAULT_BUILTINS) | frozenset(JSON_PATH_BUILTINS) | {"http_get_json"}

_NAME = re.compile(r"[a-z][A-Za-z0-9_]*\Z")  # callable from the text syntax without quotes
_SPEC_KEYS = frozenset({"fn", "volatile", "timeout"})


class OperatorBuiltinError(ValueError):
    """The operator's built-ins cannot be loaded (the message says which and why)."""


def load_operator_builtins(
    ref: str, *, reserved: Iterable[str] = RESERVED
) -> dict[str, Builtin]:
    """Import ``module.path:ATTRIBUTE`` (the attribute defaults to ``BUILTINS``) and check
    and wrap the built-ins it holds (see :func:`operator_builtins`)."""
    module_name, sep, attr = ref.strip().partition(":")
    attr = attr.strip() if sep else "BUILTINS"
    if not module_name or not attr or not all(p.isidentifier() for p in module_name.split(".")):
        raise OperatorBuiltinError(
            f"built-ins {ref!r}: expected 'module.path:ATTRIBUTE', e.g. 'mycompany.pip:BUILTINS'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise OperatorBuiltinError(f"built-ins {ref!r}: cannot import {module_name!r}: {e}") from e
    except Exception as e:  # the module itself failed while importing
        raise OperatorBuiltinError(
            f"built-ins {ref!r}: importing {module_name!r} failed: {e!r}"
        ) from e
    try:
        table = getattr(module, attr)
    except AttributeError:
        raise OperatorBuiltinError(
            f"built-ins {ref!r}: module {module_name!r} has no attribute {attr!r}"
        ) from None
    return operator_builtins(table, reserved=reserved, source=ref)


def operator_builtins(
    table: Any, *, reserved: Iterable[str] = RESERVED, source: str = "built-ins"
) -> dict[str, Builtin]:
    """Check a dict of operator built-ins and wrap each as a :class:`Builtin`."""
    if not isinstance(table, dict):
        raise OperatorBuiltinError(
            f"{source}: expected a dict of name → built-in, got {type(table).__name__}"
        )
    taken = frozenset(reserved)
    out: dict[str, Builtin] = {}
    for name, entry in table.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise OperatorBuiltinError(
                f"{source}: {name!r} is not a built-in name (a lowercase identifier)"
            )
        if name in taken:
            raise OperatorBuiltinError(f"{source}: '{name}' clashes with a built-in of siamese")
        out[name] = _wrap(name, entry, source)
    return out


def _wrap(name: str, entry: Any, source: str) -> Builtin:
    where = f"{source}: built-in '{name}'"
    if isinstance(entry, Builtin):
        if not entry.is_async:
            # the engine's synchronous interface is internal: operators write async ones
            raise OperatorBuiltinError(
                f"{where}: a synchronous engine built-in; wrap an 'async def b(goal, bindings)' "
                "with custom(...) instead"
            )
        _check_fn(entry.fn, where)
        _check_timeout(entry.timeout, where)
        return custom(entry.fn, name, volatile=entry.volatile, timeout=entry.timeout)
    if isinstance(entry, dict):
        unknown = set(entry) - _SPEC_KEYS
        if unknown:
            raise OperatorBuiltinError(
                f"{where}: unknown keys {sorted(map(str, unknown))} "
                "(expected fn, volatile, timeout)"
            )
        if "fn" not in entry:
            raise OperatorBuiltinError(f"{where}: the spec has no 'fn'")
        volatile = entry.get("volatile", False)
        if not isinstance(volatile, bool):
            raise OperatorBuiltinError(f"{where}: 'volatile' must be true or false")
        timeout = entry.get("timeout")
        _check_fn(entry["fn"], where)
        _check_timeout(timeout, where)
        return custom(entry["fn"], name, volatile=volatile,
                      timeout=None if timeout is None else float(timeout))
    _check_fn(entry, where)
    return custom(entry, name)


def _check_fn(fn: Any, where: str) -> None:
    if inspect.isasyncgenfunction(fn):
        return
    if inspect.iscoroutinefunction(fn):
        raise OperatorBuiltinError(
            f"{where}: {_name(fn)} is an 'async def' without 'yield'; a built-in yields one "
            "bindings dict per solution"
        )
    kind = "a function that is not async" if callable(fn) else f"a {type(fn).__name__}"
    raise OperatorBuiltinError(
        f"{where}: expected an async generator function 'async def b(goal, bindings)' "
        f"that yields bindings, got {kind}"
    )


def _check_timeout(timeout: Any, where: str) -> None:
    if timeout is None:
        return
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise OperatorBuiltinError(f"{where}: timeout must be a positive number of seconds, "
                                   f"got {timeout!r}")


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
