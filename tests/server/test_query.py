"""POST /v1/query: any goal for an administrator (SIAMESE_ADMIN_KEYS), restricted to the
predicates of SIAMESE_QUERY_ALLOW, bounded by the limits, with its proofs; never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import app_for, serving

ADMIN = "admin-key-0123456789"

POLICY = """\
in_group(alice, eng).
in_group(bob, sales).
sub_group(eng, staff).
sub_group(sales, staff).
sub_group(staff, all_hands).
secret(alice, eng).

@id("direct")
member_of(?u, ?g) :- in_group(?u, ?g).
@id("nested")
member_of(?u, ?g) :- member_of(?u, ?s), sub_group(?s, ?g).

@id("staff-read")
allow(?u, read, doc1) :- member_of(?u, staff).

nat(0).
@id("succ")
nat(?n) :- nat(?m), ?n is ?m + 1.

parent(n0, n1).
"""

# a chain of 150 parents: proofs 150 levels deep
CHAIN = "".join(f"parent(n{i}, n{i + 1}).\n" for i in range(1, 150)) + (
    "anc(?x, ?y) :- parent(?x, ?y).\nanc(?x, ?z) :- parent(?x, ?y), anc(?y, ?z).\n"
)


@asynccontextmanager
async def admin_client(
    tmp_path: Path, key: str | None = ADMIN, policy: str = POLICY, **env: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(
        tmp_path,
        policy,
        **{
            "SIAMESE_ADMIN_KEYS": f"other-admin-key, {ADMIN}",
            "SIAMESE_BUILTINS": "tests.pip.operator_mod:BUILTINS",
            **env,
        },
    )
    async with serving(app, {"X-API-Key": key} if key else None) as c:
        yield c


async def ask(c: httpx.AsyncClient, query: str, **extra: Any) -> httpx.Response:
    return await c.post("/v1/query", json={"query": query, **extra})


def values(r: httpx.Response, var: str) -> list[Any]:
    assert r.status_code == 200, r.text
    return [s["bindings"][var] for s in r.json()["solutions"]]


# --- who may ask --------------------------------------------------------------------------


async def test_disabled_without_admin_keys(tmp_path: Path) -> None:
    async with admin_client(tmp_path, SIAMESE_ADMIN_KEYS="") as c:
        r = await ask(c, "member_of(alice, ?g)")
        assert r.status_code == 403
        assert r.json() == {"error": {"status": 403, "message": "the admin query endpoint is "
                                      "disabled: set SIAMESE_ADMIN_KEYS"}}


async def test_an_admin_key_is_required(tmp_path: Path) -> None:
    async with admin_client(tmp_path, key=None) as c:
        r = await ask(c, "member_of(alice, ?g)")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert "missing API key" in r.json()["error"]["message"]
        r = await c.post(
            "/v1/query", json={"query": "member_of(alice, ?g)"}, headers={"X-API-Key": "guess"}
        )
        assert r.status_code == 401 and r.json()["error"]["message"] == "invalid API key"
        for headers in ({"X-API-Key": ADMIN}, {"Authorization": f"Bearer {ADMIN}"},
                        {"X-API-Key": "other-admin-key"}):
            r = await c.post("/v1/query", json={"query": "member_of(alice, ?g)"},
                             headers=headers)
            assert r.status_code == 200, headers
            assert values(r, "?g") == ["eng", "staff", "all_hands"]


async def test_a_decision_api_key_is_not_an_admin_key(tmp_path: Path) -> None:
    async with admin_client(
        tmp_path, key="caller-key", SIAMESE_AUTH="api-key", SIAMESE_API_KEYS="caller-key"
    ) as c:
        r = await ask(c, "member_of(alice, ?g)")
        assert r.status_code == 403 and "SIAMESE_ADMIN_KEYS" in r.json()["error"]["message"]
        # and an admin key is not a decision API key
        r = await c.get("/v1/policies", headers={"X-API-Key": ADMIN})
        assert r.status_code == 401
        r = await c.post("/v1/query", json={"query": "member_of(alice, ?g)"},
                         headers={"X-API-Key": ADMIN})
        assert r.status_code == 200


async def test_admin_callers_are_rate_limited(tmp_path: Path) -> None:
    async with admin_client(tmp_path, SIAMESE_RATE_LIMIT="0.001", SIAMESE_RATE_BURST="2") as c:
        statuses = [(await ask(c, "member_of(bob, sales)")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


# --- what they may ask ----------------------------------------------------------------------


async def test_the_allowlist(tmp_path: Path) -> None:
    async with admin_client(tmp_path, SIAMESE_QUERY_ALLOW="member_of, allow") as c:
        assert values(await ask(c, "member_of(alice, ?g)"), "?g") == ["eng", "staff", "all_hands"]
        # the engine's own built-ins compute on their arguments: always allowed
        r = await ask(c, "member_of(alice, ?g), ?g != staff, not (?g in [eng, sales])")
        assert values(r, "?g") == ["all_hands"]
        for query, name in [
            ("in_group(alice, ?g)", "in_group"),
            ("member_of(alice, ?g), not secret(alice, ?g)", "secret"),
            ("member_of(alice, ?g), not (sub_group(?g, eng) ; secret(alice, ?g))", "sub_group"),
            ("member_of(alice, ?g), not (allow(?g, _, _) ; secret(alice, ?g))", "secret"),
            ("(member_of(alice, ?g) ; (?g == x, nat(?g)))", "nat"),
        ]:
            r = await ask(c, query)
            assert r.status_code == 403, query
            col = query.index(name + "(") + 1
            assert r.json()["error"]["message"] == (
                f"<query>:1:{col}: predicate '{name}' is not in SIAMESE_QUERY_ALLOW"
            )


async def test_builtins_that_reach_outside_must_be_named(tmp_path: Path) -> None:
    fetch = 'http_get_json("http://127.0.0.1:9/x", ?j)'
    async with admin_client(tmp_path) as c:  # no allowlist: every predicate, no such built-in
        for query, name in [
            (fetch, "http_get_json"),
            (f"member_of(alice, ?g), not {fetch}", "http_get_json"),
            ("member_of(?u, eng), (department(?u, ?d) ; ?d == none)", "department"),
        ]:
            r = await ask(c, query)
            assert r.status_code == 403, query
            message = r.json()["error"]["message"]
            assert f"built-in '{name}' reaches outside the server" in message
            assert "SIAMESE_QUERY_ALLOW" in message
        r = await ask(c, 'sub_group(eng, staff), json_path([1, 2], "1", ?v)')
        assert values(r, "?v") == [2]
    async with admin_client(
        tmp_path, SIAMESE_QUERY_ALLOW="member_of,http_get_json,department"
    ) as c:
        r = await ask(c, fetch)  # let through; the fetch is then refused by SIAMESE_HTTP_ALLOW
        assert r.status_code == 200 and r.json()["solutions"] == []
        r = await ask(c, "member_of(?u, eng), department(?u, ?d)")
        assert r.json()["solutions"][0]["bindings"] == {"?u": "alice", "?d": "eng"}


# --- answers ----------------------------------------------------------------------------------


async def test_solutions_with_proofs(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as c:
        r = await ask(c, "member_of(alice, ?g), ?g != eng")
        assert r.status_code == 200, r.text
        answer = r.json()
        assert len(answer["revision"]) == 12 and answer["truncated"] is False
        staff = answer["solutions"][0]
        assert staff["bindings"] == {"?g": "staff"}
        proof = staff["proof"]
        assert proof[0] == {
            "goal": "member_of(alice, staff)",
            "kind": "rule",
            "rule": "nested",
            "location": "p.rules:11",
            "children": [
                {
                    "goal": "member_of(alice, eng)",
                    "kind": "rule",
                    "rule": "direct",
                    "location": "p.rules:9",
                    "children": [
                        {"goal": "in_group(alice, eng)", "kind": "fact", "location": "p.rules:1"}
                    ],
                },
                {"goal": "sub_group(eng, staff)", "kind": "fact", "location": "p.rules:3"},
            ],
        }
        assert proof[1] == {"goal": "neq(staff, eng)", "kind": "builtin"}
        r = await ask(c, "member_of(alice, ?g)", explain=False)
        assert r.json()["solutions"] == [
            {"bindings": {"?g": g}} for g in ("eng", "staff", "all_hands")
        ]
        r = await ask(c, "allow(bob, read, doc1)")  # a ground goal: one empty binding set
        assert [s["bindings"] for s in r.json()["solutions"]] == [{}]
        assert r.json()["solutions"][0]["proof"][0]["rule"] == "staff-read"
        r = await ask(c, "allow(carol, read, doc1)")
        assert r.status_code == 200 and r.json()["solutions"] == []


async def test_input_limit_and_duplicates(tmp_path: Path) -> None:
    async with admin_client(tmp_path) as c:
        r = await ask(c, 'input("subject.id", ?u), member_of(?u, ?g)',
                      input={"subject": {"id": "bob"}})
        assert values(r, "?g") == ["sales", "staff", "all_hands"]
        assert values(await ask(c, 'input("subject.id", ?u)'), "?u") == []  # no input
        r = await ask(c, "member_of(?u, ?g)", limit=2, explain=False)
        assert len(r.json()["solutions"]) == 2 and r.json()["truncated"] is True
        r = await ask(c, "member_of(?u, ?g)", limit=6, explain=False)
        assert len(r.json()["solutions"]) == 6 and r.json()["truncated"] is False
        # two proofs of the same answer are one solution (as siamese query prints them)
        r = await ask(c, "?x in [a, b, a, b]", explain=False)
        assert values(r, "?x") == ["a", "b"]
        r = await ask(c, "member_of(alice, _)", explain=False)  # '_' is not reported
        assert r.json()["solutions"] == [{"bindings": {}}]


async def test_deep_proofs_are_cut_not_crashed(tmp_path: Path) -> None:
    async with admin_client(tmp_path, policy=CHAIN) as c:
        r = await ask(c, "anc(n1, n150)")
        assert r.status_code == 200 and len(r.json()["solutions"]) == 1
        node, depth = r.json()["solutions"][0]["proof"][0], 0
        while "children" in node:
            node, depth = node["children"][-1], depth + 1
        assert depth == 100 and node["truncated"] is True


# --- refusals, never a 500 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "limit"),
    [
        ({"SIAMESE_MAX_STEPS": "5000"}, "max_steps"),
        ({"SIAMESE_MAX_SOLUTIONS": "50", "SIAMESE_MAX_STEPS": "100000000"}, "max_solutions"),
        ({"SIAMESE_TIMEOUT_MS": "30", "SIAMESE_MAX_STEPS": "1000000000",
          "SIAMESE_MAX_SOLUTIONS": "1000000000"}, "timeout"),
    ],
)
async def test_a_runaway_query_is_stopped_by_a_limit(
    tmp_path: Path, env: dict[str, str], limit: str
) -> None:
    async with admin_client(tmp_path, **env) as c:
        r = await ask(c, "nat(?n)", limit=1)
        assert r.status_code == 422
        message = r.json()["error"]["message"]
        assert message.startswith(f"query stopped: limit exceeded ({limit}")
        assert (await ask(c, "member_of(bob, sales)")).status_code == 200  # still serving


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover - not Linux


async def test_the_bounds_on_values_and_patterns_hold_for_queries(tmp_path: Path) -> None:
    """The query endpoint reaches every built-in, whatever SIAMESE_QUERY_ALLOW names (the
    engine's own built-ins are always allowed): a regex bomb took the server to 16 GB."""
    policy = POLICY + (
        "dbl(?s, ?s).\ndbl(?s, ?r) :- concat(?s, ?s, ?t), dbl(?t, ?r).\n"
        "sq(?x, ?x).\nsq(?x, ?r) :- ?y is ?x * ?x, sq(?y, ?r).\n"
    )
    async with admin_client(tmp_path, policy=policy, SIAMESE_QUERY_ALLOW="member_of") as c:
        before = _rss_mb()
        for n in range(20):  # as many distinct bombs: none is compiled, none is kept
            r = await ask(c, f'regex("a{{{10**9 + n}}}", "a")')
            assert r.status_code == 422, r.text
            message = r.json()["error"]["message"]
            assert message.startswith("query failed: regex: pattern 'a{1000000")
            assert "too large" in message
        r = await ask(c, 'regex("(?:(?:a{100}){100}){100}", "a")')
        assert r.status_code == 422 and "too large" in r.text
        assert _rss_mb() - before < 200  # a generous safety bound, not a measure
        r = await ask(c, 'regex("^v[0-9]+$", "v12")')
        assert r.status_code == 200 and len(r.json()["solutions"]) == 1
    async with admin_client(tmp_path, policy=policy) as c:
        r = await ask(c, "dbl(a, ?r), ?r == b")
        assert r.status_code == 422
        assert r.json()["error"]["message"].startswith(
            "query stopped: limit exceeded (max_string_chars: 1000000)")
        r = await ask(c, "sq(3, ?r), ?r == 0")
        assert r.status_code == 422
        assert r.json()["error"]["message"].startswith(
            "query stopped: limit exceeded (max_int_bits: 4096)")
        assert (await ask(c, "member_of(bob, sales)")).status_code == 200  # still serving


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"query": "member_of(alice, ("}, 400,
         "<query>:1:19: expected a term but found end of input"),
        ({"query": "member_of(alice ?g)"}, 400, "<query>:1:17:"),
        ({"query": "(" * 300 + "nat(0)" + ")" * 300}, 400, "<query>"),
        ({"query": "nope(?x)"}, 400, "<query>:1:1: unknown predicate nope/1"),
        ({"query": "member_of(?x)"}, 400, "<query>:1:1: unknown predicate member_of/1"),
        ({"query": "member_of(alice, ?g), not time_between(x)"}, 400,
         "<query>:1:27: built-in 'time_between' takes 2 arguments, not 1"),
        ({"query": "?x is foo + 1"}, 422, "query failed: "),
        ({"query": "?x in ?list"}, 422, "query failed: member: list is unbound"),
        ({"query": ""}, 400, "'query' must be a non-empty string"),
        ({"query": ["nat(0)"]}, 400, "'query' must be a non-empty string"),
        ({"goal": "nat(0)"}, 400, "'query' must be a non-empty string"),
        ({"query": "nat(0)", "input": [1]}, 400, "'input' must be an object"),
        ({"query": "nat(0)", "limit": 0}, 400, "'limit' must be an integer from 1 to 1000"),
        ({"query": "nat(0)", "limit": True}, 400, "'limit' must be an integer"),
        ({"query": "nat(0)", "limit": 1001}, 400, "'limit' must be an integer"),
        ({"query": "nat(0)", "explain": "yes"}, 400, "'explain' must be true or false"),
        ([], 400, "request body must be a JSON object"),
    ],
)
async def test_bad_queries_are_4xx(
    tmp_path: Path, payload: Any, status: int, message: str
) -> None:
    async with admin_client(tmp_path) as c:
        r = await c.post("/v1/query", json=payload)
        assert r.status_code == status, r.text
        assert r.json()["error"]["message"].startswith(message), r.json()


async def test_bodies_are_bounded(tmp_path: Path) -> None:
    async with admin_client(tmp_path, SIAMESE_MAX_BODY_BYTES="100",
                            SIAMESE_MAX_JSON_DEPTH="5") as c:
        r = await ask(c, "nat(0), " * 20 + "nat(0)")
        assert r.status_code == 413
        r = await ask(c, "nat(0)", input={"a": {"b": {"c": {"d": {"e": 1}}}}})
        assert r.status_code == 400 and "nest" in r.json()["error"]["message"]
        r = await c.post("/v1/query", content=b"{nope")
        assert r.status_code == 400


async def test_refusals_are_counted(tmp_path: Path) -> None:
    async with admin_client(tmp_path, key=None) as c:
        await ask(c, "nat(0)")
        metrics = (await c.get("/metrics")).text
        assert 'siamese_request_errors_total{endpoint="query",status="401"} 1.0' in metrics
