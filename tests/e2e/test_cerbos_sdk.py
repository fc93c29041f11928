"""The ``cerbos`` SDK's ``plan_resources``, pointed at a real ``siamese serve``, works
unchanged: Cerbos' PlanResources request and response over Siamese's query plans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import serving

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cerbos")
    with serving(REPO / "policies", {"SIAMESE_AUDIT_LOG": str(tmp / "log.jsonl"),
                                     "SIAMESE_RELOAD": "false"}, tmp / "server.log") as u:
        yield u


def test_the_sdk_plans_through_siamese(url: str) -> None:
    from cerbos.sdk.client import CerbosClient
    from cerbos.sdk.model import PlanResourcesFilterKind, Principal, ResourceDesc

    with CerbosClient(url, raise_on_error=True) as client:
        frank = Principal("frank", roles={"user"}, attr={"department": "engineering"})
        plan = client.plan_resources("read", frank, ResourceDesc("document"))
        assert plan.filter is not None
        assert plan.filter.kind == PlanResourcesFilterKind.CONDITIONAL
        expr = plan.filter.condition.expression  # type: ignore[union-attr]
        assert expr.operator == "in"
        assert expr.operands[0].variable == "request.resource.id"
        assert sorted(expr.operands[1].value) == ["api_spec", "dave_notes", "handbook",
                                                  "press_release", "runbook"]
        assert plan.resource_kind == "document" and plan.action == "read"
        erin = Principal("erin", roles={"user"})
        denied = client.plan_resources("read", erin, ResourceDesc("document"))
        assert denied.filter.kind == PlanResourcesFilterKind.ALWAYS_DENIED  # type: ignore
        # both actions must pass: read and delete
        both = client.plan_resources(["read", "delete"], frank, ResourceDesc("document"))
        assert both.filter.kind == PlanResourcesFilterKind.ALWAYS_DENIED  # type: ignore


def test_what_siamese_cannot_honour_is_refused_in_cerbos_shape(url: str) -> None:
    base: dict[str, Any] = {"requestId": "r1", "actions": ["read"],
                            "principal": {"id": "frank", "roles": ["user"]},
                            "resource": {"kind": "document"}}
    cases = [
        ({**base, "resource": {"kind": "document", "attr": {"owner": "x"}}}, "resource.attr"),
        ({**base, "resource": {"kind": "document", "scope": "acme"}}, "scope"),
        ({**base, "principal": {"id": "frank", "policyVersion": "v2"}}, "policyVersion"),
        ({**base, "auxData": {"jwt": {"token": "x"}}}, "auxData"),
        ({**base, "principal": {"id": "frank", "roles": ["a"], "attr": {"roles": ["b"]}}},
         "both given"),
        ({**base, "action": "read"}, "either 'action' or 'actions'"),
        ({**base, "actions": []}, "1 to 20"),
        ({**base, "principal": {"roles": ["user"]}}, "principal.id"),
        ([], "JSON object"),
    ]
    for body, message in cases:
        r = httpx.post(url + "/api/plan/resources", json=body)
        assert r.status_code == 400, body
        assert r.json()["code"] == 3 and message in r.json()["message"], r.json()
    ok = httpx.post(url + "/api/plan/resources", json=base)
    assert ok.status_code == 200
    assert ok.json()["requestId"] == "r1" and ok.json()["policyVersion"] == "default"
