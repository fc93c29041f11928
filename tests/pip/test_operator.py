"""Operator built-ins loaded from a module named by a string (SIAMESE_BUILTINS): checked,
wrapped, and used in decisions — volatile ones are not cached, one that raises denies
with the error named, one that never returns is cut off by its timeout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.models import Request
from siamese.decision.service import DecisionService
from siamese.engine.builtins import Builtin
from siamese.pip import (
    JSON_PATH_BUILTINS,
    OperatorBuiltinError,
    load_operator_builtins,
    operator_builtins,
)

from . import operator_mod
from .conftest import write_policy

REF = "tests.pip.operator_mod:BUILTINS"

POLICY = """
allow(?u, read, ?doc) :- department(?u, eng).
allow(?u, write, ?doc) :- on_shift(?u).
allow(?u, delete, ?doc) :- boom(?u).
allow(?u, admin, ?doc) :- hang(?u).
"""


def test_loading_by_name() -> None:
    b = load_operator_builtins(REF)
    assert sorted(b) == ["boom", "department", "hang", "on_shift"]
    assert all(isinstance(x, Builtin) and x.is_async for x in b.values())
    assert b["on_shift"].volatile and not b["department"].volatile
    assert b["hang"].timeout == 0.05 and b["boom"].timeout is None
    assert b["on_shift"].name == "on_shift"


def test_the_attribute_defaults_to_builtins() -> None:
    assert sorted(load_operator_builtins("tests.pip.operator_mod")) == sorted(
        load_operator_builtins(REF)
    )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "expected 'module.path:ATTRIBUTE'"),
        ("tests.pip.operator_mod:", "expected 'module.path:ATTRIBUTE'"),
        ("no such/module:X", "expected 'module.path:ATTRIBUTE'"),
        ("tests.pip.nowhere:BUILTINS", "cannot import 'tests.pip.nowhere'"),
        ("tests.pip.broken_mod:BUILTINS",
         "importing 'tests.pip.broken_mod' failed: RuntimeError"),
        ("tests.pip.operator_mod:MISSING", "has no attribute 'MISSING'"),
        ("tests.pip.operator_mod:NOT_A_DICT", "expected a dict of name → built-in, got list"),
        ("tests.pip.operator_mod:BAD_SYNC",
         "built-in 'plain': expected an async generator function .* not async"),
        ("tests.pip.operator_mod:BAD_CORO", "built-in 'coro': .* 'async def' without 'yield'"),
        ("tests.pip.operator_mod:CLASH", "'eq' clashes with a built-in of siamese"),
        ("tests.pip.operator_mod:BAD_NAME", "'Department' is not a built-in name"),
        ("tests.pip.operator_mod:BAD_TIMEOUT", "timeout must be a positive number"),
        ("tests.pip.operator_mod:BAD_KEYS", r"unknown keys \['volatle'\]"),
    ],
)
def test_clear_errors(ref: str, message: str) -> None:
    with pytest.raises(OperatorBuiltinError, match=message):
        load_operator_builtins(ref)


def test_names_of_the_http_built_ins_are_taken_too() -> None:
    for name in ("http_get_json", "json_path", "unify_json_path"):
        with pytest.raises(OperatorBuiltinError, match="clashes"):
            operator_builtins({name: operator_mod.department})


def test_loaded_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # what the server does with SIAMESE_BUILTINS
    monkeypatch.setenv("SIAMESE_BUILTINS", REF)
    assert "department" in load_operator_builtins(os.environ["SIAMESE_BUILTINS"])


def service(tmp_path: Path) -> DecisionService:
    builtins = {**JSON_PATH_BUILTINS, **load_operator_builtins(REF)}
    policy = write_policy(tmp_path, POLICY, builtins)
    return DecisionService(lambda: policy, Authorizer(), DecisionCache(100, 60.0))


async def test_a_plain_operator_built_in_decides_and_is_cached(tmp_path: Path) -> None:
    svc = service(tmp_path)
    operator_mod.calls.clear()
    first = await svc.decide(Request.simple("alice", "read", "doc"))
    assert first.allowed and not first.cached
    again = await svc.decide(Request.simple("alice", "read", "doc"))
    assert again.allowed and again.cached
    assert operator_mod.calls == ["department(alice)"]
    denied = await svc.decide(Request.simple("bob", "read", "doc"))
    assert not denied.allowed


async def test_a_note_from_an_operator_built_in_is_shown(tmp_path: Path) -> None:
    svc = service(tmp_path)
    d = await svc.decide(Request.simple("mallory", "read", "doc"))
    assert not d.allowed
    assert d.explanation["notes"] == ["department: mallory is not in the directory"]


async def test_a_volatile_operator_built_in_is_not_cached(tmp_path: Path) -> None:
    svc = service(tmp_path)
    operator_mod.calls.clear()
    for _ in range(3):
        d = await svc.decide(Request.simple("alice", "write", "doc"))
        assert d.allowed and not d.cached
    assert operator_mod.calls == ["on_shift(alice)"] * 3
    assert svc.cache is not None and svc.cache.size == 0


async def test_an_operator_built_in_that_raises_denies_and_is_named(tmp_path: Path) -> None:
    svc = service(tmp_path)
    d = await svc.decide(Request.simple("alice", "delete", "doc"))
    assert not d.allowed and not d.cached
    assert d.reason == "denied: policy evaluation failed"
    assert d.outcome.errors == (
        "built-in 'boom' failed: RuntimeError('directory exploded')",
    )
    assert svc.cache is not None and svc.cache.size == 0


async def test_an_operator_built_in_that_never_returns_times_out(tmp_path: Path) -> None:
    svc = service(tmp_path)
    d = await svc.decide(Request.simple("alice", "admin", "doc"))
    assert not d.allowed
    assert d.reason == "denied: limit exceeded (timeout)"
    assert d.outcome.limit == "timeout"
    assert "built-in 'hang'" in d.outcome.errors[0]
    assert svc.cache is not None and svc.cache.size == 0
