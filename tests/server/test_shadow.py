"""Shadow policies (SIAMESE_SHADOW_POLICY_DIR): a candidate set that removes an allow rule
and adds a deny rule decides every request of the shipped policies again. Exactly the
decisions the two changes affect are reported, each with both explanations; the serving
answers are the same as without the shadow; the counts show in /v1/policies and /metrics."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.decision.shadow import ShadowRunner
from siamese.policy.loader import load_policy_set
from siamese.server.app import build_app
from siamese.settings import Settings

ROOT = Path(__file__).parents[2]
REMOVED = "group-grant"
ADDED = "no-write-on-runbook"


def _candidate(tmp: Path) -> Path:
    """The shipped policies with the ``group-grant`` allow rule removed and a deny rule
    added."""
    out = tmp / "candidate"
    shutil.copytree(ROOT / "policies", out)
    text = (out / "access.rules").read_text()
    start = text.index('@id("group-grant")')
    end = text.index("@id(", start + 1)
    text = text[:start] + text[end:]
    text += f'\n@id("{ADDED}")\ndeny(_, write, runbook).\n'
    (out / "access.rules").write_text(text)
    return out


def _requests() -> list[dict[str, Any]]:
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
             "judy", "mallory", "nobody"]
    actions = ["read", "comment", "write", "share", "delete"]
    docs = ["handbook", "dave_notes", "api_spec", "runbook", "launch_plan", "press_release",
            "salary_review"]
    return [
        {"subject": {"type": "user", "id": u}, "action": {"name": a},
         "resource": {"type": "document", "id": d}}
        for u, a, d in itertools.product(users, actions, docs)
    ]


def _settings(tmp: Path, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "policy_dir": str(ROOT / "policies"),
        "reload": False,
        "audit_log": str(tmp / "audit.jsonl"),
        "cache_size": 0,
    }
    values.update(over)
    return Settings(**values)


async def _answers(settings: Settings, requests: list[dict[str, Any]]) -> tuple[
    list[dict[str, Any]], dict[str, Any], str
]:
    """Every request's answer, then /v1/policies and /metrics once the shadow is idle."""
    app = build_app(settings)
    ctx = app.state.siamese
    async with LifespanManager(app) as manager, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=manager.app), base_url="http://t"
    ) as c:
        answers = []
        for body in requests:
            r = await c.post("/access/v1/evaluation", json=body)
            assert r.status_code == 200, r.text
            answers.append(r.json())
        if ctx.shadow is not None:
            await asyncio.wait_for(ctx.shadow.idle.wait(), 30)
        policies = (await c.get("/v1/policies")).json()
        metrics = (await c.get("/metrics")).text
    return answers, policies, metrics


async def _expected(candidate: Path, requests: list[dict[str, Any]]
                    ) -> dict[str, tuple[bool, bool]]:
    """The oracle: both sets decided directly by the authorizer, request by request."""
    serving, shadow = load_policy_set(ROOT / "policies"), load_policy_set(candidate)
    out = {}
    for body in requests:
        request = Request.from_authzen(body)
        a = await Authorizer().evaluate(serving, request)
        b = await Authorizer().evaluate(shadow, request)
        if a.allowed != b.allowed:
            out[_key(body)] = (a.allowed, b.allowed)
    return out


def _key(body: dict[str, Any]) -> str:
    return f"{body['subject']['id']} {body['action']['name']} {body['resource']['id']}"


async def test_exactly_the_affected_decisions_are_reported(tmp_path: Path) -> None:
    candidate = _candidate(tmp_path)
    requests = _requests()
    expected = await _expected(candidate, requests)
    # both changes matter on the shipped data: some allows are lost each way
    assert any(k.startswith(("bob", "carol", "dave", "erin")) for k in expected)
    assert any(" write runbook" in k for k in expected)

    plain, _, _ = await _answers(_settings(tmp_path / "plain"), requests)
    (tmp_path / "shadowed").mkdir()
    answers, policies, metrics = await _answers(
        _settings(tmp_path / "shadowed", shadow_policy_dir=str(candidate)), requests
    )
    # the serving answers are unchanged by the shadow
    strip = ("id", "decision_id")  # each decision its own id
    assert [{k: v for k, v in a.get("context", {}).items() if k not in strip} | {
        "decision": a["decision"]} for a in answers] == [
        {k: v for k, v in a.get("context", {}).items() if k not in strip} | {
            "decision": a["decision"]} for a in plain]

    lines = [orjson.loads(x) for x in (tmp_path / "shadowed" / "audit.jsonl").read_bytes()
             .splitlines()]
    shadows = [e for e in lines if e.get("kind") == "shadow"]
    decisions = {e["decision_id"]: e for e in lines if "kind" not in e}
    assert len(decisions) == len(requests)
    reported = {f"{e['subject']} {e['action']} {e['resource']}":
                (e["serving"]["decision"], e["shadow"]["decision"]) for e in shadows}
    assert len(shadows) == len(reported) == len(expected)
    assert reported == expected
    for e in shadows:
        serving, shadow = e["serving"], e["shadow"]
        assert decisions[e["decision_id"]]["decision"] == serving["decision"]
        assert serving["revision"] != shadow["revision"]
        assert serving["explanation"] and shadow["explanation"]
        if serving["decision"]:  # an allow the candidate loses: by the removed rule or the new
            assert REMOVED in serving["rule_ids"] or ADDED in shadow["rule_ids"], e
        else:
            pytest.fail(f"the candidate only removes allows and adds a deny: {e}")
        assert e["request"]["subject"]["id"] == e["subject"]

    status = policies["shadow"]
    assert status["source"] == str(candidate) and status["state"] == "ok"
    assert status["compared"] == len(requests)
    assert status["disagreements"] == len(expected)
    assert status["dropped"] == 0 and status["errors"] == 0
    assert status["revision"] == shadows[0]["shadow"]["revision"]
    serving_rev = shadows[0]["serving"]["revision"]
    assert (
        f'siamese_shadow_disagreements_total{{serving="{serving_rev}",serving_result="allow",'
        f'shadow="{status["revision"]}",shadow_result="deny"}} '
        f"{float(len(expected))}"
    ) in metrics
    assert f"siamese_shadow_compared_total {float(len(requests))}" in metrics


async def test_the_runner_samples_drops_and_never_blocks() -> None:
    serving = load_policy_set(ROOT / "policies")
    recorded: list[Any] = []
    draws = iter([0.1, 0.9, 0.2, 0.95])
    runner = ShadowRunner(lambda: serving, Authorizer(), recorded.append, sample=0.5,
                          queue_size=1, draw=lambda: next(draws))
    request = Request.from_authzen(_requests()[0])
    decision = await _decision(serving, request)
    runner(decision)  # drawn in (0.1), but not started: dropped
    assert runner.dropped == 1
    await runner.start()
    try:
        runner(decision)  # drawn out (0.9): not queued
        runner(decision)  # drawn in (0.2): queued
        runner(decision)  # drawn out
        assert runner.status()["queued"] == 1
        await asyncio.wait_for(runner.idle.wait(), 30)
        assert runner.compared == 1 and recorded == []  # the same set agrees with itself
    finally:
        await runner.stop()
    assert runner.state == "stopped"


async def test_a_full_queue_drops_and_counts() -> None:
    serving = load_policy_set(ROOT / "policies")
    runner = ShadowRunner(lambda: serving, Authorizer(), lambda e: None, queue_size=2)
    decision = await _decision(serving, Request.from_authzen(_requests()[0]))
    await runner.start()
    try:
        for _ in range(5):  # no await between: the comparing task has not run yet
            runner(decision)
        assert runner.dropped == 3 and runner.status()["queued"] == 2
        await asyncio.wait_for(runner.idle.wait(), 30)
        assert runner.compared == 2
    finally:
        await runner.stop()


async def test_a_candidate_that_does_not_load_is_reported_and_never_changes_answers(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "p.rules").write_text("allow(?u, ?a, ?r) :- \n")
    (tmp_path / "log").mkdir()
    requests = _requests()[:20]
    answers, policies, _ = await _answers(
        _settings(tmp_path / "log", shadow_policy_dir=str(broken)), requests
    )
    plain, _, _ = await _answers(_settings(tmp_path / "log"), requests)
    assert [a["decision"] for a in answers] == [a["decision"] for a in plain]
    status = policies["shadow"]
    assert status["state"] == "degraded" and status["revision"] is None
    assert status["errors"] == len(requests) and status["disagreements"] == 0


def test_a_missing_candidate_directory_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"SIAMESE_SHADOW_POLICY_DIR: .*no such directory"):
        build_app(_settings(tmp_path, shadow_policy_dir=str(tmp_path / "nope")))


async def _decision(policy: Any, request: Request) -> Any:
    from siamese.decision.service import DecisionService

    return await DecisionService(lambda: policy, Authorizer()).decide(request)


async def test_siamese_audit_lists_the_disagreements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from siamese.cli import main

    candidate = _candidate(tmp_path)
    (tmp_path / "log").mkdir()
    requests = [r for r in _requests() if r["resource"]["id"] == "runbook"
                and r["action"]["name"] == "write"]
    await _answers(_settings(tmp_path / "log", shadow_policy_dir=str(candidate)), requests)
    log = str(tmp_path / "log" / "audit.jsonl")
    assert main(["audit", log, "--kind", "shadow"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("-- ") and out[-1].endswith("disagreements")
    assert all(" shadow " in line and f"shadow deny [{ADDED}]" in line for line in out[:-1])
    assert len(out) > 1
    # the default listing is the decisions only
    assert main(["audit", log]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"-- {len(requests)} decisions"
