"""The engine's decision API fails closed: whatever goes wrong is a verdict of kind
``error``, never an allow and never an exception."""

from __future__ import annotations

import asyncio
from typing import Any

from siamese.engine import (
    Builtin,
    BuiltinContext,
    LimitExceeded,
    Limits,
    Program,
    Verdict,
    build,
    decide,
    parse_source,
)

RULES = "allow(?u, read, ?d) :- boom(?u).\n"


def _boom(ctx: BuiltinContext, args: tuple[Any, ...]) -> bool:
    raise RuntimeError("the directory is down")


def _settled(v: Any) -> Verdict:
    return v if isinstance(v, Verdict) else asyncio.run(v)


def test_an_unfinished_program_is_an_error_not_an_allow() -> None:
    program = Program()
    program.add_items(parse_source('allow(ann, read, doc).\n', "p.rules"))
    v = _settled(decide(program, ("ann", "read", "doc")))
    assert v.kind == "error" and not v.allowed
    assert "not finished" in str(v.error)


def test_a_built_in_that_raises_is_an_error_verdict() -> None:
    program = build(parse_source(RULES, "p.rules"), {"boom": Builtin("boom", _boom)})
    v = _settled(decide(program, ("ann", "read", "doc")))
    assert v.kind == "error" and not v.allowed and "directory is down" in repr(v.error)


def test_a_limit_is_an_error_verdict() -> None:
    rules = "allow(?u, read, ?d) :- loop(?u, 0).\nloop(?u, ?n) :- ?m is ?n + 1, loop(?u, ?m).\n"
    program = build(parse_source(rules, "p.rules"))
    v = _settled(decide(program, ("ann", "read", "doc"), limits=Limits(max_steps=500)))
    assert v.kind == "error" and not v.allowed and isinstance(v.error, LimitExceeded)


def test_a_deny_overrides_and_odd_values_are_plain_denies() -> None:
    program = build(parse_source(
        "allow(?u, read, ?d) :- staff(?u).\ndeny(?u, ?a, ?d) :- suspended(?u).\n"
        "staff(ann). staff(bob). suspended(bob).\n", "p.rules"))
    assert _settled(decide(program, ("ann", "read", "doc"))).allowed
    assert _settled(decide(program, ("bob", "read", "doc"))).kind == "deny"
    for odd in ("", "\u0000", "\ud800", "é" * 10_000, "?u", "_"):
        v = _settled(decide(program, (odd, "read", "doc")))
        assert v.kind == "default-deny" and not v.allowed, odd
