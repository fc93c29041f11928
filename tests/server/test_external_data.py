"""External data wired into the server by build_app: ``http_get_json`` and ``json_path``
from SIAMESE_HTTP_*, operator built-ins from SIAMESE_BUILTINS, the client's counters in
/metrics and /health, and the client closed with the app's lifespan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.pip import operator_mod
from tests.pip.conftest import owners_policy
from tests.pip.upstream import Server

from .conftest import app_for, body, serving

OPERATOR = """
@id("engineers-read")
allow(?u, read, ?doc) :- department(?u, eng).
"""


def metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert m is not None, f"{name}{labels} not in /metrics"
    return float(m.group(1))


async def test_decisions_use_fetched_data(tmp_path: Path, upstream: Server) -> None:
    upstream.json("/docs/plan", {"owners": ["alice", "bob"]})
    app = app_for(
        tmp_path,
        owners_policy(upstream.base),
        SIAMESE_HTTP_ALLOW=upstream.url("/docs/"),
    )
    async with serving(app) as c:
        r = await c.post("/access/v1/evaluation", json=body("bob", "read", "plan"))
        assert r.json()["decision"] is True
        assert r.json()["context"]["reason_user"] == "allowed by rule owner-reads"
        r = await c.post("/access/v1/evaluation", json=body("carol", "read", "plan"))
        assert r.json()["decision"] is False
        assert "notes" not in r.json()["context"]["reason_admin"]
        # a URL outside SIAMESE_HTTP_ALLOW: refused, denied, and the note says why
        r = await c.post("/access/v1/evaluation", json=body("bob", "read", "../etc"))
        assert r.json()["decision"] is False
        assert any("refused" in n for n in r.json()["context"]["reason_admin"]["notes"])
        assert upstream.hits["/docs/plan"] == 1  # the second decision read the data cache

        text = (await c.get("/metrics")).text
        assert metric(text, "siamese_http_fetches_total") == 1
        assert metric(text, "siamese_http_fetch_failures_total") == 0
        assert metric(text, "siamese_http_fetch_refusals_total") == 1
        # carol's decision read the cache once: one pass finds no proof and says why not
        assert metric(text, "siamese_http_cache_hits_total") == 1
        assert metric(text, "siamese_http_cache_misses_total") == 1
        assert metric(text, "siamese_http_cache_size") == 1
        assert metric(text, "siamese_http_connections_total") == 1
        host = f'{{host="{upstream.base}"}}'
        assert metric(text, "siamese_http_breaker_state", host) == 0  # closed

        health = (await c.get("/health")).json()
        assert health["status"] == "ok"
        assert health["services"]["http_data"] == {
            "state": "ok",
            "enabled": True,
            "fetches": 1,
            "failures": 0,
            "refusals": 1,
            "open_circuits": [],
        }
    service = app.state.siamese.services["http_data"]
    assert service.state == "closed" and service.http.client.is_closed  # closed at shutdown


async def test_the_tuning_variables_reach_the_client(tmp_path: Path, upstream: Server) -> None:
    upstream.json("/docs/plan", {"owners": ["alice"]}, status=503)
    app = app_for(
        tmp_path,
        owners_policy(upstream.base),
        SIAMESE_HTTP_ALLOW=upstream.url("/docs/"),
        SIAMESE_HTTP_TIMEOUT_MS="250",
        SIAMESE_HTTP_MAX_BYTES="4096",
        SIAMESE_HTTP_MAX_CONNECTIONS="3",
        SIAMESE_HTTP_CACHE_SIZE="0",
        SIAMESE_HTTP_CACHE_TTL="7",
        SIAMESE_HTTP_BREAKER_FAILURES="1",
        SIAMESE_HTTP_BREAKER_COOLDOWN="600",
    )
    http = app.state.siamese.services["http_data"].http
    assert (http.timeout, http.max_bytes, http.cache_ttl) == (0.25, 4096, 7.0)
    assert (http.breakers.failures, http.breakers.cooldown) == (1, 600.0)
    async with serving(app) as c:
        for _ in range(2):
            r = await c.post("/access/v1/evaluation", json=body("alice", "read", "plan"))
            assert r.json()["decision"] is False
        notes = r.json()["context"]["reason_admin"]["notes"]
        assert "circuit open" in notes[0]  # one failure opened it: the second never went out
        assert upstream.hits["/docs/plan"] == 1
        text = (await c.get("/metrics")).text
        assert metric(text, "siamese_http_fetch_failures_total") == 2
        assert metric(text, "siamese_http_breaker_state", f'{{host="{upstream.base}"}}') == 2
        health = (await c.get("/health")).json()
        assert health["services"]["http_data"]["open_circuits"] == [upstream.base]
        assert health["status"] == "ok"  # a host that is down is not this server's fault


async def test_external_data_is_off_by_default(tmp_path: Path, upstream: Server) -> None:
    upstream.json("/docs/plan", {"owners": ["alice"]})
    app = app_for(tmp_path, owners_policy(upstream.base))
    async with serving(app) as c:
        r = await c.post("/access/v1/evaluation", json=body("alice", "read", "plan"))
        assert r.json()["decision"] is False
        assert r.json()["context"]["reason_admin"]["notes"] == [
            f"http_get_json: {upstream.url('/docs/plan')} refused: external data is off "
            "(SIAMESE_HTTP_ALLOW is empty)"
        ]
        assert (await c.get("/health")).json()["services"]["http_data"]["enabled"] is False
    assert upstream.hits["/docs/plan"] == 0


async def test_operator_builtins_from_the_environment(tmp_path: Path) -> None:
    operator_mod.calls.clear()
    app = app_for(tmp_path, OPERATOR, SIAMESE_BUILTINS="tests.pip.operator_mod:BUILTINS")
    async with serving(app) as c:
        r = await c.post("/access/v1/evaluation", json=body("alice", "read", "doc1"))
        assert r.json()["decision"] is True
        assert r.json()["context"]["reason_user"] == "allowed by rule engineers-read"
        r = await c.post("/access/v1/evaluation", json=body("bob", "read", "doc1"))
        assert r.json()["decision"] is False  # bob is in sales
    assert operator_mod.calls[0] == "department(alice)"
    assert set(operator_mod.calls) == {"department(alice)", "department(bob)"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SIAMESE_BUILTINS": "tests.pip.nowhere:BUILTINS"},
         "SIAMESE_BUILTINS: built-ins 'tests.pip.nowhere:BUILTINS': cannot import"),
        ({"SIAMESE_BUILTINS": "tests.pip.operator_mod:NOPE"},
         "SIAMESE_BUILTINS: built-ins 'tests.pip.operator_mod:NOPE': module "
         "'tests.pip.operator_mod' has no attribute 'NOPE'"),
        ({"SIAMESE_BUILTINS": "tests.pip.operator_mod:CLASH"},
         "SIAMESE_BUILTINS: tests.pip.operator_mod:CLASH: 'eq' clashes with a built-in"),
        ({"SIAMESE_HTTP_ALLOW": "ftp://files.example/"},
         "SIAMESE_HTTP_ALLOW: 'ftp://files.example/' is not an http:// or https:// URL"),
    ],
)
def test_bad_external_data_settings_stop_the_server(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError) as err:
        app_for(tmp_path, OPERATOR, **env)
    assert str(err.value).startswith(message)
