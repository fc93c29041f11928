"""Decisions that consult a web API: allowed on good data; denied, explained and never
cached when the fetch fails; one pooled connection across decisions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.models import Request
from siamese.decision.service import DecisionService
from siamese.engine import Limits
from siamese.pip import HttpData
from siamese.policy.loader import PolicySet

from .conftest import Clock, owners_policy, write_policy
from .upstream import Server


def setup(tmp_path: Path, upstream: Server, http: HttpData) -> PolicySet:
    upstream.json("/docs/plan", {"owners": ["alice", "bob"]})
    return write_policy(tmp_path, owners_policy(upstream.base), http.builtins())


def cached_service(policy: PolicySet, clock: Clock) -> DecisionService:
    return DecisionService(lambda: policy, Authorizer(), DecisionCache(100, 60.0, timer=clock))


async def test_allowed_on_fetched_data(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    http = make_http([upstream.url("/docs/")])
    policy = setup(tmp_path, upstream, http)
    auth = Authorizer()
    allowed = await auth.evaluate(policy, Request.simple("bob", "read", "plan"))
    assert allowed.allowed and allowed.rule_ids == ("owner-reads",)
    assert "notes" not in allowed.explanation
    denied = await auth.evaluate(policy, Request.simple("carol", "read", "plan"))
    assert not denied.allowed and "notes" not in denied.explanation
    assert upstream.hits["/docs/plan"] == 1  # the second decision read the data cache


@pytest.mark.parametrize(
    ("allow", "status", "cause"),
    [
        (["/docs/"], 503, "failed: HTTP 503"),
        (["/docs/"], 404, "failed: HTTP 404"),
        (["/other/"], 200, "refused: not in SIAMESE_HTTP_ALLOW"),
        ([], 200, "refused: external data is off (SIAMESE_HTTP_ALLOW is empty)"),
    ],
)
async def test_a_failed_fetch_denies_explains_and_is_not_cached(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData], clock: Clock,
    allow: list[str], status: int, cause: str,
) -> None:
    # the data cache off and decisions cacheable: only the failure keeps them out
    http = make_http([upstream.url(p) for p in allow], volatile=False)
    policy = setup(tmp_path, upstream, http)
    upstream.json("/docs/plan", {"owners": ["alice"]}, status=status)
    svc = cached_service(policy, clock)
    for n in range(1, 3):
        d = await svc.decide(Request.simple("alice", "read", "plan"))
        assert not d.allowed and not d.cached
        assert d.reason == "no rule allows alice to read plan"
        assert d.explanation["notes"] == [
            f"http_get_json: {upstream.url('/docs/plan')} {cause}"
        ]
        # the why-not names the fetch, found in the same pass as the deny: no second fetch
        [why] = d.explanation["why_not"]
        assert why["failed_goal"].startswith(f'http_get_json("{upstream.url("/docs/plan")}"')
        assert upstream.hits["/docs/plan"] == (n if allow == ["/docs/"] else 0)
    assert svc.cache is not None and svc.cache.size == 0
    # the upstream recovers: the very next decision allows, and that one is cached
    upstream.json("/docs/plan", {"owners": ["alice"]})
    if allow == ["/docs/"]:
        assert (await svc.decide(Request.simple("alice", "read", "plan"))).allowed
        assert (await svc.decide(Request.simple("alice", "read", "plan"))).cached


async def test_a_timed_out_fetch_is_named_in_the_explanation(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    http = make_http([upstream.url("/gate")], timeout=0.05)
    text = f'allow(?u, ?a, ?r) :- http_get_json("{upstream.url("/gate")}", ?j).'
    policy = write_policy(tmp_path, text, http.builtins())
    svc = DecisionService(lambda: policy, Authorizer(explain_denials=False),
                          DecisionCache(100, 60.0, timer=clock))
    d = await svc.decide(Request.simple("alice", "read", "plan"))
    assert not d.allowed
    assert d.explanation["notes"] == [
        f"http_get_json: {upstream.url('/gate')} failed: timed out after 0.05 s"
    ]
    assert svc.cache is not None and svc.cache.size == 0


async def test_an_open_circuit_fails_at_once_and_says_so(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    http = make_http([upstream.url("/docs/")], breaker_failures=1)
    policy = setup(tmp_path, upstream, http)
    upstream.json("/docs/plan", {}, status=502)
    auth = Authorizer(explain_denials=False)
    await auth.evaluate(policy, Request.simple("alice", "read", "plan"))
    d = await auth.evaluate(policy, Request.simple("alice", "read", "plan"))
    assert d.explanation["notes"] == [
        f"http_get_json: {upstream.url('/docs/plan')} failed: circuit open for "
        f"{upstream.base} after 1 consecutive failures"
    ]
    assert upstream.hits["/docs/plan"] == 1


async def test_a_deny_rule_that_cannot_fetch_does_not_turn_into_an_allow(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    # a deny rule that needs data it cannot get does not fire: the allow stands, but the
    # decision says so and is not cached. Policies that must fail closed write the
    # condition positively (allow only when the data says so), as owners_policy does.
    http = make_http([upstream.url("/blocklist")], volatile=False)
    upstream.json("/blocklist", {}, status=500)
    text = (f'allow(?u, read, ?r).\n'
            f'deny(?u, ?a, ?r) :- http_get_json("{upstream.url("/blocklist")}", ?b), '
            f'json_path(?b, "users", ?us), ?u in ?us.')
    policy = write_policy(tmp_path, text, http.builtins())
    outcome = await Authorizer().evaluate(policy, Request.simple("alice", "read", "x"))
    assert outcome.allowed and not outcome.cacheable
    assert outcome.explanation["notes"][0].endswith("failed: HTTP 500")


async def test_a_deny_rule_can_fail_closed(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    # the pattern the README recommends: deny when the data cannot be read
    http = make_http([upstream.url("/blocklist")])
    text = (f'allow(?u, read, ?r).\n'
            f'blocklist(?b) :- http_get_json("{upstream.url("/blocklist")}", ?b).\n'
            f'@id("blocklist-unavailable")\n'
            f'deny(?u, ?a, ?r) :- not blocklist(_).\n'
            f'@id("blocklisted")\n'
            f'deny(?u, ?a, ?r) :- blocklist(?b), json_path(?b, "users", ?us), ?u in ?us.\n')
    policy = write_policy(tmp_path, text, http.builtins())
    auth = Authorizer()
    upstream.json("/blocklist", {}, status=500)
    down = await auth.evaluate(policy, Request.simple("alice", "read", "x"))
    assert not down.allowed and down.rule_ids[0] == "blocklist-unavailable"
    assert not down.cacheable and down.explanation["notes"][0].endswith("failed: HTTP 500")
    upstream.json("/blocklist", {"users": ["mallory"]})
    assert (await auth.evaluate(policy, Request.simple("alice", "read", "x"))).allowed
    blocked = await auth.evaluate(policy, Request.simple("mallory", "read", "x"))
    assert not blocked.allowed and blocked.rule_ids[0] == "blocklisted"


async def test_an_unbound_url_is_a_policy_error(
    tmp_path: Path, make_http: Callable[..., HttpData]
) -> None:
    http = make_http(["http://127.0.0.1:9/"])
    policy = write_policy(tmp_path, "allow(?u, ?a, ?r) :- http_get_json(?url, ?j).",
                          http.builtins())
    outcome = await Authorizer().evaluate(policy, Request.simple("alice", "read", "x"))
    assert not outcome.allowed and outcome.reason == "denied: policy evaluation failed"
    assert "http_get_json: the URL must be a string" in outcome.errors[0]


async def test_decisions_share_one_pooled_connection(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    http = make_http([upstream.url("/docs/")], cache_size=0)
    policy = setup(tmp_path, upstream, http)
    for i in range(8):
        upstream.json(f"/docs/d{i}", {"owners": ["alice"]})
    auth = Authorizer()
    for i in range(8):
        assert (await auth.evaluate(policy, Request.simple("alice", "read", f"d{i}"))).allowed
    assert http.fetches == 8
    assert upstream.connections == 1 and http.backend.connections == 1


async def test_fetched_data_keeps_decisions_out_of_the_decision_cache_by_default(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    http = make_http([upstream.url("/docs/")])
    svc = cached_service(setup(tmp_path, upstream, http), clock)
    for _ in range(3):
        d = await svc.decide(Request.simple("alice", "read", "plan"))
        assert d.allowed and not d.cached
    assert upstream.hits["/docs/plan"] == 1  # the data cache did the reuse


async def test_no_store_data_never_lives_on_in_a_cached_decision(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    http = make_http([upstream.url("/docs/")], volatile=False)
    policy = setup(tmp_path, upstream, http)
    upstream.json("/docs/plan", {"owners": ["alice"]}, headers={"Cache-Control": "no-store"})
    svc = cached_service(policy, clock)
    assert not (await svc.decide(Request.simple("alice", "read", "plan"))).cached
    assert not (await svc.decide(Request.simple("alice", "read", "plan"))).cached
    assert upstream.hits["/docs/plan"] == 2


async def test_the_decision_timeout_still_bounds_a_fetch(
    tmp_path: Path, upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    http = make_http([upstream.url("/gate")], timeout=5.0)
    text = f'allow(?u, ?a, ?r) :- http_get_json("{upstream.url("/gate")}", ?j).'
    policy = write_policy(tmp_path, text, http.builtins())
    auth = Authorizer(limits=Limits(timeout_ms=50))
    outcome = await auth.evaluate(policy, Request.simple("alice", "read", "x"))
    assert not outcome.allowed and outcome.limit == "timeout" and not outcome.cacheable
