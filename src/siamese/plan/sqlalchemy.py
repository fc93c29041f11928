"""A query plan as a SQLAlchemy Core condition that an application adds to its ``select()``.

``cerbos-sqlalchemy`` reads the same condition format but is not used: it takes the Cerbos
SDK's response objects (protobuf and the ``cerbos`` package), returns a whole ``select()``
rather than a condition, and translates ``not`` as SQL ``NOT``, which keeps SQL's unknown.
Here a property the row lacks (a NULL column) makes ``input("resource.properties.x", ?v)``
fail in the engine, so a comparison on it is false and its negation true; SQL's
``NOT (NULL = 'eng')`` is NULL, which would drop a row that the engine allows.

Each operand is translated to an expression that is TRUE exactly when the engine's
condition holds, and FALSE *or NULL* otherwise. ``and``/``or`` keep that (NULL acts as
FALSE in both, and a WHERE drops both), so only ``not`` must turn NULL into FALSE first:
``NOT COALESCE(c, FALSE)``. Comparisons outside a ``not`` stay plain, so indexes serve them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from sqlalchemy import and_, bindparam, false, func, not_, or_, true
from sqlalchemy.sql.expression import ColumnElement, literal
from sqlalchemy.types import Boolean, Float, Integer, String, TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.orm import QueryableAttribute

__all__ = ["IN_GROUP", "where"]

Column: TypeAlias = "ColumnElement[Any] | QueryableAttribute[Any]"

IN_GROUP = 500
"""Values in one SQL ``IN (...)``. The values are written into the statement (SQLAlchemy's
``literal_execute``, quoted by the dialect) rather than bound: SQLite caps the bound
parameters of a whole statement (999 before 3.32, 32766 after), so splitting a list into
several bound INs would not help. Groups of 500, joined by OR, stay below the per-list
caps of other databases (Oracle's is 1000)."""

_ALWAYS_ALLOWED = "KIND_ALWAYS_ALLOWED"
_ALWAYS_DENIED = "KIND_ALWAYS_DENIED"
_CONDITIONAL = "KIND_CONDITIONAL"

_COMPARISONS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


class PlanLike(Protocol):
    """What :func:`where` reads of a :class:`siamese.plan.Plan`."""

    @property
    def kind(self) -> str: ...

    @property
    def condition(self) -> Mapping[str, Any] | None: ...


def where(
    plan: PlanLike | Mapping[str, Any], columns: Mapping[str, Column]
) -> ColumnElement[bool]:
    """The condition of ``plan`` over ``columns``, which maps each variable of the plan
    (``request.resource.id``, ``request.resource.attr.<name>``) to a column.

    ``plan`` is a :class:`siamese.plan.Plan`, its ``to_dict()``, or the JSON answer of
    ``POST /v1/plan/resources`` (or only its ``filter``). A variable that ``columns`` does
    not name is a ValueError naming it: leaving it out must never widen the filter."""
    kind, condition = _filter_of(plan)
    if kind == _ALWAYS_ALLOWED:
        return true()
    if kind == _ALWAYS_DENIED:
        return false()
    if kind != _CONDITIONAL:
        raise ValueError(f"unknown plan kind {kind!r}")
    if not isinstance(condition, Mapping):
        raise ValueError("a conditional plan has no condition")
    return _Translator(columns).condition(condition)


def _filter_of(plan: PlanLike | Mapping[str, Any]) -> tuple[Any, Any]:
    if not isinstance(plan, Mapping):
        return plan.kind, plan.condition
    found = plan.get("filter", plan)
    if not isinstance(found, Mapping) or "kind" not in found:
        raise ValueError("not a plan: no filter kind")
    return found["kind"], found.get("condition")


class _Translator:
    def __init__(self, columns: Mapping[str, Column]) -> None:
        self.columns = columns

    def condition(self, operand: Any) -> ColumnElement[bool]:
        """An operand in a boolean position: an expression, or a constant true/false."""
        if not isinstance(operand, Mapping):
            raise ValueError(f"malformed operand: {operand!r}")
        if "expression" in operand:
            return self.expression(operand["expression"])
        if "value" in operand and isinstance(operand["value"], bool):
            return true() if operand["value"] else false()
        raise ValueError(f"not a condition: {operand!r}")

    def expression(self, expr: Any) -> ColumnElement[bool]:
        if not isinstance(expr, Mapping) or not isinstance(expr.get("operands"), list):
            raise ValueError(f"malformed expression: {expr!r}")
        op, operands = expr.get("operator"), expr["operands"]
        if op == "and":
            return and_(true(), *(self.condition(o) for o in operands))
        if op == "or":
            return or_(false(), *(self.condition(o) for o in operands))
        if op == "not":
            if len(operands) != 1:
                raise ValueError(f"'not' takes one operand, not {len(operands)}")
            return not_(func.coalesce(self.condition(operands[0]), false()))
        if op == "in":
            return self.membership(operands)
        if op in _COMPARISONS:
            if len(operands) != 2:
                raise ValueError(f"{op!r} takes two operands, not {len(operands)}")
            left, right = (self.term(o) for o in operands)
            result: ColumnElement[bool] = _COMPARISONS[op](left, right)
            return result
        raise ValueError(f"unknown operator {op!r}")

    def membership(self, operands: Sequence[Any]) -> ColumnElement[bool]:
        if (
            len(operands) != 2
            or not all(isinstance(o, Mapping) for o in operands)
            or "variable" not in operands[0]
            or not isinstance(operands[1].get("value"), list)
        ):
            raise ValueError("'in' takes a variable and a list value")
        column = self.column(operands[0]["variable"])
        groups = []
        for type_, values in _by_type(operands[1]["value"]).items():
            for i in range(0, len(values), IN_GROUP):
                chunk = bindparam(None, values[i : i + IN_GROUP], type_=type_(),
                                  expanding=True, literal_execute=True)
                groups.append(column.in_(chunk))
        return or_(false(), *groups)

    def term(self, operand: Any) -> Any:
        if not isinstance(operand, Mapping):
            raise ValueError(f"malformed operand: {operand!r}")
        if "variable" in operand:
            return self.column(operand["variable"])
        if "value" in operand:
            value = operand["value"]
            return literal(value, _sql_type(value)())
        raise ValueError(f"an operand of a comparison must be a variable or a value: {operand!r}")

    def column(self, variable: Any) -> Column:
        try:
            return self.columns[variable]
        except KeyError:
            raise ValueError(
                f"the plan reads {variable!r}, which the column mapping does not name"
            ) from None


def _sql_type(value: Any) -> type[TypeEngine[Any]]:
    """The SQL type of a plan value, from its own type (never the column's): a value is
    compared as the engine compared it. bool before int: True is an int in Python."""
    for python, sql in ((bool, Boolean), (int, Integer), (float, Float), (str, String)):
        if isinstance(value, python):
            return sql
    raise ValueError(f"a plan value must be a string, number or boolean, not {value!r}")


def _by_type(values: list[Any]) -> dict[type[TypeEngine[Any]], list[Any]]:
    """The values of an ``in`` list by SQL type (one typed IN each), duplicates dropped."""
    groups: dict[type[TypeEngine[Any]], list[Any]] = {}
    for v in values:
        groups.setdefault(_sql_type(v), []).append(v)
    return {t: list(dict.fromkeys(vs)) for t, vs in groups.items()}
