"""``json_path(Json, Path, ?Value)``: the value at a dotted path in a JSON term (the
original engine's ``unify_json_path``, registered under both names).

``"a.b.0.c"`` steps into object keys and list indexes; the path may also be a list of
steps (``[a, b, 0, c]``, for keys that contain dots); ``""`` is the whole value. A step
that is missing fails the goal, as ``input/2`` does.
"""

from __future__ import annotations

from typing import Any

from ..engine import Builtin, BuiltinContext, EvaluationError, JsonMap, Var, format_term
from ..engine.terms import deref

__all__ = ["JSON_PATH_BUILTINS", "b_json_path", "walk"]


def _steps(path: Any, name: str) -> list[str | int]:
    path = deref(path)
    if type(path) is str:
        return list(path.split(".")) if path else []
    if type(path) is tuple:
        steps: list[str | int] = []
        for s in path:
            s = deref(s)
            if (type(s) is str) or (type(s) is int):
                steps.append(s)
            else:
                raise EvaluationError(f"{name}: a path step must be a key or an index, got "
                                      f"{format_term(s)}")
        return steps
    if type(path) is Var:
        raise EvaluationError(f"{name}: the path is unbound")
    raise EvaluationError(f"{name}: expected a path string or list, got {format_term(path)}")


def walk(data: Any, steps: list[str | int]) -> tuple[bool, Any]:
    """The term at ``steps`` inside ``data``: (True, value), or (False, None) if absent."""
    cur = deref(data)
    for step in steps:
        tc = type(cur)
        if tc is JsonMap:
            key = str(step)
            if key not in cur:
                return False, None
            cur = deref(cur[key])
        elif tc is tuple:
            if isinstance(step, str):
                if not step.isdigit():
                    return False, None
                i = int(step)
            else:
                i = step
            if not 0 <= i < len(cur):
                return False, None
            cur = deref(cur[i])
        else:
            return False, None
    return True, cur


def _json_path(name: str) -> Any:
    def b_json_path(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
        if len(args) != 3:
            raise EvaluationError(f"{name} takes 3 arguments")
        data = deref(args[0])
        if type(data) is Var:
            raise EvaluationError(f"{name}: the JSON value is unbound")
        found, value = walk(data, _steps(args[1], name))
        return found and bool(ctx.unify(args[2], value))

    return b_json_path


b_json_path = _json_path("json_path")

JSON_PATH_BUILTINS: dict[str, Builtin] = {
    "json_path": Builtin("json_path", b_json_path),
    "unify_json_path": Builtin("unify_json_path", _json_path("unify_json_path")),
}
