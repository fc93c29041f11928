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


def test_a_compiled_verdict_makes_its_explanation_when_read() -> None:
    """The proof and the why-not of a verdict that compiled code reached are made at their
    first read, the same as the interpreter's, and once."""
    text = ("allow(?u, read, ?d) :- staff(?u), level(?u, ?l), ?l >= 2.\n"
            "staff(ann). staff(cy). level(ann, 3). level(cy, 1).\n")
    fast = build(parse_source(text, "p.rules"))
    slow = build(parse_source(text, "p.rules"), compiled=False)
    for who in ("ann", "cy", "zed"):
        v = decide(fast, (who, "read", "doc"))
        assert isinstance(v, Verdict) and v._lazy is not None  # nothing made yet
        w = _settled(decide(slow, (who, "read", "doc")))
        assert (v.kind, v.rule) == (w.kind, w.rule)
        assert v.proof == w.proof and v.rule_ids == w.rule_ids
        assert [x.to_dict() for x in v.why_not] == [x.to_dict() for x in w.why_not]
        assert v._lazy is None and v.explain_error is None
    assert fast.counts.compiled == 3 and fast.counts.interpreted_clauses == 0


def test_an_explanation_that_cannot_be_made_says_so_and_keeps_the_verdict() -> None:
    def fails() -> Any:
        raise LimitExceeded("max_steps", 10)

    v = Verdict("allow", [], (), [], lazy=fails, rule="owners")
    assert v.allowed and v.rule == "owners"
    assert v.proof == [] and v.rule_ids == ("owners",) and v.why_not == []
    assert v.explain_error is not None and v.explain_error.startswith("LimitExceeded")
