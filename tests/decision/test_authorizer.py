"""Decisions: deny overrides, default deny, explanations, fail closed, input paths."""

from __future__ import annotations

from typing import Any

import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request, RequestError
from siamese.engine import Limits

from .conftest import policy

POLICY = """
owner(doc1, alice).
member_of(bob, eng).
grant(eng, viewer, folder1).
parent(doc2, folder1).
status(mallory, suspended).
owner(doc3, mallory).

@id("owner")
@description("owners may do anything")
allow(?u, ?a, ?d) :- owner(?d, ?u).

@id("group-viewer")
allow(?u, read, ?d) :- member_of(?u, ?g), grant(?g, viewer, ?f), parent(?d, ?f).

@id("dept-read")
allow(?u, read, ?d) :- input("subject.properties.department", ?dep), dept_doc(?dep, ?d).
dept_doc(eng, doc9).

@id("suspended")
deny(?u, _, _) :- status(?u, suspended).
"""


async def decide(subject: str, action: str, resource: str, text: str = POLICY,
                 **kw: Any) -> Any:
    req = Request.simple(subject, action, resource, context=kw.pop("context", None),
                         claims=kw.pop("claims", None))
    if "props" in kw:
        req = Request.from_authzen({
            "subject": {"type": "user", "id": subject, "properties": kw.pop("props")},
            "action": {"name": action}, "resource": {"type": "doc", "id": resource}})
    return await Authorizer(**kw).evaluate(policy(text), req)


async def test_allow_explanation_is_the_proof_with_rule_ids_and_fact_locations() -> None:
    out = await decide("bob", "read", "doc2")
    assert out.allowed
    assert out.reason == "allowed by rule group-viewer"
    assert out.rule_ids == ("group-viewer",)
    proof = out.explanation["proof"][0]
    assert out.explanation["kind"] == "allow"
    assert proof["rule"] == "group-viewer" and proof["location"] == "p.rules:14"
    assert [c["location"] for c in proof["children"]] == ["p.rules:3", "p.rules:4", "p.rules:5"]
    assert out.revision == "rev1"


async def test_deny_overrides_allow_and_explains_with_the_deny_proof() -> None:
    out = await decide("mallory", "read", "doc3")  # mallory owns doc3 but is suspended
    assert not out.allowed
    assert out.reason == "denied by rule suspended"
    assert out.explanation["kind"] == "deny"
    assert out.explanation["proof"][0]["children"][0] == {
        "goal": "status(mallory, suspended)", "kind": "fact", "location": "p.rules:6"}


async def test_default_deny_explains_why_not_for_each_matching_allow_rule() -> None:
    out = await decide("carol", "read", "doc2")
    assert not out.allowed
    assert out.reason == "no rule allows carol to read doc2"
    why = out.explanation["why_not"]
    assert [w["rule"] for w in why] == ["owner", "group-viewer", "dept-read"]
    assert why[0]["failed_goal"] == "owner(doc2, carol)"
    assert why[0]["failed_location"] == "p.rules:11:22"
    assert why[1]["failed_goal"] == "member_of(carol, ?g)"
    assert why[2]["failed_goal"] == 'input("subject.properties.department", ?dep)'
    # a write is not covered by the read-only rules: only the owner rule's head matches
    out = await decide("carol", "write", "doc2")
    assert [w["rule"] for w in out.explanation["why_not"]] == ["owner"]


async def test_input_paths_reach_the_request() -> None:
    out = await decide("zed", "read", "doc9", props={"department": "eng"})
    assert out.allowed and out.rule_ids == ("dept-read",)
    out = await decide("zed", "read", "doc9", props={"department": "sales"})
    assert not out.allowed


async def test_claims_context_and_gateway_fields_are_inputs() -> None:
    text = """
    allow(?u, ?a, ?r) :- input("claims.roles", ?roles), admin in ?roles,
                         input("context.ip", ?ip), cidr("10.0.0.0/8", ?ip),
                         input("request.headers.x-env", prod).
    """
    req = Request.simple("u", "delete", "r", context={"ip": "10.1.2.3"},
                         claims={"roles": ["admin"]}, http={"headers": {"x-env": "prod"}})
    assert (await Authorizer().evaluate(policy(text), req)).allowed
    req = Request.simple("u", "delete", "r", context={"ip": "192.168.1.1"},
                         claims={"roles": ["admin"]}, http={"headers": {"x-env": "prod"}})
    assert not (await Authorizer().evaluate(policy(text), req)).allowed


async def test_an_engine_error_denies_and_says_so() -> None:
    text = 'allow(?u, ?a, ?r) :- ?x is 1 / 0.\nallow(?u, ?a, ?r) :- true == true.'
    out = await decide("u", "read", "r", text=text)
    assert not out.allowed
    assert out.reason == "denied: policy evaluation failed"
    assert "division by zero" in out.errors[0]
    assert not out.cacheable


async def test_a_limit_denies_with_the_limit_named() -> None:
    facts = " ".join(f"d({i})." for i in range(40))
    text = facts + "\nallow(?u, ?a, ?r) :- d(?x), d(?y), d(?z), ?x > 100.\n"
    out = await decide("u", "read", "r", text=text, limits=Limits(max_steps=5_000))
    assert not out.allowed
    assert out.limit == "max_steps"
    assert out.reason == "denied: limit exceeded (max_steps)"


async def test_an_error_in_a_deny_rule_denies_even_when_allowed() -> None:
    text = 'allow(?u, ?a, ?r).\ndeny(?u, ?a, ?r) :- ?n is ?u + 1.'
    out = await decide("u", "read", "r", text=text)
    assert not out.allowed and out.errors


async def test_volatile_builtins_make_the_outcome_uncacheable() -> None:
    text = 'allow(?u, ?a, ?r) :- now(?t), ?t > 0.'
    out = await decide("u", "read", "r", text=text, wall_clock=lambda: 1000.0)
    assert out.allowed and not out.cacheable
    out = await decide("u", "read", "r", text="allow(?u, ?a, ?r).")
    assert out.allowed and out.cacheable


async def test_gateway_response_headers() -> None:
    text = """
    allow(?u, ?a, ?r).
    response_header("X-User-Role", ?r) :- input("claims.role", ?r).
    response_header("X-Static", "yes").
    """
    req = Request.simple("u", "GET", "/x", claims={"role": "admin"})
    out = await Authorizer().evaluate(policy(text), req, gateway=True)
    assert out.response_headers == (("X-Static", "yes"), ("X-User-Role", "admin"))  # facts first


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body must be a JSON object"),
        ({"action": {"name": "r"}, "resource": {"type": "d", "id": "1"}}, "missing 'subject'"),
        ({"subject": {"type": "u"}, "action": {"name": "r"}, "resource": {"type": "d", "id": "1"}},
         "missing 'subject.id'"),
        ({"subject": {"type": "u", "id": 5}, "action": {"name": "r"},
          "resource": {"type": "d", "id": "1"}}, "'subject.id' must be a string"),
        ({"subject": {"type": "u", "id": "a"}, "action": {},
          "resource": {"type": "d", "id": "1"}}, "missing 'action.name'"),
        ({"subject": {"type": "u", "id": "a"}, "action": {"name": "r"},
          "resource": {"id": "1"}}, "missing 'resource.type'"),
        ({"subject": {"type": "u", "id": "a"}, "action": {"name": "r"},
          "resource": {"type": "d", "id": "1"}, "context": []}, "'context' must be an object"),
        ({"subject": {"type": "u", "id": "a", "properties": 3}, "action": {"name": "r"},
          "resource": {"type": "d", "id": "1"}}, "'subject.properties' must be an object"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(body: Any, message: str) -> None:
    with pytest.raises(RequestError) as err:
        Request.from_authzen(body)
    assert err.value.message == message
    assert err.value.status == 400


def test_unknown_fields_are_ignored() -> None:
    req = Request.from_authzen({"subject": {"type": "u", "id": "a", "x": 1},
                                "action": {"name": "r"},
                                "resource": {"type": "d", "id": "1"}, "extra": True})
    assert (req.subject, req.action, req.resource) == ("a", "r", "1")


async def test_search_skips_rules_that_cannot_enumerate_and_keeps_the_rest() -> None:
    text = """
    doc(d1). doc(d2). owner(d2, alice). blocked(d1).
    allow(?u, read, ?r) :- doc(?r), not blocked(?r).
    allow(?u, read, ?r) :- startswith(?r, "/public/").
    allow(?u, ?a, ?r) :- owner(?r, ?u).
    allow(bob, read, d9).
    deny(?u, ?a, ?r) :- blocked(?r).
    """
    req = Request.for_search({"subject": {"type": "user", "id": "alice"},
                              "action": {"name": "read"}, "resource": {"type": "doc"}},
                             "resource")
    assert await Authorizer().search(policy(text), req, "resource") == ["d2"]
    req = Request.for_search({"subject": {"type": "user"}, "action": {"name": "read"},
                              "resource": {"type": "doc", "id": "d9"}}, "subject")
    assert await Authorizer().search(policy(text), req, "subject") == ["bob"]
