"""``POST /v1/plan/resources`` through the app in this process: the answer's shape for each
kind of filter, the refusals (a body that is not a plan's, credentials, the rate limit, a
policy that cannot be planned, a limit, no policy set), and the plan in the decision log,
which a plan cannot be answered without when the log is required."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from siamese.audit.plan import PlanEvent
from siamese.audit.search import read_events

from .conftest import AUDIENCE, ISSUER, SECRET, app_for, build, claims, hs256, serving

PLANNED = """
department(alice, eng).
department(dave, eng).
clearance(alice, 3).
clearance(dave, 1).
owner("doc-1", alice).
owner("doc-7", alice).
status(mallory, suspended).
department(mallory, eng).
clearance(mallory, 5).
role(root, admin).

@id("owner")
allow(?u, ?a, ?r) :- owner(?r, ?u).
@id("department-read")
allow(?u, read, _) :-
    department(?u, ?d), input("resource.properties.department", ?d),
    clearance(?u, ?c), input("resource.properties.sensitivity", ?s), ?s <= ?c.
@id("admin")
allow(?u, _, _) :- role(?u, admin).
@id("suspended")
deny(?u, _, _) :- status(?u, suspended).
@id("archived")
deny(_, write, _) :- input("resource.properties.archived", true).
"""

# regex of a resource property cannot be a condition the database runs
UNPLANNABLE = PLANNED + """
@id("public-titles")
allow(_, share, _) :- input("resource.properties.title", ?t), regex("^public-", ?t).
"""

URL = "/v1/plan/resources"


def plan_body(subject: str = "alice", action: str = "read", *,
              context: dict[str, Any] | None = None, **resource: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document", **resource},
    }
    if context is not None:
        body["context"] = context
    return body


def line_of(text: str, rule: str) -> int:
    """The line of the rule named ``rule`` (the one after its @id)."""
    return text.splitlines().index(f'@id("{rule}")') + 2


def var(name: str) -> dict[str, str]:
    return {"variable": name}


def expr(op: str, *operands: dict[str, Any]) -> dict[str, Any]:
    return {"expression": {"operator": op, "operands": list(operands)}}


def canonical(operand: Any) -> Any:
    """A condition with the operands of each ``and`` and ``or`` in one order (the planner's
    order is its own)."""
    e = operand.get("expression") if isinstance(operand, dict) else None
    if e is None:
        return operand
    operands = [canonical(o) for o in e["operands"]]
    if e["operator"] in ("and", "or"):
        operands.sort(key=repr)
    return {"expression": {"operator": e["operator"], "operands": operands}}


def conditional(condition: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "KIND_CONDITIONAL", "condition": canonical(condition)}


def filter_of(answer: dict[str, Any]) -> dict[str, Any]:
    flt = dict(answer["filter"])
    if "condition" in flt:
        flt["condition"] = canonical(flt["condition"])
    return flt


async def test_a_conditional_plan_answers_the_filter_and_its_rules(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body())
    assert r.status_code == 200, r.text
    answer = r.json()
    assert list(answer) == ["revision", "plan_id", "filter", "explanation"]
    assert answer["revision"] == h.store.revision
    assert isinstance(answer["plan_id"], str) and answer["plan_id"]
    assert filter_of(answer) == conditional(
        expr(
            "or",
            expr("in", var("request.resource.id"), {"value": ["doc-1", "doc-7"]}),
            expr(
                "and",
                expr("eq", var("request.resource.attr.department"), {"value": "eng"}),
                expr("le", var("request.resource.attr.sensitivity"), {"value": 3}),
            ),
        )
    )
    assert [(e["rule"], e["location"]) for e in answer["explanation"]] == [
        ("owner", f"p.rules:{line_of(PLANNED, 'owner')}"),
        ("department-read", f"p.rules:{line_of(PLANNED, 'department-read')}"),
    ]


async def test_a_deny_rule_on_a_property_becomes_and_not(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body(action="write"))
    assert r.status_code == 200, r.text
    assert filter_of(r.json()) == conditional(
        expr(
            "and",
            expr("in", var("request.resource.id"), {"value": ["doc-1", "doc-7"]}),
            expr("not", expr("eq", var("request.resource.attr.archived"), {"value": True})),
        )
    )
    assert [e["rule"] for e in r.json()["explanation"]] == ["owner", "archived"]


@pytest.mark.parametrize(
    ("subject", "kind", "rules"),
    [
        ("root", "KIND_ALWAYS_ALLOWED", ["admin"]),
        ("mallory", "KIND_ALWAYS_DENIED", ["suspended"]),  # deny overrides everything
        ("nobody", "KIND_ALWAYS_DENIED", []),
    ],
)
async def test_constant_plans_have_no_condition(
    tmp_path: Path, subject: str, kind: str, rules: list[str]
) -> None:
    h = build(tmp_path, PLANNED)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body(subject))
    assert r.status_code == 200, r.text
    assert r.json()["filter"] == {"kind": kind}
    assert [e["rule"] for e in r.json()["explanation"]] == rules


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (plan_body(id="doc-1"), 400, "'resource.id' must not be given"),
        (plan_body(properties={"department": "eng"}), 400, "'resource.properties'"),
        ({**plan_body(), "resource": {}}, 400, "'resource.type'"),
        ({**plan_body(), "resource": {"type": ""}}, 400, "'resource.type'"),
        ({"action": {"name": "read"}, "resource": {"type": "document"}}, 400, "'subject'"),
        (plan_body(context=[]), 400, "'context'"),
        ([plan_body()], 400, "must be a JSON object"),
    ],
)
async def test_a_body_that_is_not_a_plans_is_a_400(
    tmp_path: Path, content: Any, status: int, words: str
) -> None:
    h = build(tmp_path, PLANNED)
    async with h.client() as c:
        r = await c.post(URL, json=content)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert not h.audited


async def test_malformed_and_oversized_bodies_are_refused(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED, max_body_bytes=200)
    async with h.client() as c:
        r = await c.post(URL, content=b'{"subject": ', headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        big = plan_body(context={"pad": "x" * 300})
        r = await c.post(URL, json=big)
        assert r.status_code == 413, r.text
        assert "larger than 200 bytes" in r.json()["error"]["message"]
    assert not h.audited


async def test_api_keys_are_required_when_auth_is_on(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED, auth="api-key", api_keys=("k1",))
    async with h.client() as c:
        r = await c.post(URL, json=plan_body())
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = await c.post(URL, json=plan_body(), headers={"X-API-Key": "wrong"})
        assert r.status_code == 401, r.text
        r = await c.post(URL, json=plan_body(), headers={"X-API-Key": "k1"})
        assert r.status_code == 200, r.text


async def test_a_jwt_caller_plans_without_passing_its_claims(tmp_path: Path) -> None:
    """As for an AuthZEN evaluation, the caller's token authenticates the application that
    asks: its claims are not the subject's, and the plan does not read them."""
    policy = PLANNED + '@id("editors")\nallow(_, read, _) :- input("claims.role", editor).\n'
    h = build(tmp_path, policy, auth="jwt", jwt_secret=SECRET, jwt_issuer=ISSUER,
              jwt_audience=(AUDIENCE,))
    async with h.client() as c:
        r = await c.post(URL, json=plan_body("nobody"))
        assert r.status_code == 401, r.text
        token = hs256(claims(role="editor"))
        r = await c.post(URL, json=plan_body("nobody"),
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["filter"] == {"kind": "KIND_ALWAYS_DENIED"}
    [event] = h.audited
    assert isinstance(event, PlanEvent) and "claims" not in event.input


async def test_the_rate_limit_applies(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED, rate_limit=1.0)
    async with h.client() as c:
        assert (await c.post(URL, json=plan_body())).status_code == 200
        r = await c.post(URL, json=plan_body())
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "1"
        h.clock.advance(1.0)
        assert (await c.post(URL, json=plan_body())).status_code == 200


async def test_a_rule_that_cannot_be_planned_is_a_422_naming_it(tmp_path: Path) -> None:
    h = build(tmp_path, UNPLANNABLE)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body(action="share"))
        assert r.status_code == 422, r.text
        message = r.json()["error"]["message"]
        where = f"p.rules:{line_of(UNPLANNABLE, 'public-titles')}"
        assert "public-titles" in message and where in message and "regex" in message
        assert "filter" not in r.json()
        # the rule is not reached for another action: that plan is made
        r = await c.post(URL, json=plan_body(action="read"))
        assert r.status_code == 200, r.text
    assert len(h.audited) == 1  # the refused plan is not logged: nothing was answered


async def test_a_limit_is_a_422_naming_it(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED, max_steps=3)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body())
    assert r.status_code == 422, r.text
    assert "max_steps" in r.json()["error"]["message"]


async def test_no_policy_set_is_a_503(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED, load=False)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body())
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"]["message"] == "no policy set is loaded"


async def test_the_plan_goes_to_the_audit_callable_before_it_is_answered(
    tmp_path: Path,
) -> None:
    h = build(tmp_path, PLANNED)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body(context={"ip": "10.0.0.1"}))
    answer = r.json()
    [event] = h.audited
    assert isinstance(event, PlanEvent)
    assert (event.plan_id, event.revision) == (answer["plan_id"], answer["revision"])
    assert (event.subject, event.action, event.resource_type) == ("alice", "read", "document")
    assert event.input["context"] == {"ip": "10.0.0.1"}
    assert event.filter == answer["filter"] and event.explanation == answer["explanation"]
    assert event.latency_us >= 0


async def test_a_plan_the_log_could_not_record_is_refused_never_answered(
    tmp_path: Path,
) -> None:
    async def not_written() -> bool:
        return False

    h = build(tmp_path, PLANNED, audit=lambda event: not_written())
    async with h.client() as c:
        r = await c.post(URL, json=plan_body())
    assert r.status_code == 503, r.text
    assert "could not be written to the audit log" in r.json()["error"]["message"]
    assert "filter" not in r.json()


async def test_an_audit_callable_that_raises_stops_the_plan(tmp_path: Path) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("disk on fire")

    h = build(tmp_path, PLANNED, audit=broken)
    async with h.client() as c:
        r = await c.post(URL, json=plan_body())
    assert r.status_code == 500, r.text
    assert r.json() == {"error": {"status": 500, "message": "internal error"}}


async def test_plans_at_once_are_bounded_and_all_answered(tmp_path: Path) -> None:
    h = build(tmp_path, PLANNED)
    async with h.client() as c:
        answers = await asyncio.gather(*(c.post(URL, json=plan_body()) for _ in range(12)))
    assert [r.status_code for r in answers] == [200] * 12
    assert len({r.json()["plan_id"] for r in answers}) == 12


# --- the decision log, as `siamese serve` wires it ------------------------------------------


async def test_the_plan_is_a_line_of_the_decision_log_with_its_request_redacted(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit" / "decisions.jsonl"
    app = app_for(tmp_path, PLANNED, SIAMESE_AUDIT_LOG=str(log), SIAMESE_AUDIT_REQUIRED="on")
    async with serving(app) as c:
        r = await c.post(URL, json=plan_body(context={"session_token": "abc123xyz"}))
        assert r.status_code == 200, r.text
        d = await c.post("/access/v1/evaluation", json={
            **plan_body(), "resource": {"type": "document", "id": "doc-1"}})
        assert d.status_code == 200, d.text
    events = list(read_events(log))
    assert [e.get("kind", "decision") for e in events] == ["plan", "decision"]
    plan = events[0]
    answer = r.json()
    assert plan["plan_id"] == answer["plan_id"] and plan["revision"] == answer["revision"]
    assert (plan["subject"], plan["action"], plan["resource_type"]) == (
        "alice", "read", "document")
    assert plan["filter"] == answer["filter"] and plan["explanation"] == answer["explanation"]
    assert plan["request"]["context"] == {"session_token": "[REDACTED]"}
    assert "decision_id" not in plan and "decision" not in plan


async def test_a_required_log_that_cannot_write_refuses_the_plan(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "decisions.jsonl"
    log.mkdir(parents=True)  # a directory where the file should be: every write fails
    app = app_for(tmp_path, PLANNED, SIAMESE_AUDIT_LOG=str(log), SIAMESE_AUDIT_REQUIRED="on")
    async with serving(app) as c:
        r = await c.post(URL, json=plan_body())
        assert r.status_code == 503, r.text
        assert "filter" not in r.json()
        health = (await c.get("/health")).json()
    assert health["status"] == "degraded"
