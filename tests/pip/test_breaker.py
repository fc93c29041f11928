"""The circuit breaker of each host: open after N consecutive failures, half-open after
the cool-down (on the injected clock), closed again on success."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siamese.pip import CircuitBreaker, FetchError, HttpData

from .conftest import Clock
from .upstream import Server


def test_the_state_machine(clock: Clock) -> None:
    b = CircuitBreaker("h", failures=3, cooldown=10.0, clock=clock)
    for _ in range(2):
        assert b.allow()
        b.failure()
    b.success()  # consecutive failures only
    for _ in range(3):
        assert b.state == "closed" and b.allow()
        b.failure()
    assert b.state == "open" and not b.allow()
    clock.advance(9.9)
    assert not b.allow()
    clock.advance(0.1)
    assert b.state == "half-open"
    assert b.allow()  # the trial call
    assert not b.allow()  # one at a time
    b.failure()  # the trial failed: a full cool-down again
    assert b.state == "open"
    clock.advance(10.0)
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow() and b.opens == 2


def test_a_lost_trial_does_not_wedge_the_circuit(clock: Clock) -> None:
    b = CircuitBreaker("h", failures=1, cooldown=5.0, clock=clock)
    b.failure()
    clock.advance(5.0)
    assert b.allow() and not b.allow()
    clock.advance(5.0)  # the trial never reported
    assert b.allow()
    b.release()
    assert b.allow()


def test_zero_failures_means_never_open(clock: Clock) -> None:
    b = CircuitBreaker("h", failures=0, clock=clock)
    for _ in range(100):
        b.failure()
    assert b.state == "closed"


async def test_open_half_open_closed_against_a_real_host(
    upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    upstream.json("/api", {"down": True}, status=503)
    h = make_http([upstream.base + "/"], breaker_failures=3, breaker_cooldown=30.0)
    for _ in range(3):
        with pytest.raises(FetchError, match="HTTP 503"):
            await h.get_json(upstream.url("/api"))
    assert h.breakers.states() == {upstream.base: "open"}
    # open: fails at once, without a request, for every path of that host
    with pytest.raises(FetchError, match=f"circuit open for {upstream.base} after 3 "):
        await h.get_json(upstream.url("/api"))
    with pytest.raises(FetchError, match="circuit open"):
        await h.get_json(upstream.url("/other"))
    assert upstream.hits["/api"] == 3 and upstream.hits["/other"] == 0
    # half-open after the cool-down: one trial; it fails, so open again
    clock.advance(30.0)
    assert h.breakers.states() == {upstream.base: "half-open"}
    with pytest.raises(FetchError, match="HTTP 503"):
        await h.get_json(upstream.url("/api"))
    assert h.breakers.states() == {upstream.base: "open"}
    # the host recovers; after the next cool-down the trial succeeds and closes it
    upstream.json("/api", {"down": False})
    clock.advance(30.0)
    assert (await h.get_json(upstream.url("/api")))[0] == {"down": False}
    assert h.breakers.states() == {upstream.base: "closed"}
    assert upstream.hits["/api"] == 5


async def test_timeouts_count_and_answers_that_are_the_callers_fault_do_not(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    upstream.json("/missing", {}, status=404)
    h = make_http([upstream.base + "/"], breaker_failures=2, timeout=0.05)
    for _ in range(3):
        with pytest.raises(FetchError, match="HTTP 404"):
            await h.get_json(upstream.url("/missing"))
    assert h.breakers.states() == {upstream.base: "closed"}
    for _ in range(2):
        with pytest.raises(FetchError, match="timed out"):
            await h.get_json(upstream.url("/gate"))
    assert h.breakers.states() == {upstream.base: "open"}


async def test_cached_data_is_served_while_the_circuit_is_open(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    upstream.json("/good", {"v": 1})
    upstream.json("/bad", {}, status=500)
    h = make_http([upstream.base + "/"], breaker_failures=1)
    await h.get_json(upstream.url("/good"))
    with pytest.raises(FetchError):
        await h.get_json(upstream.url("/bad"))
    assert h.breakers.states() == {upstream.base: "open"}
    assert (await h.get_json(upstream.url("/good")))[0] == {"v": 1}  # graceful degradation
