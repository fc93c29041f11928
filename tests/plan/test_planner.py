"""The planner: every plan, read by an independent oracle (tests/plan/oracle.py), allows
exactly the resources that one-by-one decisions allow (for the shipped policies, an ABAC
policy with deny rules and negation over properties, and a tabled folder hierarchy); every
shape that cannot become a filter is refused naming its rule; the limits end a plan with
an error naming them, never a partial filter."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request, RequestError
from siamese.engine import Limits
from siamese.plan import (
    ALWAYS_ALLOWED,
    ALWAYS_DENIED,
    CONDITIONAL,
    PlanError,
    PlanRequest,
    plan_resources,
)
from siamese.policy.loader import PolicyFile, PolicySet, load_policy_set, policy_set_from
from tests.plan.oracle import allowed

REPO = Path(__file__).resolve().parents[2]
SEED = 20261202


def policy(text: str) -> PolicySet:
    return policy_set_from("<test>", [PolicyFile("p.rules", "rules", text.encode())])


def request(subject: str, action: str, props: dict[str, Any] | None = None,
            context: dict[str, Any] | None = None) -> PlanRequest:
    body: dict[str, Any] = {"subject": {"type": "user", "id": subject},
                            "action": {"name": action}, "resource": {"type": "document"}}
    if props:
        body["subject"]["properties"] = props
    if context:
        body["context"] = context
    return PlanRequest.from_authzen(body)


async def one_by_one(ps: PolicySet, req: PlanRequest, rid: str,
                     props: dict[str, Any]) -> bool:
    body = {"subject": req.input["subject"], "action": req.input["action"],
            "resource": {"type": req.resource_type, "id": rid, "properties": props},
            "context": req.input["context"]}
    outcome = await Authorizer().evaluate(ps, Request.from_authzen(body))
    return outcome.allowed


async def check(ps: PolicySet, req: PlanRequest, rows: list[tuple[str, dict[str, Any]]]) -> Any:
    plan = plan_resources(ps, req)
    for rid, props in rows:
        want = await one_by_one(ps, req, rid, props)
        assert allowed(plan, rid, props) == want, (req.subject, req.action, rid, props,
                                                   plan.text)
    return plan


# --- the shipped policies ---------------------------------------------------------------


async def test_the_shipped_policies_plan_exactly() -> None:
    ps = load_policy_set(REPO / "policies")
    ids = sorted({str(a) for p in ps.program.predicates.values() for row in p.rows
                  for a in row if isinstance(a, str)} | {"unknown-doc"})
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
             "mallory", "nobody"]
    actions = ["read", "write", "delete", "share", "comment"]
    kinds = set()
    for user in users:
        for action in actions:
            for props in ({}, {"department": "engineering"}, {"department": "finance"}):
                plan = await check(ps, request(user, action, props), [(i, {}) for i in ids])
                kinds.add(plan.kind)
    assert kinds == {CONDITIONAL, ALWAYS_DENIED}


async def test_a_plan_names_the_rules_behind_it() -> None:
    ps = load_policy_set(REPO / "policies")
    plan = plan_resources(ps, request("alice", "read"))
    assert plan.kind == CONDITIONAL
    rules = {e["rule"]: e for e in plan.explanation}
    assert rules["owner-full-access"]["location"] == "access.rules:10"
    assert rules["owner-full-access"]["condition"] == 'resource.id == "runbook"'
    assert plan.condition is not None
    assert plan.to_dict()["filter"]["kind"] == CONDITIONAL
    suspended = plan_resources(ps, request("erin", "read"))
    assert suspended.kind == ALWAYS_DENIED
    assert [e["rule"] for e in suspended.explanation] == ["suspended-account"]
    assert "condition" not in suspended.to_dict()["filter"]


# --- ABAC: properties, deny rules, negation ---------------------------------------------

ABAC = """
suspended(mallory).
clearance(alice, 3). clearance(bob, 1). clearance(mallory, 5). clearance(carol, 2).
head_of(alice, eng). head_of(carol, sales).

@id("owner")
allow(?u, ?a, ?d) :- input("resource.properties.owner", ?u), ?a in [read, write, delete].
@id("department")
allow(?u, read, ?d) :-
    input("subject.properties.department", ?dept),
    input("resource.properties.department", ?dept),
    clearance(?u, ?c),
    input("resource.properties.sensitivity", ?s),
    ?s <= ?c.
@id("head")
allow(?u, write, ?d) :- head_of(?u, ?dept), input("resource.properties.department", ?dept),
    not input("resource.properties.locked", true).
@id("public")
allow(_, read, ?d) :- input("resource.properties.sensitivity", 0).
@id("unlocked-share")
allow(?u, share, ?d) :- input("resource.properties.locked", ?l), not ?l == true.
@id("any-department")
allow(?u, comment, ?d) :- input("resource.properties.department", ?x).
@id("suspended")
deny(?u, _, _) :- suspended(?u).
@id("archived")
deny(_, write, ?d) :- input("resource.properties.archived", true).
@id("not-own-secret")
deny(?u, delete, ?d) :- input("resource.properties.sensitivity", ?s), ?s > 2,
    not input("resource.properties.owner", ?u).
"""


def abac_rows(rng: random.Random, n: int) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for i in range(n):
        props: dict[str, Any] = {}
        for name, values in (("owner", ["alice", "bob", "carol", "mallory"]),
                             ("department", ["eng", "sales", "hr"]),
                             ("sensitivity", [0, 1, 2, 3, 4, 2.5]),
                             ("locked", [True, False]), ("archived", [True, False])):
            if rng.random() < 0.85:  # some properties missing: NULL in a table
                props[name] = rng.choice(values)
        rows.append((f"doc-{i}", props))
    return rows


async def test_abac_with_deny_rules_and_negation_plans_exactly() -> None:
    ps = policy(ABAC)
    rng = random.Random(SEED)
    rows = abac_rows(rng, 300)
    for user, dept in (("alice", "eng"), ("bob", "eng"), ("carol", "sales"),
                       ("mallory", "eng"), ("dave", "hr")):
        for action in ("read", "write", "delete", "share", "comment", "print"):
            await check(ps, request(user, action, {"department": dept}), rows)


async def test_conditions_on_properties_read_as_text() -> None:
    plan = plan_resources(policy(ABAC), request("bob", "write", {"department": "eng"}))
    assert plan.kind == CONDITIONAL
    assert plan.text == ('(resource.attr.owner == "bob") and not '
                         '(resource.attr.archived == true)')
    assert plan_resources(policy(ABAC), request("mallory", "read")).kind == ALWAYS_DENIED
    # a property read and never compared must still be there: input fails without it
    comment = plan_resources(policy(ABAC), request("bob", "comment"))
    assert comment.text == "has(resource.attr.department)"
    assert comment.condition == {"expression": {"operator": "eq", "operands": [
        {"variable": "request.resource.attr.department"},
        {"variable": "request.resource.attr.department"}]}}
    share = plan_resources(policy(ABAC), request("bob", "share"))
    assert share.text == "has(resource.attr.locked) and not (resource.attr.locked == true)"


# --- ReBAC: a tabled folder hierarchy ------------------------------------------------------

REBAC_HEAD = """
# recursive: tabled
inside(?x, ?f) :- parent(?x, ?f).
inside(?x, ?f) :- parent(?x, ?g), inside(?g, ?f).
belongs(?u, ?g) :- in_group(?u, ?g).
belongs(?u, ?g) :- in_group(?u, ?h), belongs(?h, ?g).

@id("folder-grant")
allow(?u, ?a, ?d) :- document(?d), inside(?d, ?f), belongs(?u, ?g), grant(?g, ?a, ?f).
@id("direct")
allow(?u, ?a, ?d) :- grant(?u, ?a, ?d).
@id("blocked")
deny(?u, _, ?d) :- blocked(?u, ?d).
"""


def rebac_text(rng: random.Random) -> tuple[str, list[str]]:
    lines = [REBAC_HEAD]
    folders = [f"f{i}" for i in range(12)]
    for i, f in enumerate(folders[1:], 1):
        lines.append(f"parent({f}, {folders[rng.randrange(i)]}).")
    docs = [f"d{i}" for i in range(40)]
    for d in docs:
        lines.append(f"document({d}). parent({d}, {rng.choice(folders)}).")
    users = ["ann", "ben", "cat", "dan"]
    groups = ["g1", "g2", "g3"]
    lines += ["in_group(ann, g1).", "in_group(g1, g2).", "in_group(g2, g1).",
              "in_group(ben, g3).", "in_group(cat, g2)."]
    for _ in range(8):
        lines.append(f"grant({rng.choice(groups + users)}, {rng.choice(['read', 'write'])}, "
                     f"{rng.choice(folders + docs)}).")
    for _ in range(4):
        lines.append(f"blocked({rng.choice(users)}, {rng.choice(docs)}).")
    return "\n".join(lines) + "\n", docs + folders + ["nowhere"]


async def test_a_tabled_folder_hierarchy_plans_exactly() -> None:
    rng = random.Random(SEED)
    for _ in range(5):
        text, ids = rebac_text(rng)
        ps = policy(text)
        for user in ("ann", "ben", "cat", "dan"):
            for action in ("read", "write"):
                await check(ps, request(user, action), [(i, {}) for i in ids])


# --- kinds --------------------------------------------------------------------------------


def test_always_allowed_and_always_denied() -> None:
    ps = policy('allow(_, read, _).\nallow(?u, write, ?d) :- input("context.admin", true).\n')
    assert plan_resources(ps, request("x", "read")).kind == ALWAYS_ALLOWED
    assert plan_resources(ps, request("x", "write")).kind == ALWAYS_DENIED
    assert plan_resources(ps, request("x", "write", context={"admin": True})).kind \
        == ALWAYS_ALLOWED
    assert plan_resources(policy("deny(_, _, _).\nallow(_, _, _).\n"), request("x", "read")) \
        .kind == ALWAYS_DENIED
    assert plan_resources(policy("role(a, b).\n"), request("x", "read")).kind == ALWAYS_DENIED


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "message"), [
    ('allow(_, read, ?d) :- input("resource.properties.title", ?t), regex("^a", ?t).',
     "built-in 'regex' is given the resource's id or a property"),
    ('allow(_, read, ?d) :- startswith(?d, "pub-").',
     "built-in 'startswith' is given the resource's id or a property"),
    ('allow(_, read, ?d) :- input("resource.properties.size", ?s), ?s + 1 > 10.',
     "computes with the resource's properties"),
    ('allow(_, read, ?d) :- input("resource.properties.size", ?s), ?t is ?s * 2, ?t > 4.',
     "built-in 'is' is given the resource's id or a property"),
    ('allow(_, read, ?d) :- input("resource", ?r).',
     "reads the whole resource"),
    ('allow(_, read, ?d) :- input("resource.properties", ?r).',
     "reads the whole resource"),
    ('allow(_, read, ?d) :- input("resource.properties.tags", ?t), member(x, ?t).',
     "built-in 'member' is given the resource's id or a property"),
    ('allow(?u, read, ?d) :- chain(?d).\n'
     'chain(?d) :- input("resource.properties.next", ?d).\n'
     'chain(?d) :- input("resource.properties.up", ?u), chain(?u).',
     "chain/1 is recursive and reads the request"),
    ('allow(_, read, ?d) :- input(?p, ?v).',
     "input's path must be known to plan it"),
    ('allow(_, read, ?d) :- input("resource.properties.tags", [a, b]).',
     "a filter compares it with a single value"),
    ('allow(_, read, ?d) :- input("resource.properties.n", ?n), 4 == ?n + 1.',
     "built-in 'eq' is given the resource's id or a property"),
])
def test_shapes_that_cannot_be_a_filter_are_refused_naming_the_rule(
    rule: str, message: str
) -> None:
    ps = policy("@id(\"the-rule\")\n" + rule + "\n")
    with pytest.raises(PlanError) as e:
        plan_resources(ps, request("x", "read"))
    assert message in str(e.value)
    assert "p.rules:" in str(e.value)  # where: file:line:col
    assert "the-rule" in str(e.value) or "chain" in str(e.value)


def test_an_asynchronous_built_in_is_not_called() -> None:
    from siamese.engine import custom

    async def remote(goal: Any, bindings: Any) -> Any:
        raise AssertionError("a plan must not call it")
        yield bindings  # an original-engine built-in is an async generator

    ps = policy_set_from("<test>", [PolicyFile(
        "p.rules", "rules", b'allow(_, read, ?d) :- remote(ok).\n')],
        builtins={"remote": custom(remote)})
    with pytest.raises(PlanError, match="reaches outside the server"):
        plan_resources(ps, request("x", "read"))


# --- limits -------------------------------------------------------------------------------

MANY = "".join(f"doc(d{i}).\n" for i in range(2000)) + "allow(_, read, ?d) :- doc(?d).\n"


def test_limits_end_a_plan_with_an_error_naming_them() -> None:
    ps = policy(MANY)
    with pytest.raises(PlanError, match="max_solutions"):
        plan_resources(ps, request("x", "read"), Limits(max_solutions=100))
    with pytest.raises(PlanError, match="max_steps"):
        plan_resources(ps, request("x", "read"), Limits(max_steps=500))
    ticks = iter(range(10**9))
    with pytest.raises(PlanError, match="timeout_ms"):
        plan_resources(policy(ABAC), request("alice", "read", {"department": "eng"}),
                       Limits(timeout_ms=2), clock=lambda: next(ticks) / 1000.0)
    # within its limits the same plan is whole
    plan = plan_resources(ps, request("x", "read"))
    assert plan.kind == CONDITIONAL
    assert len(plan.condition["expression"]["operands"][1]["value"]) == 2000  # type: ignore


# --- the request --------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ([], "JSON object"),
    ({"subject": {"type": "user", "id": "a"}, "action": {"name": "read"}}, "'resource'"),
    ({"subject": {"type": "user", "id": "a"}, "action": {"name": "read"},
      "resource": {"type": "doc", "id": "d1"}}, "'resource.id' must not be given"),
    ({"subject": {"type": "user", "id": "a"}, "action": {"name": "read"},
      "resource": {"id": "d1"}}, "'resource.id' must not be given"),
    ({"subject": {"type": "user", "id": "a"}, "action": {"name": "read"},
      "resource": {}}, "'resource.type'"),
    ({"subject": {"type": "user", "id": "a"}, "action": {"name": "read"},
      "resource": {"type": "doc", "properties": {"x": 1}}}, "'resource.properties'"),
    ({"subject": {"type": "user"}, "action": {"name": "read"},
      "resource": {"type": "doc"}}, "subject"),
])
def test_a_plan_request_is_refused_clearly(body: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message.replace("(", r"\(")):
        PlanRequest.from_authzen(body)
