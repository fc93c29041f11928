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
The plan writes "the resource has property x" as ``eq(x, x)``: ``x IS NOT NULL`` here.

Values keep their own type (a string, a number, a boolean), and a comparison of two types
is decided as the engine decides it (see ``_compare``). Strings are ordered by the
database's collation, the engine's by code point: ``lt`` on strings agrees under a binary
collation (SQLite's default; PostgreSQL's ``C``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from sqlalchemy import and_, bindparam, false, func, not_, or_, true
from sqlalchemy.sql.expression import ColumnElement, literal
from sqlalchemy.types import Boolean, Float, Integer, String, TypeEngine

from . import ALWAYS_ALLOWED, ALWAYS_DENIED, CONDITIONAL, Plan

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

_COMPARISONS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def where(
    plan: Plan | Mapping[str, Any], columns: Mapping[str, Column]
) -> ColumnElement[bool]:
    """The condition of ``plan`` over ``columns``, which maps each variable of the plan
    (``request.resource.id``, ``request.resource.attr.<name>``) to a column.

    ``plan`` is a :class:`siamese.plan.Plan`, its ``to_dict()``, or the JSON answer of
    ``POST /v1/plan/resources`` (or only its ``filter``). A variable that ``columns`` does
    not name is a ValueError naming it: leaving it out must never widen the filter."""
    kind, condition = _filter_of(plan)
    if kind == ALWAYS_ALLOWED:
        return true()
    if kind == ALWAYS_DENIED:
        return false()
    if kind != CONDITIONAL:
        raise ValueError(f"unknown plan kind {kind!r}")
    if not isinstance(condition, Mapping):
        raise ValueError("a conditional plan has no condition")
    return _Translator(columns).condition(condition)


def _filter_of(plan: Plan | Mapping[str, Any]) -> tuple[Any, Any]:
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
            left, right = self.term(operands[0]), self.term(operands[1])
            if op == "eq" and left.is_column and operands[0] == operands[1]:
                # has(x): the plan's "the resource has this property" (a policy read it)
                return left.sql.is_not(None)
            return _compare(op, left, right)
        raise ValueError(f"unknown operator {op!r}")

    def membership(self, operands: Sequence[Any]) -> ColumnElement[bool]:
        if (
            len(operands) != 2
            or not all(isinstance(o, Mapping) for o in operands)
            or "variable" not in operands[0]
            or not isinstance(operands[1].get("value"), list)
        ):
            raise ValueError("'in' takes a variable and a list value")
        column = self.term(operands[0])
        groups = []
        for type_, values in _by_type(operands[1]["value"]).items():
            if column.family not in (None, _FAMILY[type_]):
                continue  # never equal to a value of the column's type
            for i in range(0, len(values), IN_GROUP):
                chunk = bindparam(None, values[i : i + IN_GROUP], type_=type_(),
                                  expanding=True, literal_execute=True)
                groups.append(column.sql.in_(chunk))
        return or_(false(), *groups)

    def term(self, operand: Any) -> _Term:
        if not isinstance(operand, Mapping):
            raise ValueError(f"malformed operand: {operand!r}")
        if "variable" in operand:
            column = self.column(operand["variable"])
            return _Term(column, _column_family(column), True)
        if "value" in operand:
            type_ = _sql_type(operand["value"])
            return _Term(literal(operand["value"], type_()), _FAMILY[type_], False)
        raise ValueError(f"an operand of a comparison must be a variable or a value: {operand!r}")

    def column(self, variable: Any) -> Column:
        try:
            return self.columns[variable]
        except KeyError:
            raise ValueError(
                f"the plan reads {variable!r}, which the column mapping does not name"
            ) from None


class _Term(NamedTuple):
    sql: Any
    family: str | None  # "boolean", "number", "string"; None: a column of another type
    is_column: bool


def _compare(op: str, a: _Term, b: _Term) -> ColumnElement[bool]:
    """``a op b`` as the engine compares: values of two types are never equal and never
    ordered, booleans are not ordered. SQL may convert instead (SQLite compares the text
    '5' equal to 5 in an INTEGER column) or raise (PostgreSQL), so such a comparison is
    decided here: false, or for ``ne`` true where the columns have a value."""
    if a.family is not None and b.family is not None and a.family != b.family:
        if op != "ne":
            return false()
        return and_(true(), *(t.sql.is_not(None) for t in (a, b) if t.is_column))
    if op not in ("eq", "ne") and "boolean" in (a.family, b.family):
        return false()
    result: ColumnElement[bool] = _COMPARISONS[op](a.sql, b.sql)
    return result


def _column_family(column: Column) -> str | None:
    try:
        python = column.type.python_type
    except NotImplementedError:  # a type of the database's own
        return None
    if python is bool:
        return "boolean"
    if issubclass(python, (int, float, Decimal)):
        return "number"
    return "string" if issubclass(python, str) else None


_FAMILY: dict[type[TypeEngine[Any]], str] = {
    Boolean: "boolean", Integer: "number", Float: "number", String: "string"}


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
