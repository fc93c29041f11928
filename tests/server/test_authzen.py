"""The AuthZEN Authorization API: evaluation, evaluations, search, metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from .conftest import Harness, body, build


async def test_evaluation_allows_with_reason_explanation_id_and_revision(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    r = await client.post("/access/v1/evaluation", json=body("alice", "read", "doc2"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    out = r.json()
    assert out["decision"] is True
    ctx = out["context"]
    assert ctx["reason_user"] == "allowed by rule admin-all"
    assert ctx["reason_admin"]["kind"] == "allow"
    assert ctx["reason_admin"]["proof"][0]["rule"] == "admin-all"
    assert ctx["revision"] == harness.store.revision
    assert ctx["id"] == ctx["decision_id"] == harness.audited[-1].decision_id


async def test_evaluation_denies_by_default_and_by_deny_rules(client: httpx.AsyncClient) -> None:
    r = await client.post("/access/v1/evaluation", json=body("bob", "delete", "doc2"))
    assert r.status_code == 200 and r.json()["decision"] is False
    assert r.json()["context"]["reason_user"] == "no rule allows bob to delete doc2"
    assert r.json()["context"]["reason_admin"]["kind"] == "default-deny"
    r = await client.post("/access/v1/evaluation", json=body("mallory", "read", "doc2"))
    assert r.json()["decision"] is False
    assert r.json()["context"]["reason_user"] == "denied by rule suspended"


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    b = body("alice", extra_field=1)
    b["subject"]["whatever"] = [1, 2]
    r = await client.post("/access/v1/evaluation", json=b)
    assert r.status_code == 200 and r.json()["decision"] is True


async def test_every_answered_decision_is_audited(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    await client.post("/access/v1/evaluation", json=body("alice"))
    await client.post("/access/v1/evaluation", json=body("alice"))  # the cache answers
    assert [d.cached for d in harness.audited] == [False, True]
    assert harness.audited[0].decision_id != harness.audited[1].decision_id


# --- evaluations ------------------------------------------------------------------------


async def test_evaluations_defaults_overrides_and_order(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/access/v1/evaluations",
        json={
            "subject": {"type": "user", "id": "bob"},
            "action": {"name": "read"},
            "context": {"ip": "10.0.0.1"},
            "evaluations": [
                {"resource": {"type": "document", "id": "doc1"}},
                {"action": {"name": "delete"}, "resource": {"type": "document", "id": "doc1"}},
                {
                    "subject": {"type": "user", "id": "carol"},
                    "action": {"name": "delete"},
                    "resource": {"type": "document", "id": "doc1"},
                },
            ],
        },
    )
    assert r.status_code == 200
    assert [e["decision"] for e in r.json()["evaluations"]] == [True, False, True]
    assert r.json()["evaluations"][2]["context"]["reason_user"] == "allowed by rule owner"


async def test_an_item_that_fails_validation_gets_an_error_and_the_others_are_decided(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/access/v1/evaluations",
        json={
            "subject": {"type": "user", "id": "alice"},
            "action": {"name": "read"},
            "evaluations": [
                {"resource": {"type": "document", "id": "doc1"}},
                {"resource": {"type": "document", "id": 42}},
                {"resource": {"type": "document"}},
                "not an object",
                {"resource": {"type": "document", "id": "doc3"}},
            ],
        },
    )
    assert r.status_code == 200
    items = r.json()["evaluations"]
    assert [e["decision"] for e in items] == [True, False, False, False, True]
    assert items[1]["context"] == {
        "error": {"status": 400, "message": "'resource.id' must be a string"}
    }
    assert items[2]["context"] == {"error": {"status": 400, "message": "missing 'resource.id'"}}
    assert items[3]["context"]["error"]["message"] == "'evaluations[3]' must be an object"


@pytest.mark.parametrize(
    ("semantic", "decisions"),
    [
        ("execute_all", [True, False, True, False]),
        ("deny_on_first_deny", [True, False]),
        ("permit_on_first_permit", [True]),
    ],
)
async def test_evaluations_semantics(
    client: httpx.AsyncClient, semantic: str, decisions: list[bool]
) -> None:
    r = await client.post(
        "/access/v1/evaluations",
        json={
            "subject": {"type": "user", "id": "bob"},
            "resource": {"type": "document", "id": "doc2"},
            "options": {"evaluations_semantic": semantic},
            "evaluations": [{"action": {"name": a}} for a in ("read", "write", "read", "delete")],
        },
    )
    assert r.status_code == 200
    assert [e["decision"] for e in r.json()["evaluations"]] == decisions


async def test_permit_on_first_permit_after_denies_and_an_error_stops_deny_on_first_deny(
    client: httpx.AsyncClient,
) -> None:
    base = {
        "subject": {"type": "user", "id": "bob"},
        "resource": {"type": "document", "id": "doc2"},
    }
    items = [
        {"action": {"name": "write"}},
        {"action": {}},
        {"action": {"name": "read"}},
        {"action": {"name": "write"}},
    ]
    r = await client.post(
        "/access/v1/evaluations",
        json={
            **base,
            "options": {"evaluations_semantic": "permit_on_first_permit"},
            "evaluations": items,
        },
    )
    assert [e["decision"] for e in r.json()["evaluations"]] == [False, False, True]
    r = await client.post(
        "/access/v1/evaluations",
        json={
            **base,
            "options": {"evaluations_semantic": "deny_on_first_deny"},
            "evaluations": [
                {"action": {"name": "read"}},
                {"action": {}},
                {"action": {"name": "read"}},
            ],
        },
    )
    out = r.json()["evaluations"]
    assert [e["decision"] for e in out] == [True, False]
    assert out[1]["context"]["error"]["status"] == 400


async def test_evaluations_without_items_is_a_single_evaluation(client: httpx.AsyncClient) -> None:
    extras: list[dict[str, Any]] = [{}, {"evaluations": []}]
    for extra in extras:
        r = await client.post("/access/v1/evaluations", json=body("alice", **extra))
        assert r.status_code == 200
        assert r.json()["decision"] is True and "evaluations" not in r.json()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"evaluations": {"a": 1}}, "'evaluations' must be an array"),
        ({"evaluations": [{}], "options": []}, "'options' must be an object"),
        (
            {"evaluations": [{}], "options": {"evaluations_semantic": "first"}},
            "'options.evaluations_semantic' must be one of execute_all, deny_on_first_deny, "
            "permit_on_first_permit",
        ),
        ({"evaluations": [{}] * 1001}, "'evaluations' holds 1001 items; at most 1000"),
        ([1, 2], "request body must be a JSON object"),
        ({}, "missing 'subject'"),
    ],
)
async def test_bad_batches_are_400(client: httpx.AsyncClient, payload: Any, message: str) -> None:
    r = await client.post("/access/v1/evaluations", json=payload)
    assert r.status_code == 400
    assert r.json() == {"error": {"status": 400, "message": message}}


# --- search -------------------------------------------------------------------------------


async def test_resource_search_pages_through_the_allowed_resources(
    client: httpx.AsyncClient,
) -> None:
    req = {
        "subject": {"type": "user", "id": "bob"},
        "action": {"name": "read"},
        "resource": {"type": "document"},
        "page": {"limit": 2},
    }
    r = await client.post("/access/v1/search/resource", json=req)
    assert r.status_code == 200
    first = r.json()
    assert list(first) == ["page", "results"]  # page first, as AuthZEN recommends
    assert first["results"] == [
        {"type": "document", "id": "doc1"},
        {"type": "document", "id": "doc2"},
    ]
    assert first["page"]["count"] == 2 and first["page"]["next_token"]
    req["page"] = {"limit": 2, "token": first["page"]["next_token"]}
    second = (await client.post("/access/v1/search/resource", json=req)).json()
    assert second == {
        "page": {"next_token": "", "count": 1},
        "results": [{"type": "document", "id": "doc3"}],
    }


async def test_subject_search_leaves_out_denied_subjects(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/access/v1/search/subject",
        json={
            "subject": {"type": "user"},
            "action": {"name": "read"},
            "resource": {"type": "document", "id": "doc2"},
        },
    )
    assert r.status_code == 200
    ids = [s["id"] for s in r.json()["results"]]
    assert sorted(ids) == ["alice", "bob"]  # mallory is an admin, but suspended
    assert all(s["type"] == "user" for s in r.json()["results"])
    assert r.json()["page"]["next_token"] == ""


async def test_action_search(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/access/v1/search/action",
        json={
            "subject": {"type": "user", "id": "carol"},
            "resource": {"type": "document", "id": "doc1"},
        },
    )
    assert r.status_code == 200
    assert r.json()["results"] == [{"name": "read"}, {"name": "write"}, {"name": "delete"}]


async def test_a_page_token_from_another_revision_or_search_is_400(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    req: dict[str, Any] = {
        "subject": {"type": "user", "id": "bob"},
        "action": {"name": "read"},
        "resource": {"type": "document"},
        "page": {"limit": 1},
    }
    token = (await client.post("/access/v1/search/resource", json=req)).json()["page"]["next_token"]
    other = {
        **req,
        "subject": {"type": "user", "id": "alice"},
        "page": {"limit": 1, "token": token},
    }
    r = await client.post("/access/v1/search/resource", json=other)
    assert r.status_code == 400 and "different search" in r.json()["error"]["message"]
    old = harness.store.revision
    harness.write("extra.rules", "doc(doc4).\n")
    assert (await harness.store.reload()).changed
    r = await client.post(
        "/access/v1/search/resource", json={**req, "page": {"limit": 1, "token": token}}
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        f"'page.token' belongs to policy revision {old}, and revision {harness.store.revision} "
        "is now serving: start the search again"
    )
    r = await client.post("/access/v1/search/resource", json={**req, "page": {"token": "garbage!"}})
    assert r.status_code == 400 and "not a page token" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ([], "'page' must be an object"),
        ({"limit": 0}, "'page.limit' must be an integer from 1 to 1000"),
        ({"limit": "2"}, "'page.limit' must be an integer from 1 to 1000"),
        ({"limit": True}, "'page.limit' must be an integer from 1 to 1000"),
        ({"token": 5}, "'page.token' must be a string"),
    ],
)
async def test_bad_pages_are_400(client: httpx.AsyncClient, page: Any, message: str) -> None:
    r = await client.post(
        "/access/v1/search/resource",
        json={
            "subject": {"type": "user", "id": "bob"},
            "action": {"name": "read"},
            "resource": {"type": "document"},
            "page": page,
        },
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == message


async def test_a_search_that_hits_a_limit_is_an_error_not_an_empty_answer(tmp_path: Path) -> None:
    facts = " ".join(f"d({i})." for i in range(60))
    h = build(
        tmp_path,
        facts + "\nallow(?u, read, ?r) :- d(?x), d(?y), d(?z), d(?r), ?x > 100.\n",
        max_steps=5_000,
    )
    from siamese.decision.authorizer import Authorizer
    from siamese.engine import Limits

    h.service.authorizer = Authorizer(limits=Limits(max_steps=5_000))
    async with h.client() as c:
        r = await c.post(
            "/access/v1/search/resource",
            json={
                "subject": {"type": "user", "id": "u"},
                "action": {"name": "read"},
                "resource": {"type": "d"},
            },
        )
    assert r.status_code == 422
    assert (
        r.json()["error"]["message"]
        == "search stopped: limit exceeded (max_steps); narrow the search"
    )


async def test_search_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/access/v1/search/resource",
        json={"subject": {"type": "user", "id": "bob"}, "action": {"name": "read"}},
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == "missing 'resource'"
    r = await client.post(
        "/access/v1/search/subject",
        json={
            "subject": {"type": "user"},
            "action": {"name": 3},
            "resource": {"type": "d", "id": "x"},
        },
    )
    assert r.status_code == 400 and r.json()["error"]["message"] == "'action.name' must be a string"


# --- metadata -----------------------------------------------------------------------------


async def test_well_known_configuration(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/authzen-configuration")
    assert r.status_code == 200
    assert r.json() == {
        "policy_decision_point": "http://testserver",
        "access_evaluation_endpoint": "http://testserver/access/v1/evaluation",
        "access_evaluations_endpoint": "http://testserver/access/v1/evaluations",
        "search_subject_endpoint": "http://testserver/access/v1/search/subject",
        "search_resource_endpoint": "http://testserver/access/v1/search/resource",
        "search_action_endpoint": "http://testserver/access/v1/search/action",
    }


@pytest.mark.parametrize("path", ["/access/v1/evaluation", "/access/v1/evaluations",
                                  "/v1/forward-auth"])
async def test_the_shortcut_and_the_router_answer_alike(harness: Harness, path: str) -> None:
    """The decision routes' exact paths skip the router (app._App): Starlette's own routing
    of the same requests gives the same answers, the same errors, the request id."""

    async def routed_app(scope: Any, receive: Any, send: Any) -> None:
        await Starlette.__call__(harness.app, scope, receive, send)

    routed = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=routed_app), base_url="http://testserver"
    )
    async with harness.client() as direct, routed:
        method = "GET" if path == "/v1/forward-auth" else "POST"
        for content in (b'{"subject": {"type": "user", "id": "alice"}, "action": {"name": '
                        b'"read"}, "resource": {"type": "doc", "id": "doc2"}}', b"{", b"[]"):
            headers = {"x-request-id": "req-1", "content-type": "application/json"}
            a = await direct.request(method, path, content=content, headers=headers)
            b = await routed.request(method, path, content=content, headers=headers)
            assert a.status_code == b.status_code
            assert a.headers["x-request-id"] == b.headers["x-request-id"] == "req-1"
            ja, jb = a.json(), b.json()
            for j in (ja, jb):  # each decision has its own id
                for holder in (j, j.get("context") or {}):
                    holder.pop("id", None)
                    holder.pop("decision_id", None)
            assert ja == jb
        # another method is the router's 405 either way
        if method == "POST":
            assert (await direct.get(path)).status_code == 405
