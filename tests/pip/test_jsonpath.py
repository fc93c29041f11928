"""json_path(Json, Path, ?V), also under its original name unify_json_path."""

from __future__ import annotations

from typing import Any

import pytest

from siamese import RuleEngine
from siamese.engine.errors import EvaluationError
from siamese.pip import JSON_PATH_BUILTINS

DOC = {"a": {"b": [{"c": 1}, {"c": [True, None]}], "x.y": "dotted"}, "n": 0}


async def lookup(path: Any, name: str = "json_path") -> list[Any]:
    e = RuleEngine(builtins=JSON_PATH_BUILTINS)
    e.load_text(f'p(?p, ?v) :- input("doc", ?j), {name}(?j, ?p, ?v).', "t.rules")
    return [s["?v"] async for s in e.query("p", path, "?v", input={"doc": DOC})]


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("a.b.0.c", [1]),
        ("a.b.1.c", [[True, "null"]]),
        ("a.b.1.c.1", ["null"]),
        ("n", [0]),
        (["a", "x.y"], ["dotted"]),
        (["a", "b", 1, "c", 0], [True]),
        ("a.b.2", []),
        ("a.b.-1", []),
        ("a.b.c", []),
        ("a.zzz", []),
        ("n.m", []),
    ],
)
async def test_paths(path: Any, found: list[Any]) -> None:
    assert await lookup(path) == found


async def test_the_whole_value_and_the_original_name() -> None:
    assert await lookup("a.b.0", "unify_json_path") == [{"c": 1}]
    whole = {"a": {"b": [{"c": 1}, {"c": [True, "null"]}], "x.y": "dotted"}, "n": 0}
    assert await lookup("") == [whole]


async def test_a_bound_value_is_compared() -> None:
    e = RuleEngine(builtins=JSON_PATH_BUILTINS)
    e.load_text('ok :- input("doc", ?j), json_path(?j, "a.b.0.c", 1).\n'
                'no :- input("doc", ?j), json_path(?j, "a.b.0.c", 2).', "t.rules")
    assert e.ask("ok", input={"doc": DOC})
    assert not e.ask("no", input={"doc": DOC})


async def test_bad_arguments_are_errors() -> None:
    e = RuleEngine(builtins=JSON_PATH_BUILTINS)
    e.load_text('p :- json_path(?j, "a", ?v).\nq :- json_path([1], 3.5, ?v).', "t.rules")
    with pytest.raises(EvaluationError, match="json_path: the JSON value is unbound"):
        e.ask("p")
    with pytest.raises(EvaluationError, match="expected a path string or list"):
        e.ask("q")
