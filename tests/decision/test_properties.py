"""Properties of the decision layer: the cache never changes a decision, and the request
decoder turns any JSON into a request or a clean 400, never anything else."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.models import Request, RequestError
from siamese.decision.service import DecisionService

from .conftest import policy

POLICY = policy("""
allow(?u, read, ?r) :- input("context.level", ?l), ?l >= 2.
allow(?u, ?a, ?r) :- owner(?r, ?u).
deny(?u, ?a, ?r) :- input("subject.properties.banned", true).
owner(d1, alice). owner(d2, bob).
""")

requests = st.builds(
    lambda s, a, r, level, banned: Request.simple(
        s, a, r, context={} if level is None else {"level": level},
    ) if banned is None else Request.from_authzen({
        "subject": {"type": "user", "id": s, "properties": {"banned": banned}},
        "action": {"name": a}, "resource": {"type": "doc", "id": r},
        "context": {} if level is None else {"level": level}}),
    st.sampled_from(["alice", "bob", "carol"]), st.sampled_from(["read", "write"]),
    st.sampled_from(["d1", "d2", "d3"]), st.one_of(st.none(), st.integers(0, 3)),
    st.one_of(st.none(), st.booleans()),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(requests, min_size=1, max_size=30), st.integers(1, 8))
def test_the_cache_never_changes_a_decision(reqs: list[Request], size: int) -> None:
    async def run() -> None:
        now = [0.0]
        cached = DecisionService(lambda: POLICY, Authorizer(),
                                 DecisionCache(size, 5.0, timer=lambda: now[0]))
        plain = DecisionService(lambda: POLICY, Authorizer(), None)
        for i, r in enumerate(reqs):
            now[0] = i * 0.7  # some entries expire along the way
            assert (await cached.decide(r)).allowed == (await plain.decide(r)).allowed

    asyncio.run(run())


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["subject", "action", "resource", "context", "type", "id",
                                 "name", "properties", "x"]), inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_the_request_decoder_accepts_or_refuses_cleanly(body: Any) -> None:
    try:
        req = Request.from_authzen(body)
    except RequestError as e:
        assert e.status == 400 and e.message
    else:
        assert isinstance(req.subject, str) and req.subject
        assert isinstance(req.action, str) and isinstance(req.resource, str)


_VALUE = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just("x" * 1024),
                   st.just("x" * 1025), st.just(""), st.lists(st.integers(), max_size=1),
                   st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@settings(max_examples=600, deadline=None)
@given(data=st.data(), types=st.booleans())
def test_the_quick_check_of_a_request_accepts_what_the_full_checks_accept(
    data: st.DataObject, types: bool
) -> None:
    """``from_authzen`` checks the common case in one go and names a problem the slow way:
    both must accept exactly the same bodies. A valid body with a few of its fields
    changed (or removed, or the whole part replaced) at random."""
    from siamese.decision.models import _entity, _well_formed

    parts: dict[str, Any] = {
        "subject": {"type": "user", "id": "alice", "properties": {"a": 1}},
        "action": {"name": "read"},
        "resource": {"type": "doc", "id": "d1"},
    }
    for _ in range(data.draw(st.integers(0, 3))):
        part = data.draw(st.sampled_from(["subject", "action", "resource", "context"]))
        if part == "context" or (data.draw(st.booleans()) and data.draw(st.booleans())):
            parts[part] = data.draw(_VALUE)
            continue
        field = data.draw(st.sampled_from(["id", "name", "type", "properties"]))
        if isinstance(parts[part], dict):
            if data.draw(st.booleans()):
                parts[part][field] = data.draw(_VALUE)
            else:
                parts[part].pop(field, None)
    subject, action, resource = parts["subject"], parts["action"], parts["resource"]
    context = parts.get("context")

    def full_checks() -> bool:
        try:
            _entity(subject, "subject", "id")
            _entity(action, "action", "name")
            _entity(resource, "resource", "id")
        except RequestError:
            return False
        if types and (subject.get("type") is None or resource.get("type") is None):
            return False
        return context is None or isinstance(context, dict)

    assert _well_formed(subject, action, resource, context, types) == full_checks()
    try:
        Request.from_authzen(parts, require_types=types)
        accepted = True
    except RequestError:
        accepted = False
    assert accepted == full_checks()
