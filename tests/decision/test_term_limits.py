"""A policy that builds a term doubling at each step (a DAG, exponential as a tree) is
denied naming ``max_term_nodes``, and the event loop keeps turning while it is decided
(security review, finding 5: terms built by rules)."""

from __future__ import annotations

import asyncio

import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.engine import Limits

from .conftest import policy

# no clock: the term bound, not the timeout, must end these (on a busy machine the 1 s
# timeout can come first now that the clock is read after each walk)
NO_TIMEOUT = Limits(timeout_ms=None)


def doubling(n: int) -> str:
    return f"""
g(0, ?x, ?x).
g(?n, ?x, ?y) :- ?n > 0, ?m is ?n - 1, h(?x, ?z), g(?m, ?z, ?y).
h(?x, f(?x, ?x)).
allow(?u, ?a, ?r) :- gg({n}, ?y), ?y == b.
gg(?n, ?y) :- g(?n, a, ?y).
"""


@pytest.mark.parametrize("n", [20, 40])
async def test_a_doubling_term_denies_naming_the_limit(n: int) -> None:
    out = await Authorizer(limits=NO_TIMEOUT).evaluate(
        policy(doubling(n)), Request.simple("u", "read", "r"))
    assert not out.allowed
    assert "max_term_nodes" in out.reason


async def test_another_task_runs_while_it_is_decided() -> None:
    ran = asyncio.Event()
    seen_before_the_end: list[bool] = []

    async def decide() -> object:
        out = await Authorizer().evaluate(policy(doubling(40)), Request.simple("u", "read", "r"))
        seen_before_the_end.append(ran.is_set())
        return out

    task = asyncio.create_task(decide())
    await asyncio.sleep(0)  # the decision starts; this task runs again at its first turn
    ran.set()
    out = await asyncio.wait_for(task, timeout=60)
    assert not out.allowed
    assert seen_before_the_end == [True]


async def test_an_allow_through_a_built_term_denies_naming_the_limit() -> None:
    """The rule allows, but its explanation holds a term of 2^40 leaves: printing it is
    refused, and a decision that cannot be explained denies."""
    n = 40
    xs = ", ".join(f"d(?x{i}, ?x{i + 1})" for i in range(n))
    ys = ", ".join(f"d(?y{i}, ?y{i + 1})" for i in range(n))
    text = (f"d(?x, f(?x, ?x)).\n"
            f"allow(?u, ?a, ?r) :- a == ?x0, a == ?y0, {xs}, {ys}, ?x{n} == ?y{n}.\n")
    req = Request.simple("u", "read", "r")
    out = await Authorizer(limits=NO_TIMEOUT).evaluate(policy(text), req)
    assert not out.allowed
    assert "max_term_nodes" in out.reason


async def test_a_built_term_as_a_response_header_denies_naming_the_limit() -> None:
    n = 40
    xs = ", ".join(f"d(?x{i}, ?x{i + 1})" for i in range(n))
    text = (f"d(?x, f(?x, ?x)).\nallow(?u, ?a, ?r).\n"
            f"response_header(x, ?v) :- a == ?x0, {xs}, ?v == ?x{n}.\n")
    req = Request.simple("u", "read", "r")
    out = await Authorizer(limits=NO_TIMEOUT).evaluate(policy(text), req, gateway=True)
    assert not out.allowed
    assert "max_term_nodes" in out.reason
