"""The client against real ``siamese serve`` processes: API-key and bearer authentication,
a server restarted on its port while a call is under way, and one Client shared by
threads."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest

from siamese.client import AsyncClient, AuthenticationError, Client

from .conftest import API_KEY, JWT_SECRET, TLS, Both, Process, Served
from .test_endpoints import ALLOW, DENY

DEADLINE = 30.0


def token(**claims: Any) -> str:
    return jwt.encode({"sub": "app", "exp": int(time.time()) + 3600, **claims}, JWT_SECRET,
                      algorithm="HS256")


def test_api_key_auth(keyed_server: Served, both: Both) -> None:
    d = both(keyed_server.url, "decide", *ALLOW, options={"api_key": API_KEY})
    assert d.decision is True and d.error is None
    # the server takes an API key as a bearer token too
    assert both(keyed_server.url, "allowed", *ALLOW, options={"bearer_token": API_KEY})
    for options in ({}, {"api_key": "wrong-key-0123456789"},
                    {"bearer_token": "wrong-key-0123456789"}):
        d = both(keyed_server.url, "decide", *ALLOW, options=options)
        assert d.decision is False and isinstance(d.error, AuthenticationError)
        assert d.error.status == 401
    with pytest.raises(AuthenticationError):
        both(keyed_server.url, "decide", *ALLOW, raise_errors=True)
    page = both(keyed_server.url, "search_subjects", "delete", "runbook",
                options={"api_key": API_KEY})
    assert "alice" in page.ids
    plan = both(keyed_server.url, "plan", "alice", "read", "document",
                options={"api_key": API_KEY})
    assert plan.kind == "KIND_CONDITIONAL"


def test_bearer_auth(jwt_server: Served, both: Both) -> None:
    d = both(jwt_server.url, "decide", *ALLOW, options={"bearer_token": token()})
    assert d.decision is True and d.error is None
    for bad in (token(exp=int(time.time()) - 60), jwt.encode(
            {"sub": "app", "exp": int(time.time()) + 60}, "another-secret-0123456789-abcdef",
            algorithm="HS256")):
        d = both(jwt_server.url, "decide", *ALLOW, options={"bearer_token": bad})
        assert d.decision is False and isinstance(d.error, AuthenticationError)
    d = both(jwt_server.url, "decide", *ALLOW, options={"api_key": API_KEY})
    assert isinstance(d.error, AuthenticationError)
    # a function: called for each request, so a token can be renewed
    issued: list[str] = []

    def fresh() -> str:
        issued.append(token(jti=str(len(issued))))
        return issued[-1]

    ds = both.many(jwt_server.url, [("decide", ALLOW, {}), ("decide", DENY, {})],
                   options={"bearer_token": fresh})
    assert [d.decision for d in ds] == [True, False] and len(issued) == 2
    assert all(d.error is None for d in ds)


def test_a_call_during_a_restart_succeeds_after_a_retry(restartable: Process, both: Both) -> None:
    """The server is stopped; a call is made; when the client waits before its retry, the
    server is started again on its port; the retry gets the decision."""
    failed, back = threading.Event(), threading.Event()
    waits: list[float] = []

    def restart() -> None:
        proc = restartable.proc
        if failed.wait(DEADLINE) and proc is not None and proc.poll() is not None:
            restartable.start()
            back.set()

    def sleep(delay: float) -> None:  # the client's wait before a retry
        waits.append(delay)
        failed.set()
        assert back.wait(DEADLINE), "the server did not come back"

    calls = [("decide", ALLOW, {}), ("stop", (), {}), ("decide", ALLOW, {}),
             ("decide", DENY, {})]
    helper = threading.Thread(target=restart, daemon=True)
    helper.start()
    try:
        results = _through_one_client(both.form, restartable, calls, sleep)
    finally:
        failed.set()
        helper.join(DEADLINE)
    before, during, after = results
    assert before.decision is True and during.decision is True and during.error is None
    assert after.decision is False and after.error is None  # a deny is a deny, not retried
    assert len(waits) == 1  # one failed attempt (the server was down), then the decision
    assert during.revision == before.revision


def _through_one_client(form: str, process: Process, calls: list[Any], sleep: Any) -> list[Any]:
    """The calls through one client (so its pooled connection dies with the server);
    ``stop`` kills the server."""
    options: dict[str, Any] = {"verify": TLS, "retries": 5}
    if form == "sync":
        with Client(process.url, sleep=sleep, **options) as c:
            out = []
            for name, args, kwargs in calls:
                if name == "stop":
                    process.stop()
                else:
                    out.append(getattr(c, name)(*args, **kwargs))
            return out

    async def asleep(delay: float) -> None:
        await asyncio.to_thread(sleep, delay)

    async def run() -> list[Any]:
        async with AsyncClient(process.url, sleep=asleep, **options) as c:
            out = []
            for name, args, kwargs in calls:
                if name == "stop":
                    process.stop()
                else:
                    out.append(await getattr(c, name)(*args, **kwargs))
            return out

    return asyncio.run(run())


def test_one_client_shared_by_threads(server: Served) -> None:
    cases = [(ALLOW, True), (DENY, False), (("grace", "delete", "api_spec"), True),
             (("heidi", "share", "salary_review"), False)]
    start = threading.Barrier(8)

    def work(i: int) -> list[tuple[bool, bool]]:
        start.wait(DEADLINE)
        out = []
        for j in range(12):
            args, expected = cases[(i + j) % len(cases)]
            d = client.decide(*args, context={"worker": i, "call": j})
            out.append((d.decision, expected))
            assert d.error is None, d.error
        return out

    for cache_ttl in (0.0, 60.0):
        client = Client(server.url, verify=TLS, max_connections=4, cache_ttl=cache_ttl)
        with client, ThreadPoolExecutor(8) as pool:
            results = [r for rs in pool.map(work, range(8)) for r in rs]
        assert len(results) == 96 and all(got == want for got, want in results)
