"""``siamese.plan.sqlalchemy.where`` on hand-written plans in the query-plan format, run by
SQLite and PostgreSQL: each operator, nesting, NULL columns under ``not``, long ``in``
lists, and the plans it refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Engine, Float, Integer, MetaData, String, Table, select

from siamese.plan import Plan
from siamese.plan.sqlalchemy import IN_GROUP, where

from .conftest import SQLITE_MAX_VARIABLES

metadata = MetaData()
docs = Table(
    "docs", metadata,
    Column("id", String, primary_key=True),
    Column("department", String),
    Column("sensitivity", Integer),
    Column("score", Float),
    Column("public", Boolean),
)
COLUMNS = {
    "request.resource.id": docs.c.id,
    "request.resource.attr.department": docs.c.department,
    "request.resource.attr.sensitivity": docs.c.sensitivity,
    "request.resource.attr.score": docs.c.score,
    "request.resource.attr.public": docs.c.public,
}
ROWS = [
    {"id": "d1", "department": "eng", "sensitivity": 1, "score": 0.5, "public": True},
    {"id": "d2", "department": "sales", "sensitivity": 3, "score": 1.5, "public": False},
    {"id": "d3", "department": None, "sensitivity": 2, "score": None, "public": None},
    {"id": "d4", "department": "eng", "sensitivity": None, "score": 2.5, "public": True},
    {"id": "d5", "department": "hr", "sensitivity": 5, "score": 0.5, "public": False},
]
ALL = {row["id"] for row in ROWS}


def var(name: str) -> dict[str, Any]:
    return {"variable": name if name == "request.resource.id" else f"request.resource.attr.{name}"}


def op(operator: str, *operands: dict[str, Any]) -> dict[str, Any]:
    return {"expression": {"operator": operator, "operands": list(operands)}}


def cmp(operator: str, name: str, value: Any) -> dict[str, Any]:
    return op(operator, var(name), {"value": value})


def hand(kind: str, condition: dict[str, Any] | None = None) -> Plan:
    return Plan(kind, "r1", condition)


def conditional(condition: dict[str, Any]) -> Plan:
    return hand("KIND_CONDITIONAL", condition)


@pytest.fixture(scope="module")
def db(database: Engine) -> Iterator[Engine]:
    metadata.create_all(database)
    with database.begin() as c:
        c.execute(docs.insert(), ROWS)
    yield database
    metadata.drop_all(database)


def ids(db: Engine, plan: Any, columns: Mapping[str, Any] = COLUMNS) -> set[str]:
    with db.connect() as c:
        return set(c.scalars(select(docs.c.id).where(where(plan, columns))))


CASES = [
    ("eq", cmp("eq", "department", "eng"), {"d1", "d4"}),
    ("ne: a NULL is not unequal", cmp("ne", "department", "eng"), {"d2", "d5"}),
    ("lt", cmp("lt", "sensitivity", 3), {"d1", "d3"}),
    ("le", cmp("le", "sensitivity", 3), {"d1", "d2", "d3"}),
    ("gt", cmp("gt", "sensitivity", 2), {"d2", "d5"}),
    ("ge", cmp("ge", "sensitivity", 3), {"d2", "d5"}),
    ("value first: 2 < sensitivity",
     op("lt", {"value": 2}, var("sensitivity")), {"d2", "d5"}),
    ("float", cmp("gt", "score", 1.0), {"d2", "d4"}),
    ("bool", cmp("eq", "public", True), {"d1", "d4"}),
    ("in ids", cmp("in", "request.resource.id", ["d1", "d3", "zz"]), {"d1", "d3"}),
    ("in attr", cmp("in", "department", ["eng", "hr"]), {"d1", "d4", "d5"}),
    ("in numbers", cmp("in", "sensitivity", [1, 5, 7]), {"d1", "d5"}),
    ("in nothing", cmp("in", "department", []), set()),
    ("and", op("and", cmp("eq", "department", "eng"), cmp("ge", "score", 1.0)), {"d4"}),
    ("or", op("or", cmp("eq", "department", "hr"), cmp("lt", "sensitivity", 2)),
     {"d1", "d5"}),
    ("not eq keeps the NULL row", op("not", cmp("eq", "department", "eng")),
     {"d2", "d3", "d5"}),
    ("not ne keeps the NULL row", op("not", cmp("ne", "department", "eng")),
     {"d1", "d3", "d4"}),
    ("not in keeps the NULL row", op("not", cmp("in", "department", ["eng", "hr"])),
     {"d2", "d3"}),
    ("not of a comparison on another NULL column",
     op("and", cmp("eq", "department", "eng"), op("not", cmp("le", "sensitivity", 1))),
     {"d4"}),
    ("or with a not",
     op("or", cmp("eq", "department", "hr"), op("not", cmp("gt", "score", 1.0))),
     {"d1", "d3", "d5"}),
    ("not not", op("not", op("not", cmp("eq", "department", "eng"))), {"d1", "d4"}),
    ("not and: a NULL conjunct makes the and false",
     op("not", op("and", cmp("eq", "department", "eng"), cmp("gt", "sensitivity", 0))),
     {"d2", "d3", "d4", "d5"}),
    ("not or", op("not", op("or", cmp("eq", "department", "eng"), cmp("gt", "score", 1.0))),
     {"d3", "d5"}),
    ("nested under and/or/not",
     op("or",
        op("and", cmp("in", "request.resource.id", ["d3", "d4"]),
           op("not", cmp("eq", "public", True))),
        op("and", cmp("ge", "sensitivity", 5), op("not", op("not", cmp("eq", "score", 0.5))))),
     {"d3", "d5"}),
    ("empty and", op("and"), ALL),
    ("empty or", op("or"), set()),
    ("a constant operand", op("and", {"value": True}, cmp("eq", "department", "hr")), {"d5"}),
    ("strings are ordered", cmp("lt", "department", "f"), {"d1", "d4"}),
    # values of two types: never equal, never ordered (SQLite would find '3' equal to 3)
    ("eq of two types", cmp("eq", "sensitivity", "3"), set()),
    ("ne of two types", cmp("ne", "sensitivity", "3"), {"d1", "d2", "d3", "d5"}),
    ("not eq of two types", op("not", cmp("eq", "sensitivity", "3")), ALL),
    ("ordering of two types", cmp("lt", "department", 5), set()),
    ("booleans are not ordered", cmp("le", "public", True), set()),
    ("in of two types", cmp("in", "sensitivity", ["1", 5, True]), {"d5"}),
    ("in ids of two types", cmp("in", "request.resource.id", [1, "d2"]), {"d2"}),
    ("has: eq of a property with itself", op("eq", var("department"), var("department")),
     {"d1", "d2", "d4", "d5"}),
    ("not has", op("not", op("eq", var("score"), var("score"))), {"d3"}),
    ("two columns", op("eq", var("sensitivity"), var("score")), set()),
    ("two columns of two types", op("ne", var("department"), var("score")),
     {"d1", "d2", "d4", "d5"}),
]


@pytest.mark.parametrize(("condition", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_condition(db: Engine, condition: dict[str, Any], expected: set[str]) -> None:
    assert ids(db, conditional(condition)) == expected


def test_always_allowed_and_denied(db: Engine) -> None:
    assert ids(db, hand("KIND_ALWAYS_ALLOWED")) == ALL
    assert ids(db, hand("KIND_ALWAYS_DENIED")) == set()


def test_plan_as_json(db: Engine) -> None:
    """The dict of Plan.to_dict() and the HTTP answer, as an application receives it."""
    condition = cmp("eq", "department", "eng")
    answer = {"revision": "r1", "filter": {"kind": "KIND_CONDITIONAL", "condition": condition},
              "explanation": []}
    assert ids(db, answer) == {"d1", "d4"}
    assert ids(db, answer["filter"]) == {"d1", "d4"}
    assert ids(db, {"filter": {"kind": "KIND_ALWAYS_DENIED"}}) == set()


def test_long_in_list(db: Engine) -> None:
    """5,000 ids pass SQLite's cap of 999 bound parameters: the values are written into
    the statement, in OR'd groups of at most IN_GROUP."""
    wanted = [f"x{i}" for i in range(4998)] + ["d2", "d4"]
    plan = conditional(cmp("in", "request.resource.id", wanted))
    assert len(wanted) > 5 * SQLITE_MAX_VARIABLES
    assert ids(db, plan) == {"d2", "d4"}
    sql = str(select(docs.c.id).where(where(plan, COLUMNS)).compile(
        dialect=db.dialect, compile_kwargs={"render_postcompile": True}))
    groups = re.findall(r"IN \(([^)]*)\)", sql)
    assert len(groups) == len(wanted) // IN_GROUP
    assert all(len(g.split(",")) <= IN_GROUP for g in groups)


def test_quotes_in_values(db: Engine) -> None:
    """Values written into the statement are quoted by the dialect, never spliced."""
    plan = conditional(cmp("in", "request.resource.id", ["d1", "x' OR '1'='1", "a\\'b"]))
    assert ids(db, plan) == {"d1"}


def test_unknown_variable_is_refused() -> None:
    """Under a not, an unmapped variable would otherwise make the filter wider."""
    plan = conditional(op("and", cmp("eq", "department", "eng"),
                          op("not", cmp("eq", "owner", "alice"))))
    with pytest.raises(ValueError, match=re.escape("'request.resource.attr.owner'")):
        where(plan, COLUMNS)


@pytest.mark.parametrize(("plan", "message"), [
    (conditional(op("xor", cmp("eq", "department", "eng"))), "unknown operator 'xor'"),
    (conditional(op("not", cmp("eq", "department", "a"), cmp("eq", "department", "b"))),
     "'not' takes one operand"),
    (conditional(op("eq", var("department"))), "'eq' takes two operands"),
    (conditional(op("in", var("department"), {"value": "eng"})), "'in' takes a variable"),
    (conditional(cmp("eq", "department", None)), "a plan value must be"),
    (conditional(cmp("in", "department", [["eng"]])), "a plan value must be"),
    (conditional(var("public")), "not a condition"),
    (hand("KIND_CONDITIONAL"), "no condition"),
    (hand("KIND_SOMETIMES"), "unknown plan kind"),
    ({"revision": "r1"}, "not a plan"),
])
def test_malformed_plans_are_refused(plan: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        where(plan, COLUMNS)
