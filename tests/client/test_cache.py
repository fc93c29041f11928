"""The client's decision cache: off by default; keyed on the canonical body and the
revision the server last reported; TTL on an injected clock; never an error."""

from __future__ import annotations

import subprocess
import sys

from siamese.client import DecisionCache

from .conftest import Both, Served
from .fakes import allow, fake, json_answer
from .test_endpoints import ALLOW


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_by_default(both: Both) -> None:
    with fake(allow()) as server:
        ds = both.many(server.url, [("decide", ALLOW, {})] * 3)
        assert len(server.seen) == 3 and not any(d.cached for d in ds)


def test_hits_misses_and_the_ttl(both: Both) -> None:
    clock = Clock()

    with fake(allow()) as server:
        calls = [
            ("decide", ALLOW, {"request_id": "first"}),
            ("decide", ALLOW, {"request_id": "second"}),  # a hit: same body
            ("decide", ("alice", "read", "runbook"), {}),  # another body
            ("decide", ALLOW, {"context": {}}),  # another body: {} is not absent
            ("decide", ({"id": "alice", "type": "user"}, {"name": "delete"},
                        {"type": "resource", "id": "runbook"}), {}),  # the same body again
        ]
        ds = both.many(server.url, calls, options={"cache_ttl": 10, "clock": clock})
        assert [d.cached for d in ds] == [False, True, False, False, True]
        assert len(server.seen) == 3
        assert ds[1].decision_id == ds[0].decision_id and ds[1].request_id == "second"
        assert ds[1].decision is True and ds[1].error is None
        clock.now = 10.5  # past the TTL
        again = both(server.url, "decide", *ALLOW, options={"cache_ttl": 10, "clock": clock})
        assert not again.cached


def test_a_new_revision_empties_the_cache(both: Both) -> None:
    with fake(allow("r1", "d1"), allow("r2", "d2"), allow("r2", "d3")) as server:
        calls = [("decide", ALLOW, {}),  # r1, cached
                 ("decide", ("bob", "read", "x"), {}),  # a miss answered by r2
                 ("decide", ALLOW, {})]  # r1's entry is gone: asked again
        ds = both.many(server.url, calls, options={"cache_ttl": 60})
        assert [d.revision for d in ds] == ["r1", "r2", "r2"]
        assert not any(d.cached for d in ds) and len(server.seen) == 3


def test_errors_are_not_cached(both: Both) -> None:
    error = json_answer({"decision": False, "context": {
        "revision": "r1", "reason_user": "denied: evaluation error",
        "reason_admin": {"kind": "error", "error": "timeout"}}})
    for first in (error, json_answer({}, 500), json_answer({"decision": "true"})):
        with fake(first, allow()) as server:
            ds = both.many(server.url, [("decide", ALLOW, {})] * 3,
                           options={"cache_ttl": 60})
            assert [d.decision for d in ds] == [False, True, True]
            assert [d.cached for d in ds] == [False, False, True]


def test_the_cache_against_a_real_server(server: Served, both: Both) -> None:
    calls = [("decide", ALLOW, {}), ("decide", ALLOW, {}), ("search_actions",
             ("alice", "runbook"), {}), ("decide", ALLOW, {})]
    first, hit, _, hit_again = both.many(server.url, calls, options={"cache_ttl": 60})
    assert hit.cached and hit_again.cached and hit.decision_id == first.decision_id
    assert hit.revision == server.revision


def test_the_cache_alone() -> None:
    clock = Clock()
    cache = DecisionCache(5, 2, clock)
    from siamese.client import Decision

    d = Decision(True, "ok", None, "r1", "d1")
    cache.put(b"a", d)
    assert cache.get(b"a") == d and cache.revision == "r1"
    cache.put(b"b", d)
    cache.put(b"c", d)  # over maxsize: the oldest goes
    assert len(cache) == 2
    cache.saw("r2")
    assert cache.get(b"c") is None and len(cache) == 0
    cache.put(b"x", Decision(True, "ok", None, None, "d"))  # no revision: not kept
    assert len(cache) == 0


def test_the_client_does_not_import_the_server() -> None:
    code = ("import sys, siamese.client; "
            "print(sorted(m for m in sys.modules if m == 'siamese.cli' or m.startswith(("
            "'siamese.server', 'starlette', 'uvicorn'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
