"""Answers no well-behaved Siamese server gives, from fake servers: each is a deny with the
error attached (or the error raised, with ``raise_errors``), and never an allow. The trace
headers as a server receives them."""

from __future__ import annotations

import pytest

from siamese.client import (
    AuthenticationError,
    Client,
    ClientError,
    ConnectionFailed,
    MalformedAnswer,
    RequestRejected,
    ServerError,
    Timeout,
)

from .conftest import Both
from .fakes import CLOSE, Answer, allow, closed_port, fake, json_answer, silent

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ARGS = ("alice", "read", "runbook")

MALFORMED = {
    "a string true": json_answer({"decision": "true"}),
    "the number 1": json_answer({"decision": 1}),
    "null": json_answer({"decision": None}),
    "no decision": json_answer({"context": {"reason_user": "allowed"}}),
    "an array": json_answer([{"decision": True}]),
    "a bare true": json_answer(True),
    "an HTML page": Answer(200, b"<html><body>decision: true</body></html>", {},
                           "text/html"),
    "an empty 200": Answer(200, b""),
    "a truncated object": Answer(200, b'{"decision": true'),
    "a context that is not an object": json_answer({"decision": True, "context": []}),
    "an allow with an error": json_answer({"decision": True, "context": {
        "error": {"status": 500, "message": "x"}}}),
    "a reason that is not a string": json_answer({"decision": True, "context": {
        "reason_user": 5}}),
    "a revision that is not a string": json_answer({"decision": True, "context": {
        "revision": 7}}),
    "duplicate keys, true last": Answer(200, b'{"decision": false, "decision": "true"}'),
    "NaN": Answer(200, b'{"decision": true, "context": {"x": NaN}}'),
    "a redirect": Answer(302, b"", {"Location": "/elsewhere"}),
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_a_deny_with_the_error(both: Both, answer: Answer) -> None:
    with fake(answer) as server:
        d = both(server.url, "decide", *ARGS)
        assert d.decision is False and not d.allowed
        assert isinstance(d.error, MalformedAnswer), d.error
        assert d.reason.startswith("denied: no decision: ")
        with pytest.raises(MalformedAnswer):
            both(server.url, "decide", *ARGS, raise_errors=True)


@pytest.mark.parametrize("status, error", [
    (400, RequestRejected), (401, AuthenticationError), (403, AuthenticationError),
    (413, RequestRejected), (429, RequestRejected), (500, ServerError), (502, ServerError),
    (503, ServerError),
])
def test_an_error_status_is_a_deny_and_is_not_retried(
    both: Both, status: int, error: type[ClientError]
) -> None:
    body = {"error": {"status": status, "message": "nope"}, "decision": True}
    with fake(json_answer(body, status, **{"Retry-After": "1"} if status == 429 else {}),
              then=allow()) as server:
        waits: list[float] = []
        d = both(server.url, "decide", *ARGS, options={"sleep": waits.append})
        assert d.decision is False and type(d.error) is error
        assert d.error.status == status and d.error.message == f"HTTP {status}: nope"
        assert waits == [] and len(server.seen) == 1


def test_a_503_with_retry_after_is_retried_after_that_wait(both: Both) -> None:
    unready = json_answer({"error": {"status": 503, "message": "no policy set is loaded"}},
                          503, **{"Retry-After": "1"})
    with fake(unready, unready, allow()) as server:
        waits: list[float] = []
        d = both(server.url, "decide", *ARGS, options={"sleep": waits.append})
        assert d.decision is True and waits == [1.0, 1.0]
        # the same request each time, with the same request id
        assert len({(s.body, s.headers["x-request-id"]) for s in server.seen}) == 1
    with fake(unready, then=allow()) as server:  # no retries left: the 503 stands
        d = both(server.url, "decide", *ARGS, options={"sleep": waits.append, "retries": 0})
        assert isinstance(d.error, ServerError) and len(server.seen) == 1
    too_long = json_answer({}, 503, **{"Retry-After": "3600"})
    date = json_answer({}, 503, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    for answer in (too_long, date):
        with fake(answer, then=allow()) as server:
            waits.clear()
            d = both(server.url, "decide", *ARGS, options={"sleep": waits.append})
            assert isinstance(d.error, ServerError) and waits == [] and len(server.seen) == 1


def test_a_connection_closed_before_any_answer_is_retried(both: Both) -> None:
    with fake(CLOSE, CLOSE, allow()) as server:
        waits: list[float] = []
        d = both(server.url, "decide", *ARGS,
                 options={"sleep": waits.append, "backoff": 0.1, "random": lambda: 1.0})
        assert d.decision is True and d.error is None
        assert waits == [0.1, 0.2]  # doubling, jitter at its top
    with fake(CLOSE) as server:  # every time: a deny after the retries
        waits = []
        d = both(server.url, "decide", *ARGS,
                 options={"sleep": waits.append, "retries": 2, "random": lambda: 0.0,
                          "backoff": 1.0, "max_backoff": 1.5})
        assert isinstance(d.error, ConnectionFailed) and d.decision is False
        assert waits == [0.5, 0.75] and len(server.seen) == 3


def test_a_server_that_never_answers_times_out_without_retrying(both: Both) -> None:
    with silent() as url:
        waits: list[float] = []
        d = both(url, "decide", *ARGS, options={"read_timeout": 0.2, "sleep": waits.append})
        assert d.decision is False and isinstance(d.error, Timeout) and waits == []
        with pytest.raises(Timeout):
            both(url, "decide", *ARGS, options={"read_timeout": 0.2}, raise_errors=True)


def test_an_unreachable_server_is_a_deny_after_the_retries(both: Both) -> None:
    url = closed_port()
    waits: list[float] = []
    d = both(url, "decide", *ARGS, options={"sleep": waits.append, "retries": 3})
    assert d.decision is False and isinstance(d.error, ConnectionFailed) and len(waits) == 3
    assert d.revision is None and d.decision_id is None and d.request_id
    with pytest.raises(ConnectionFailed):
        both(url, "decide", *ARGS, options={"sleep": waits.append, "raise_errors": True})
    assert both(url, "allowed", *ARGS, options={"retries": 0}) is False
    # the other endpoints fail closed too
    page = both(url, "search_subjects", "read", "runbook", options={"retries": 0})
    assert page.results == () and page.next_token == "" and page.error is not None
    plan = both(url, "plan", "alice", "read", "document", options={"retries": 0})
    assert plan.kind == "KIND_ALWAYS_DENIED" and plan.condition is None and plan.error
    for semantic, n in (("execute_all", 3), ("deny_on_first_deny", 1),
                        ("permit_on_first_permit", 3)):
        ds = both(url, "evaluations", [{}, {}, {}], subject="a", action="b", resource="c",
                  semantic=semantic, options={"retries": 0})
        assert len(ds) == n and not any(d.decision for d in ds)
        assert all(isinstance(d.error, ConnectionFailed) for d in ds)


def test_trace_headers_reach_the_server(both: Both) -> None:
    with fake(allow()) as server:
        d = both(server.url, "decide", *ARGS, request_id="req-7", traceparent=TRACEPARENT)
        generated = both(server.url, "decide", *ARGS)
        first, second = server.seen
        assert first.headers["x-request-id"] == "req-7" == d.request_id
        assert first.headers["traceparent"] == TRACEPARENT
        assert second.headers["x-request-id"] == generated.request_id
        assert "traceparent" not in second.headers
        assert first.path == "/access/v1/evaluation"
    for bad in ("00-0000-00", TRACEPARENT.upper(), "ff" + TRACEPARENT[2:],
                "00-" + "0" * 32 + TRACEPARENT[35:], TRACEPARENT + "\r\nX-Evil: 1"):
        with pytest.raises(ValueError, match="traceparent"):
            both(closed_port(), "decide", *ARGS, traceparent=bad)
    for bad in ("", "a b", "x" * 201, "é", "id\nX-Evil: 1"):
        with pytest.raises(ValueError, match="request_id"):
            both(closed_port(), "decide", *ARGS, request_id=bad)


def test_batch_answers_that_do_not_fit_the_semantic_are_malformed(both: Both) -> None:
    yes = {"decision": True}
    no = {"decision": False}
    cases = [
        ("execute_all", [yes, yes]),  # 2 answers for 3 items
        ("execute_all", [yes, yes, yes, yes]),
        ("deny_on_first_deny", [no, yes]),  # went on after a deny
        ("deny_on_first_deny", [yes]),  # stopped before a deny
        ("permit_on_first_permit", [yes, no]),
        ("permit_on_first_permit", []),
    ]
    for semantic, answered in cases:
        with fake(json_answer({"evaluations": answered})) as server:
            ds = both(server.url, "evaluations", [{}, {}, {}], subject="a", action="b",
                      resource="c", semantic=semantic)
            assert not any(d.decision for d in ds), (semantic, answered)
            assert all(isinstance(d.error, MalformedAnswer) for d in ds)
    with fake(json_answer({"evaluations": [yes, {"decision": "true"}, yes]})) as server:
        ds = both(server.url, "evaluations", [{}, {}, {}], subject="a", action="b",
                  resource="c")
        assert [d.decision for d in ds] == [False] * 3


def test_search_and_plan_answers_are_checked(both: Both) -> None:
    for answer in ({"results": [{"type": "user"}]}, {"results": {}}, {"results": [],
                   "page": {"next_token": 5}}, {"results": ["alice"]}):
        with fake(json_answer(answer)) as server:
            page = both(server.url, "search_subjects", "read", "runbook")
            assert page.results == () and isinstance(page.error, MalformedAnswer)
    for answer in ({"filter": {"kind": "KIND_ALWAYS_ALLOWED", "condition": {}}},
                   {"filter": {"kind": "KIND_CONDITIONAL"}}, {"filter": {"kind": "ALLOW"}},
                   {"filter": "KIND_ALWAYS_ALLOWED"}, {}):
        with fake(json_answer(answer)) as server:
            plan = both(server.url, "plan", "alice", "read", "document")
            assert plan.kind == "KIND_ALWAYS_DENIED" and isinstance(plan.error,
                                                                     MalformedAnswer)
    with fake(json_answer({"filter": {"kind": "KIND_ALWAYS_ALLOWED"}, "revision": "r",
                           "plan_id": "p", "explanation": []})) as server:
        plan = both(server.url, "plan", "alice", "read", "document")
        assert plan.kind == "KIND_ALWAYS_ALLOWED" and plan.error is None


def test_an_answer_over_the_size_cap_is_malformed(both: Both) -> None:
    big = json_answer({"decision": True, "context": {"reason_admin": "x" * 10_000}})
    with fake(big) as server:
        d = both(server.url, "decide", *ARGS, options={"max_answer_bytes": 1000})
        assert d.decision is False and isinstance(d.error, MalformedAnswer)
        assert both(server.url, "decide", *ARGS).decision is True


def test_a_decision_with_an_error_cannot_be_an_allow() -> None:
    from siamese.client import Decision, Plan

    with pytest.raises(ValueError):
        Decision(True, error=Timeout("x"))
    with pytest.raises(ValueError):
        Plan("KIND_ALWAYS_ALLOWED", error=Timeout("x"))


def test_client_options_are_checked() -> None:
    with pytest.raises(ValueError, match="not both"):
        Client("http://127.0.0.1:1", api_key="k", bearer_token="t")
    with pytest.raises(ValueError, match="line breaks"):
        Client("http://127.0.0.1:1", api_key="k\r\nX-Evil: 1")
    with pytest.raises(ValueError, match="negative"):
        Client("http://127.0.0.1:1", retries=-1)
