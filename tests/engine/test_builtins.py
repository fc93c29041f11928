"""Every built-in of SPEC §4, through the text syntax."""

from __future__ import annotations

import pytest

from siamese import RuleEngine
from siamese.engine.builtins import DEFAULT_BUILTINS


def solve(goal: str, facts: str = "", input: object = None, wall: float = 0.0) -> list[dict]:
    e = RuleEngine(wall_clock=lambda: wall)
    if facts:
        e.load_text(facts, "t.rules")
    return e.solve(goal, input=input)


def holds(goal: str, **kw: object) -> bool:
    return bool(solve(goal, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        ("eq(1, 1)", True), ("1 == 1", True), ("a == b", False), ("?x == 3, ?x == 3", True),
        ("neq(a, b)", True), ("a != a", False), ("1 != 1.5", True),
        ("gt(2, 1)", True), ("2 > 3", False), ("gte(2, 2)", True), ("2 >= 3", False),
        ("lt(1, 2)", True), ("1 < 1", False), ("lte(1, 1)", True), ("b <= a", False),
        ("a < b", True), ("1 < a", False), ("1 + 1 > 1", True),
        ("member(b, [a, b])", True), ("c in [a, b]", False),
        ("startswith(\"/api/v1\", \"/api\")", True), ("endswith(\"file.txt\", \".pdf\")", False),
        ("contains(\"hello world\", \"o w\")", True), ("contains([a, b], b)", True),
        ("glob(\"*.example.com\", \"api.example.com\")", True), ("glob(\"a?c\", \"abbc\")", False),
        ("regex(\"^v[0-9]+$\", \"v12\")", True), ("regex(\"^v[0-9]+$\", \"x12\")", False),
        ("cidr(\"10.0.0.0/8\", \"10.1.2.3\")", True), ("cidr(\"10.0.0.0/8\", \"11.1.2.3\")", False),
        ("cidr(\"2001:db8::/32\", \"2001:db8::1\")", True), ("cidr(\"10.0.0.0/8\", \"x\")", False),
        ("path_match(\"/orgs/:org/docs/*\", \"/orgs/acme/docs/7\")", True),
        ("path_match(\"/orgs/:org\", \"/orgs/acme/docs\")", False),
        ("path_match(\"/static/**\", \"/static/css/a.css\")", True),
    ],
)
def test_tests(goal: str, expected: bool) -> None:
    assert holds(goal) is expected


@pytest.mark.parametrize(
    ("goal", "var", "value"),
    [
        ("add(2, 3, ?x)", "?x", 5), ("sub(2, 3, ?x)", "?x", -1), ("mul(4, 2.5, ?x)", "?x", 10.0),
        ("div(7, 2, ?x)", "?x", 3.5), ("div(8, 2, ?x)", "?x", 4), ("mod(7, 3, ?x)", "?x", 1),
        ("?x is 2 + 3 * 4", "?x", 14), ("?x is (2 + 3) * 4", "?x", 20), ("?x is 7 // 2", "?x", 3),
        ("?x is 7 % 4 - 1", "?x", 2), ("?x is -3 + 1", "?x", -2),
        ("lower(\"HeLLo\", ?x)", "?x", "hello"), ("upper(abc, ?x)", "?x", "ABC"),
        ("concat(foo, bar, ?x)", "?x", "foobar"), ("concat([a], [b], ?x)", "?x", ["a", "b"]),
        ("split(\"a,b,c\", \",\", ?x)", "?x", ["a", "b", "c"]),
        ("path_match(\"/orgs/:org/docs/:id\", \"/orgs/acme/docs/42\", ?p)", "?p", ["acme", "42"]),
        ("length([a, b, c], ?n)", "?n", 3),
    ],
)
def test_functions(goal: str, var: str, value: object) -> None:
    assert solve(goal) == [{var: value}]


def test_member_enumerates_when_unbound() -> None:
    assert [s["?x"] for s in solve("member(?x, [a, b, c])")] == ["a", "b", "c"]
    assert [s["?x"] for s in solve("?x in [1, 2], ?x > 1")] == [2]


def test_now_and_time_between_read_the_injected_wall_clock() -> None:
    noon = 1_700_000_000 - (1_700_000_000 % 86400) + 12 * 3600  # 12:00 UTC
    assert solve("now(?t)", wall=noon) == [{"?t": noon}]
    assert holds("time_between(\"09:00\", \"17:00\")", wall=noon)
    assert not holds("time_between(\"22:00\", \"06:00\")", wall=noon)
    assert holds("time_between(\"22:00\", \"06:00\")", wall=noon + 11 * 3600)
    assert holds(f"time_between({noon - 1}, {noon + 1})", wall=noon)


def test_input_reads_paths_of_the_request() -> None:
    req = {
        "subject": {"id": "alice", "properties": {"department": "eng", "tags": ["a", "b"]}},
        "context": {"ip": "10.1.2.3", "mfa": True, "none": None},
    }
    assert solve("input(\"subject.properties.department\", ?d)", input=req) == [{"?d": "eng"}]
    assert solve("input(\"subject.properties.tags.1\", ?t)", input=req) == [{"?t": "b"}]
    assert solve("input(\"subject.properties.tags\", ?t)", input=req) == [{"?t": ["a", "b"]}]
    assert holds("input(\"context.mfa\", true)", input=req)
    assert solve("input(\"context.none\", ?v)", input=req) == [{"?v": "null"}]
    assert not holds("input(\"context.missing\", ?v)", input=req)
    assert not holds("input(\"subject.id\", ?v)", input=None)


def test_arithmetic_errors_end_the_query() -> None:
    from siamese.engine.errors import EvaluationError

    with pytest.raises(EvaluationError, match="division by zero"):
        solve("?x is 1 / 0")
    with pytest.raises(EvaluationError, match="not a number"):
        solve("?x is a + 1")
    with pytest.raises(EvaluationError, match="unbound"):
        solve("?x > 1")
    with pytest.raises(EvaluationError, match="invalid pattern"):
        solve("regex(\"(\", \"x\")")


def test_no_builtin_is_left_untested() -> None:
    tested = {
        "eq", "neq", "gt", "gte", "lt", "lte", "member", "in", "length", "add", "sub", "mul",
        "div", "mod", "is", "startswith", "endswith", "contains", "lower", "upper", "concat",
        "split", "glob", "regex", "cidr", "path_match", "now", "time_between", "input",
    }
    assert set(DEFAULT_BUILTINS) == tested


def test_a_catastrophic_regex_ends_in_a_limit_not_a_hang() -> None:
    from siamese import LimitExceeded

    with pytest.raises(LimitExceeded) as err:
        solve('regex("(a|aa)+$", "' + "a" * 60 + 'b")')
    assert err.value.limit == "timeout" and "regex" in str(err.value)
