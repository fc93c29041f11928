"""Health, readiness, the policy set, metrics, the OpenAPI document, request ids, the OPA
data API, failures that must answer JSON, and the lifespan (watcher start and stop)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from openapi_spec_validator import validate
from starlette.routing import Mount, Route

from siamese.policy.watcher import PolicyWatcher
from siamese.server.app import create_app
from siamese.server.logs import JsonFormatter
from siamese.server.openapi import openapi_document
from siamese.settings import Settings

from .conftest import SECRET, Harness, body, build, claims, hs256

BROKEN = "allow(?u, ?a, ?r) :- \n"


# --- readiness and health ---------------------------------------------------------------


async def test_ready_is_503_until_a_policy_set_is_loaded(tmp_path: Path) -> None:
    h = build(tmp_path, BROKEN, load=False)
    h.store.load_sync()
    async with h.client() as c:
        r = await c.get("/ready")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert r.json()["reason"] == "no policy set is loaded"
        assert "p.rules" in r.json()["last_error"]
        r = await c.post("/access/v1/evaluation", json=body())
        assert r.status_code == 503
        assert r.json() == {"error": {"status": 503, "message": "no policy set is loaded"}}
        r = await c.post("/v1/data/authz/allow", json={"input": body()})
        assert r.status_code == 503 and r.json()["code"] == "unavailable"
        health = (await c.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["problems"] == ["no policy set is loaded", "the latest policy reload failed"]
        h.write("p.rules", "allow(alice, read, doc2).\n")
        assert (await h.store.reload()).ok
        r = await c.get("/ready")
        assert r.status_code == 200 and r.json() == {"ready": True, "revision": h.store.revision}
        assert (await c.post("/access/v1/evaluation", json=body())).json()["decision"] is True
        assert (await c.get("/health")).json()["status"] == "ok"


async def test_a_failed_reload_keeps_serving_and_is_reported(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    good = harness.store.revision
    harness.write("p.rules", BROKEN)
    assert not (await harness.store.reload()).ok
    r = await client.get("/v1/policies")
    p = r.json()
    assert p["revision"] == good and p["files"] == ["p.rules"] and p["failures"] == 1
    assert "p.rules" in p["last_error"]
    assert (await client.get("/ready")).status_code == 200
    assert (await client.get("/health")).json()["status"] == "degraded"
    assert (await client.post("/access/v1/evaluation", json=body())).json()["decision"] is True


async def test_policies(client: httpx.AsyncClient, harness: Harness) -> None:
    harness.write("p.test.yaml", "tests: []\n")
    harness.write("q.rules", "doc(doc9).\n")
    await harness.store.reload()
    p = (await client.get("/v1/policies")).json()
    assert p["revision"] == harness.store.revision
    assert p["files"] == ["p.rules", "q.rules"] and p["tests"] == ["p.test.yaml"]
    assert p["last_error"] is None and p["reloads"] == 2 and p["watcher"] == "disabled"
    assert p["root"] == str(harness.root)


# --- metrics ------------------------------------------------------------------------------


async def test_metrics(client: httpx.AsyncClient, harness: Harness) -> None:
    for _ in range(3):
        await client.post("/access/v1/evaluation", json=body("alice"))
    await client.post("/access/v1/evaluation", json=body("bob", "delete"))
    await client.get("/v1/forward-auth/public/x")
    await client.post("/access/v1/evaluation", json={"subject": 1})
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = set(r.text.splitlines())
    rev = harness.store.revision
    for expected in (
        'siamese_decisions_total{endpoint="evaluation",result="allow"} 3.0',
        'siamese_decisions_total{endpoint="evaluation",result="deny"} 1.0',
        'siamese_decisions_total{endpoint="forward_auth",result="allow"} 1.0',
        'siamese_request_errors_total{endpoint="evaluation",status="400"} 1.0',
        'siamese_decision_latency_seconds_count{endpoint="evaluation"} 4.0',
        "siamese_decision_cache_hits_total 2.0",
        "siamese_decision_cache_misses_total 3.0",
        "siamese_decision_cache_size 3.0",
        "siamese_decision_cache_evictions_total 0.0",
        "siamese_policy_reloads_total 1.0",
        "siamese_policy_reload_failures_total 0.0",
        "siamese_policy_loaded 1.0",
        f'siamese_policy_info{{revision="{rev}"}} 1.0',
        # the shipped-style rules of this harness run as compiled code: three uncached
        # decisions, and the interpreter ran no clause for them
        'siamese_engine_decisions_total{path="compiled"} 3.0',
        'siamese_engine_decisions_total{path="interpreted"} 0.0',
        'siamese_engine_interpreted_clauses_total{where="decision"} 0.0',
    ):
        assert expected in lines, expected
    assert not any("_created" in line for line in lines)
    # the process collector, in the app's own registry
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines
              if line.startswith("process_")}
    assert values["process_resident_memory_bytes"] > 1e6
    assert 3 <= values["process_open_fds"] <= values["process_max_fds"]
    assert values["process_cpu_seconds_total"] > 0
    assert values["process_start_time_seconds"] > 1.7e9


async def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    async with a.client() as ca, b.client() as cb:
        await ca.post("/access/v1/evaluation", json=body())
        text = (await cb.get("/metrics")).text
    assert 'siamese_decisions_total{endpoint="evaluation",result="allow"} 0.0' in text


async def test_reload_metrics(client: httpx.AsyncClient, harness: Harness) -> None:
    harness.write("p.rules", BROKEN)
    await harness.store.reload()
    harness.write("p.rules", "allow(a, b, c).\n")
    await harness.store.reload()
    text = (await client.get("/metrics")).text
    assert "siamese_policy_reloads_total 2.0" in text
    assert "siamese_policy_reload_failures_total 1.0" in text
    assert f'siamese_policy_info{{revision="{harness.store.revision}"}} 1.0' in text


# --- request ids and JSON failures -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/access/v1/evaluation", body()),
        ("POST", "/access/v1/evaluation", {"bad": True}),
        ("POST", "/access/v1/evaluations", {"evaluations": [body()]}),
        ("GET", "/v1/forward-auth/x", None),
        ("POST", "/v1/data/x", {"input": body()}),
        ("GET", "/health", None),
        ("GET", "/nowhere", None),
    ],
)
async def test_x_request_id_is_echoed_on_every_response(
    client: httpx.AsyncClient, method: str, path: str, payload: Any
) -> None:
    r = await client.request(method, path, json=payload, headers={"X-Request-ID": "bfe9eb29-ab87"})
    assert r.headers["x-request-id"] == "bfe9eb29-ab87"


async def test_no_request_id_no_echo(client: httpx.AsyncClient) -> None:
    assert "x-request-id" not in (await client.get("/health")).headers


async def test_an_exception_in_a_decision_route_is_a_json_500_never_an_allow(
    tmp_path: Path,
) -> None:
    def broken_audit(decision: Any) -> None:
        raise RuntimeError("audit sink is gone")

    h = build(tmp_path, audit=broken_audit)
    async with h.client() as c:
        for path, payload in (
            ("/access/v1/evaluation", body()),
            ("/access/v1/evaluations", {"evaluations": [body()]}),
        ):
            r = await c.post(path, json=payload, headers={"X-Request-ID": "r1"})
            assert r.status_code == 500
            assert r.json() == {"error": {"status": 500, "message": "internal error"}}
            assert r.headers["x-request-id"] == "r1"
        r = await c.post("/v1/data/x", json={"input": body()})
        assert r.status_code == 500 and r.json() == {
            "code": "internal_error",
            "message": "internal error",
        }


async def test_an_exception_outside_the_decision_routes_is_json_too(tmp_path: Path) -> None:
    h = build(tmp_path)

    async def boom(request: Any) -> Any:
        raise RuntimeError("bug")

    h.app.router.routes.append(Route("/boom", boom))
    async with h.client() as c:
        r = await c.get("/boom", headers={"X-Request-ID": "r2"})
    assert r.status_code == 500
    assert r.json() == {"error": {"status": 500, "message": "internal error"}}
    assert r.headers["x-request-id"] == "r2"


@pytest.mark.parametrize("request_id", [None, "r3"])
async def test_an_exception_after_the_answer_started_is_not_answered_twice(
    tmp_path: Path, request_id: str | None
) -> None:
    h = build(tmp_path)

    class HalfAnswer:  # an ASGI app that fails after its answer has begun
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise RuntimeError("bug after the start")

    h.app.router.routes.append(Route("/half", HalfAnswer()))
    headers = {"X-Request-ID": request_id} if request_id else {}
    async with h.client() as c:
        # no second answer (a 500 after a 200): the error goes on to the server, which can
        # only drop the connection
        with pytest.raises(RuntimeError, match="bug after the start"):
            await c.get("/half", headers=headers)


# --- OPA data API ------------------------------------------------------------------------


async def test_opa_data_with_an_authzen_input(client: httpx.AsyncClient, harness: Harness) -> None:
    r = await client.post("/v1/data/httpapi/authz/allow", json={"input": body("alice")})
    assert r.status_code == 200
    assert r.json() == {"result": True, "decision_id": harness.audited[-1].decision_id}
    r = await client.post("/v1/data/x", json={"input": body("bob", "delete")})
    assert r.json()["result"] is False


async def test_opa_data_with_kongs_input(tmp_path: Path) -> None:
    h = build(tmp_path, jwt_secret=SECRET)
    kong: dict[str, Any] = {
        "input": {
            "request": {
                "http": {
                    "host": "api.example.com",
                    "port": "8000",
                    "tls": {},
                    "method": "DELETE",
                    "scheme": "http",
                    "path": "/api/things/1",
                    "querystring": {"q": ["a", "b"], "flag": True},
                    "headers": {
                        "authorization": f"Bearer {hs256(claims(aud=None, iss=None))}",
                        "accept": ["*/*", "text/html"],
                    },
                }
            },
            "client_ip": "10.0.0.1",
        }
    }
    async with h.client() as c:
        r = await c.post("/v1/data/kong/allow", json=kong)
        assert r.status_code == 200 and r.json()["result"] is True
        d = h.audited[-1]
        assert (d.request.subject, d.request.action, d.request.resource) == (
            "erin",
            "DELETE",
            "/api/things/1",
        )
        assert d.request.input["request"]["query"] == {"q": "a", "flag": ""}
        assert d.request.input["request"]["headers"] == {"accept": "*/*"}
        kong["input"]["request"]["http"]["headers"]["authorization"] = "Bearer forged.token.here"
        r = await c.post("/v1/data/kong/allow", json=kong)
        assert r.status_code == 200 and r.json() == {"result": False}
        # a path whose meaning depends on who decodes it is refused (SPEC §6.1)
        kong["input"]["request"]["http"]["path"] = "/public/../api/things/1"
        r = await c.post("/v1/data/kong/allow", json=kong)
        assert r.status_code == 400 and r.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "missing 'input'"),
        ({"input": []}, "'input' must be an object"),
        ([], "request body must be a JSON object"),
        ({"input": {"subject": {"type": "user"}}}, "input: missing 'subject.id'"),
        (
            {"input": {"request": {"http": {"method": "GET"}}}},
            "'input.request.http.path' must be a string",
        ),
    ],
)
async def test_opa_errors_have_opas_shape(
    client: httpx.AsyncClient, payload: Any, message: str
) -> None:
    r = await client.post("/v1/data/x", json=payload)
    assert r.status_code == 400
    assert r.json() == {"code": "invalid_parameter", "message": message}


# --- the OpenAPI document ---------------------------------------------------------------------


async def test_openapi_is_valid_and_describes_every_route(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    doc = (await client.get("/openapi.json")).json()
    validate(doc)
    assert doc == openapi_document()
    described = set(doc["paths"])
    for route in harness.app.routes:
        if isinstance(route, Mount) and route.name == "console":
            continue  # HTML pages for a browser, not the API (see README, Console)
        assert isinstance(route, Route)
        assert route.path.replace("{path:anypath}", "{path}") in described, route.path
        for method in route.methods or ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            if method != "HEAD":
                key = route.path.replace("{path:anypath}", "{path}")
                assert method.lower() in doc["paths"][key], (key, method)


# --- lifespan ----------------------------------------------------------------------------


async def test_the_lifespan_loads_and_starts_and_stops_the_watcher(tmp_path: Path) -> None:
    h = build(tmp_path, load=False)
    watcher = PolicyWatcher(h.store, debounce_ms=50, step_ms=10)
    app = create_app(Settings(policy_dir=str(h.root)), h.store, h.service, watcher=watcher)
    async with LifespanManager(app) as manager:
        assert h.store.get() is not None  # loaded at startup: nobody had
        assert watcher.state == "running"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
        ) as c:
            health = (await c.get("/health")).json()
            assert health["watcher"] == {"enabled": True, "state": "running"}
            assert (await c.get("/v1/policies")).json()["watcher"] == "running"
            attempts = h.store.attempts
            h.write("more.rules", "doc(doc9).\n")
            await h.store.wait_attempts(attempts + 1)  # the watcher reloads; no sleeping
            assert "more.rules" in (await c.get("/v1/policies")).json()["files"]
    assert watcher.state == "stopped"


# --- logging -------------------------------------------------------------------------------


def test_json_log_lines() -> None:
    fmt = JsonFormatter()
    record = logging.LogRecord(
        "siamese.server", logging.ERROR, __file__, 1, "failed %s", ("x",), None
    )
    record.revision = "abc"
    line = fmt.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (
        entry["level"] == "error" and entry["message"] == "failed x" and entry["revision"] == "abc"
    )
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", (), sys.exc_info())
    entry = json.loads(fmt.format(record))
    assert "ValueError: boom" in entry["exception"]


# --- the audit contract and background services ---------------------------------------------


async def test_a_decision_the_audit_cannot_record_is_answered_as_a_deny(tmp_path: Path) -> None:
    import asyncio

    recorded: list[Any] = []

    def audit(decision: Any) -> Any:
        recorded.append(decision)
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(False)  # e.g. a required audit log whose disk is full
        return fut

    h = build(tmp_path, audit=audit)
    async with h.client() as c:
        r = await c.post("/access/v1/evaluation", json=body("alice"))
        assert r.status_code == 200 and r.json()["decision"] is False
        assert r.json()["context"]["reason_user"] == (
            "denied: the decision could not be written to the audit log"
        )
        assert r.json()["context"]["decision_id"] == recorded[-1].decision_id
        r = await c.get("/v1/forward-auth/public/x")
        assert r.status_code == 403 and "x-siamese-subject" not in r.headers
        r = await c.post("/v1/data/x", json={"input": body("alice")})
        assert r.json()["result"] is False
        text = (await c.get("/metrics")).text
    assert 'siamese_decisions_total{endpoint="evaluation",result="deny"} 1.0' in text


async def test_a_recorded_decision_is_answered(tmp_path: Path) -> None:
    async def audit(decision: Any) -> bool:
        return True

    h = build(tmp_path, audit=lambda d: audit(d))
    async with h.client() as c:
        r = await c.post("/access/v1/evaluation", json=body("alice"))
    assert r.json()["decision"] is True


class FakeService:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name, self.state = log, name, "stopped"

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        self.state = "ok"

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        self.state = "stopped"


async def test_services_start_and_stop_with_the_app_and_show_in_health(tmp_path: Path) -> None:
    h = build(tmp_path)
    events: list[str] = []
    audit = FakeService(events, "audit")
    app = create_app(
        Settings(policy_dir=str(h.root)), h.store, h.service, services={"audit": audit}
    )
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        health = (await c.get("/health")).json()
        assert health["status"] == "ok" and health["services"] == {"audit": {"state": "ok"}}
        audit.state = "degraded"
        health = (await c.get("/health")).json()
        assert health["status"] == "degraded" and "audit is degraded" in health["problems"]
    assert events == ["start audit", "stop audit"]


async def test_build_app_wires_the_audit_log(tmp_path: Path) -> None:
    from siamese.server.app import build_app

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a.rules").write_text("allow(alice, read, doc2).\n")
    path = tmp_path / "audit" / "d.jsonl"
    app = build_app(Settings(policy_dir=str(tmp_path / "p"), reload=False, audit_log=str(path)))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c,
    ):
        r = await c.post("/access/v1/evaluation", json=body("alice"))
        assert (await c.get("/health")).json()["services"]["audit"]["state"] == "ok"
    events = [json.loads(line) for line in path.read_text().splitlines()]  # flushed on stop
    assert [e["decision_id"] for e in events] == [r.json()["context"]["decision_id"]]
    off = build_app(Settings(policy_dir=str(tmp_path / "p"), reload=False, audit_log="off"))
    assert list(off.state.siamese.services) == ["http_data"]  # the http_get_json client only
