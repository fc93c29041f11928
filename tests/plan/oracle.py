"""An independent reading of a plan's condition (Cerbos' query-plan format) for one row: the
oracle the plan tests compare with one-by-one decisions. A property the row lacks makes any
comparison on it false, and ``not`` of that true, as the engine's ``input`` goal fails."""

from __future__ import annotations

from typing import Any

MISSING = object()


def _value(operand: dict[str, Any], rid: str, props: dict[str, Any]) -> Any:
    if "value" in operand:
        return operand["value"]
    name = operand["variable"]
    if name == "request.resource.id":
        return rid
    path = name.removeprefix("request.resource.attr.")
    cur: Any = props
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _ordered(a: Any, b: Any) -> bool:
    num = (int, float)
    return (isinstance(a, num) and not isinstance(a, bool) and isinstance(b, num)
            and not isinstance(b, bool)) or (isinstance(a, str) and isinstance(b, str))


def holds(operand: dict[str, Any], rid: str, props: dict[str, Any]) -> bool:
    """Whether the row (its id and properties) passes the condition."""
    if "value" in operand:
        return bool(operand["value"])
    e = operand["expression"]
    op, args = e["operator"], e["operands"]
    if op == "and":
        return all(holds(a, rid, props) for a in args)
    if op == "or":
        return any(holds(a, rid, props) for a in args)
    if op == "not":
        return not holds(args[0], rid, props)
    a, b = (_value(x, rid, props) for x in args)
    if a is MISSING or b is MISSING:
        return False
    if op == "in":
        return any(_same(a, v) for v in b)
    if op == "eq":
        return _same(a, b)
    if op == "ne":
        return not _same(a, b)
    if not _ordered(a, b):
        return False
    return bool({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op])


def allowed(plan: Any, rid: str, props: dict[str, Any]) -> bool:
    kind = plan.kind
    if kind == "KIND_ALWAYS_ALLOWED":
        return True
    if kind == "KIND_ALWAYS_DENIED":
        return False
    return holds(plan.condition, rid, props)
