"""Bad input: each a 4xx JSON error naming the problem, never an allow, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siamese.server.limits import json_depth, parse_json
from siamese.server.responses import ApiError

from .conftest import Harness, body, build

DECISION_PATHS = ("/access/v1/evaluation", "/access/v1/evaluations", "/access/v1/search/resource")


@pytest.mark.parametrize("path", DECISION_PATHS)
@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b'{"subject": ', 400, "malformed JSON: "),
        (b"{'single': 'quotes'}", 400, "malformed JSON: "),
        (b"", 400, "request body is empty: expected a JSON object"),
        (b"   ", 400, "request body is empty: expected a JSON object"),
        (b"\xff\xfe", 400, "malformed JSON: "),
        (b"[" * 65 + b"]" * 65, 400, "JSON nesting is deeper than 64 levels"),
        (b"[" * 5000 + b"]" * 5000, 400, "JSON nesting is deeper than 64 levels"),
        (b'{"a": ' * 100 + b"1" + b"}" * 100, 400, "JSON nesting is deeper than 64 levels"),
        (b"42", 400, ""),
        (b'"alice"', 400, ""),
    ],
)
async def test_malformed_bodies(
    client: httpx.AsyncClient, path: str, content: bytes, status: int, message: str
) -> None:
    r = await client.post(path, content=content, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.json()["error"]["status"] == status
    assert r.json()["error"]["message"].startswith(message)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("subject"), "missing 'subject'"),
        (lambda b: b.pop("action"), "missing 'action'"),
        (lambda b: b.pop("resource"), "missing 'resource'"),
        (lambda b: b["subject"].pop("id"), "missing 'subject.id'"),
        (lambda b: b["subject"].pop("type"), "missing 'subject.type'"),
        (lambda b: b["action"].pop("name"), "missing 'action.name'"),
        (lambda b: b["resource"].pop("type"), "missing 'resource.type'"),
        (lambda b: b.update(subject="alice"), "'subject' must be an object"),
        (lambda b: b["subject"].update(id=7), "'subject.id' must be a string"),
        (lambda b: b["subject"].update(id=["alice"]), "'subject.id' must be a string"),
        (lambda b: b["action"].update(name=True), "'action.name' must be a string"),
        (lambda b: b["resource"].update(type=1), "'resource.type' must be a string"),
        (lambda b: b["resource"].update(properties=[]), "'resource.properties' must be an object"),
        (lambda b: b.update(context="x"), "'context' must be an object"),
        (lambda b: b["subject"].update(id=""), "'subject.id' must be 1 to 1024 characters"),
        (lambda b: b["subject"].update(id="x" * 1025), "'subject.id' must be 1 to 1024 characters"),
    ],
)
async def test_missing_fields_and_wrong_types_name_the_field(
    client: httpx.AsyncClient, harness: Harness, mutate: Any, message: str
) -> None:
    b = body("alice")
    mutate(b)
    r = await client.post("/access/v1/evaluation", json=b)
    assert r.status_code == 400
    assert r.json() == {"error": {"status": 400, "message": message}}
    assert not harness.audited


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    h = build(tmp_path, max_body_bytes=1000, max_json_depth=8)
    async with h.client() as c:
        yield c


async def test_an_oversized_body_is_413_from_its_content_length(small: httpx.AsyncClient) -> None:
    big = body(context={"pad": "x" * 2000})
    r = await small.post("/access/v1/evaluation", json=big)
    assert r.status_code == 413
    assert r.json() == {
        "error": {"status": 413, "message": "request body is larger than 1000 bytes"}
    }


async def test_an_oversized_streamed_body_is_413_while_counting(small: httpx.AsyncClient) -> None:
    sent = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b" " * 100

    r = await small.post("/access/v1/evaluation", content=chunks())  # chunked: no Content-Length
    assert r.status_code == 413


async def test_a_lying_content_length_is_refused(small: httpx.AsyncClient) -> None:
    r = await small.post("/access/v1/evaluation", content=b"{}", headers={"content-length": "abc"})
    assert r.status_code == 400


async def test_the_configured_depth(small: httpx.AsyncClient) -> None:
    ok = body(context={"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}})  # 8 objects with the body
    assert (await small.post("/access/v1/evaluation", json=ok)).status_code == 200
    deep = body(context={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}})  # 9
    r = await small.post("/access/v1/evaluation", json=deep)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "JSON nesting is deeper than 8 levels"


def test_json_depth() -> None:
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert parse_json(b'{"a": "[[[[[[[[[[[[[[["}', 3) == {
        "a": "[[[[[[[[[[[[[[["
    }  # brackets in strings
    with pytest.raises(ApiError):
        parse_json(b"[[[[]]]]", 3)


@pytest.mark.parametrize("path", ["/v1/forward-auth", "/access/v1/evaluation"])
async def test_no_input_is_ever_a_500_or_an_allow(client: httpx.AsyncClient, path: str) -> None:
    nasty: list[Any] = [
        None,
        [],
        {},
        {"subject": None},
        {"subject": {"id": {"$ne": 1}}},
        body("alice", context={"a": [1] * 1000}),
        "\u0000",
        1e308,
        {"evaluations": None},
    ]
    for value in nasty:
        r = await client.post(path, json=value)
        assert r.status_code < 500, (value, r.text)
        if r.status_code == 200 and path.startswith("/access"):
            assert value == nasty[5]  # the one valid request


async def test_unknown_routes_and_methods_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": {"status": 404, "message": "Not Found"}}
    r = await client.get("/access/v1/evaluation")
    assert r.status_code == 405 and r.json()["error"]["status"] == 405
    assert "POST" in r.headers["allow"]
