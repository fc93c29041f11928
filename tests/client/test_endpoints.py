"""Every endpoint through both clients against a real ``siamese serve`` on the shipped
policies: the decision, its reason, explanation, revision and decision id as the server
and its decision log have them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from siamese.audit.search import read_events
from siamese.client import SEMANTICS, Client, Decision, RequestRejected
from siamese.server.schemas import SEMANTICS as SERVER_SEMANTICS

from .conftest import TLS, Both, Served

# alice owns runbook; erin is suspended; heidi owns salary_review, which is confidential
ALLOW = ("alice", "delete", "runbook")
DENY = ("erin", "read", "api_spec")
BATCH = [{"subject": "alice", "resource": "runbook"},
         {"subject": "erin", "resource": "api_spec"},
         {"subject": "grace", "resource": "api_spec"}]


def logged(served: Served, decision_id: str) -> dict[str, Any]:
    (event,) = [e for e in read_events(served.audit_log) if e.get("decision_id") == decision_id
                or e.get("plan_id") == decision_id]
    return event


def test_the_semantics_are_the_servers() -> None:
    assert SEMANTICS == SERVER_SEMANTICS


def test_an_allow_carries_the_servers_reason_explanation_revision_and_id(
    server: Served, both: Both
) -> None:
    d = both(server.url, "decide", *ALLOW, request_id="req-allow-1")
    assert isinstance(d, Decision)
    assert d.decision is True and d.allowed and d.error is None and not d.cached
    assert d.reason == "allowed by rule owner-full-access"
    assert d.explanation["kind"] == "allow"
    assert d.explanation["proof"][0]["rule"] == "owner-full-access"
    assert d.revision == server.revision
    assert d.request_id == "req-allow-1"
    event = logged(server, d.decision_id)  # the decision log has this very decision
    for name in ("decision", "reason", "explanation", "revision"):
        assert event[name] == getattr(d, name), name


def test_a_deny_is_not_an_error(server: Served, both: Both) -> None:
    d = both(server.url, "decide", *DENY, options={"raise_errors": True})
    assert d.decision is False and d.error is None
    assert d.reason == "denied by rule suspended-account"
    assert d.explanation["kind"] == "deny"
    assert logged(server, d.decision_id)["decision"] is False


def test_properties_and_context_reach_the_policy(server: Served, both: Both) -> None:
    # department-read needs subject.properties.department
    assert not both(server.url, "allowed", "dave", "read", "runbook")
    assert both(server.url, "allowed", "dave", "read", "runbook",
                subject_properties={"department": "engineering"})
    assert both(server.url, "allowed", {"type": "user", "id": "dave",
                                        "properties": {"department": "engineering"}},
                "read", {"type": "document", "id": "runbook"})


def test_a_raw_evaluation_body(server: Served, both: Both) -> None:
    body = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "delete"},
            "resource": {"type": "document", "id": "runbook"}}
    assert both(server.url, "evaluation", body).decision is True
    d = both(server.url, "evaluation", {"subject": {"id": "alice"}})
    assert d.decision is False and isinstance(d.error, RequestRejected)
    assert d.error.status == 400 and "'action'" in d.error.message


@pytest.mark.parametrize("semantic, expected", [
    ("execute_all", [True, False, True]),
    ("deny_on_first_deny", [True, False]),
    ("permit_on_first_permit", [True]),
])
def test_evaluations_with_each_semantic(
    server: Served, both: Both, semantic: str, expected: list[bool]
) -> None:
    ds = both(server.url, "evaluations", BATCH, action="read", semantic=semantic)
    assert [d.decision for d in ds] == expected
    assert all(d.error is None and d.revision == server.revision for d in ds)
    assert len({d.decision_id for d in ds}) == len(ds)
    assert len({d.request_id for d in ds}) == 1  # one call


def test_evaluations_defaults_and_item_errors(server: Served, both: Both) -> None:
    ds = both(server.url, "evaluations",
              [{"resource": "runbook"}, {"resource": {"type": "document", "id": ""}},
               {"action": "delete", "resource": "runbook"}],
              subject="alice", action="read", context={"ip": "10.0.0.1"})
    assert [d.decision for d in ds] == [True, False, True]
    assert ds[1].error is not None and ds[1].error.status == 400
    with pytest.raises(RequestRejected):
        both(server.url, "evaluations", [{"resource": {"type": "document", "id": ""}}],
             subject="alice", action="read", options={"raise_errors": True})
    with pytest.raises(ValueError, match="semantic"):
        both(server.url, "evaluations", BATCH, semantic="first")
    with pytest.raises(ValueError, match="at least one"):
        both(server.url, "evaluations", [])


def test_each_search(server: Served, both: Both) -> None:
    subjects = both(server.url, "search_subjects", "delete", "runbook")
    assert set(subjects.ids) == {"alice", "grace", "ivan"} and subjects.next_token == ""
    assert all(r["type"] == "user" for r in subjects.results)
    resources = both(server.url, "search_resources", "dave", "read")
    assert "api_spec" in resources.ids and "salary_review" not in resources.ids
    actions = both(server.url, "search_actions", "alice", "runbook")
    assert set(actions.ids) == {"read", "comment", "write", "share", "delete"}
    assert all(p.error is None for p in (subjects, resources, actions))


def test_search_pages(server: Served, both: Both) -> None:
    first = both(server.url, "search_actions", "alice", "runbook", page_limit=2)
    assert len(first.ids) == 2 and first.next_token
    rest = both(server.url, "search_actions", "alice", "runbook", page_limit=2,
                page_token=first.next_token)
    assert not set(rest.ids) & set(first.ids)
    bad = both(server.url, "search_actions", "alice", "runbook", page_token="nonsense")
    assert bad.results == () and isinstance(bad.error, RequestRejected)


def test_the_plan(server: Served, both: Both) -> None:
    p = both(server.url, "plan", "frank", "read", "document",
             subject_properties={"department": "engineering"})
    assert p.error is None and p.kind == "KIND_CONDITIONAL"
    assert p.revision == server.revision
    assert {e["rule"] for e in p.explanation} >= {"public-documents", "department-read"}
    assert p.filter == {"kind": p.kind, "condition": p.condition}
    event = logged(server, p.plan_id)
    assert event["filter"] == p.filter
    denied = both(server.url, "plan", "erin", "read", "document")  # suspended
    assert denied.kind == "KIND_ALWAYS_DENIED" and denied.error is None


def test_the_plan_filters_rows_as_the_server_planned(server: Served) -> None:
    from sqlalchemy import Column, MetaData, String, Table, select

    from siamese.plan.sqlalchemy import where

    with Client(server.url, verify=TLS) as c:
        p = c.plan("frank", "read", "document", subject_properties={"department": "engineering"})
    docs = Table("docs", MetaData(), Column("id", String))
    query = select(docs.c.id).where(where(p.filter, {"request.resource.id": docs.c.id}))
    assert "runbook" in str(query.compile(compile_kwargs={"literal_binds": True}))


def test_the_request_id_reaches_the_server(server: Served) -> None:
    """The server echoes the X-Request-ID it received: the client sent the one given."""
    echoed: list[str | None] = []

    def record(response: httpx.Response) -> None:
        echoed.append(response.headers.get("x-request-id"))

    with Client(server.url, verify=TLS) as c:
        c._http.event_hooks["response"].append(record)
        d = c.decide(*ALLOW, request_id="trace-me-42")
        generated = c.decide(*ALLOW)
    assert echoed == ["trace-me-42", generated.request_id]
    assert d.request_id == "trace-me-42" and len(generated.request_id or "") == 32


def test_odd_values_are_denied_or_refused_never_allowed(server: Served, both: Both) -> None:
    # not in the policy: denied, whatever the characters
    for odd in ("ålice", "alice\u0000", "🦆", "a" * 10_000, "alice\ud800"):
        d = both(server.url, "decide", odd, "delete", "runbook")
        assert d.decision is False
    # a lone surrogate is not JSON the server accepts: refused, with the error
    assert both(server.url, "decide", "alice\ud800", "delete", "runbook").error is not None
    # a body over the server's limit
    d = both(server.url, "decide", *ALLOW, context={"blob": "x" * (2 << 20)})
    assert d.decision is False and d.error is not None and d.error.status == 413
    # not JSON at all: refused before sending
    d = both(server.url, "decide", *ALLOW, context={"n": float("nan")})
    assert d.decision is False and type(d.error).__name__ == "InvalidRequest"
    # a missing id
    d = both(server.url, "evaluation", {"subject": None, "action": "x", "resource": None})
    assert d.decision is False and d.error is not None
    # conflicting inputs are the caller's mistake
    with pytest.raises(ValueError, match="subject_type"):
        both(server.url, "decide", {"type": "user", "id": "alice"}, "delete", "runbook",
             subject_type="group")
    with pytest.raises(TypeError):
        both(server.url, "decide", 42, "delete", "runbook")
