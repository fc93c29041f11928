"""``GET /openapi.json`` states the limits the validators enforce: the request bodies' schemas
are made from siamese.server.schemas, each limit in them is the validators' constant, and
the app accepts a value at each limit and refuses one just past it. A limit added to the
document without a validator behind it (or the other way round) fails here."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from siamese.decision.models import MAX_ID_LENGTH
from siamese.server.gateway import MAX_METHOD_LENGTH
from siamese.server.openapi import openapi_document
from siamese.server.schemas import (
    DEFAULT_PAGE_LIMIT,
    DEFAULT_QUERY_LIMIT,
    MAX_EVALUATIONS,
    MAX_PAGE_LIMIT,
    MAX_QUERY_LIMIT,
    SEMANTICS,
)

from .conftest import POLICY, app_for, body, serving

ADMIN = "admin-key-0123456789"
DOC = openapi_document()
LIMITS = ("minLength", "maxLength", "minimum", "maximum", "maxItems")
Path_ = tuple[str | int, ...]  # a place in a JSON body: keys, and 0 for an array's first item


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return DOC["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]


def _limits(schema: dict[str, Any], at: Path_ = ()) -> Iterator[tuple[Path_, str, int]]:
    schema = _resolve(schema)
    for keyword in LIMITS:
        if keyword in schema:
            yield at, keyword, schema[keyword]
    for name, sub in schema.get("properties", {}).items():
        yield from _limits(sub, (*at, name))
    if "items" in schema:
        yield from _limits(schema["items"], (*at, 0))


def _body_limits() -> list[tuple[str, Path_, str, int]]:
    found = []
    for url, item in DOC["paths"].items():
        for op in item.values():
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                found += [(url, at, k, v) for at, k, v in _limits(schema)]
    return found


BODY_LIMITS = _body_limits()


def _expected(url: str, at: Path_, keyword: str) -> int:
    """The validators' constant for a limit of the document (KeyError: a limit with no
    validator known to stand behind it)."""
    leaf = at[-1]
    if leaf in ("id", "name"):  # an entity's id, an action's name
        return {"minLength": 1, "maxLength": MAX_ID_LENGTH}[keyword]
    table: dict[tuple[str, Path_, str], int] = {
        ("/access/v1/evaluations", ("evaluations",), "maxItems"): MAX_EVALUATIONS,
        ("/v1/query", ("query",), "minLength"): 1,
        ("/v1/query", ("limit",), "minimum"): 1,
        ("/v1/query", ("limit",), "maximum"): MAX_QUERY_LIMIT,
        ("/v1/plan/resources", ("resource", "type"), "minLength"): 1,
    }
    if at == ("page", "limit"):
        return {"minimum": 1, "maximum": MAX_PAGE_LIMIT}[keyword]
    return table[(url, at, keyword)]


def test_the_document_is_valid_openapi() -> None:
    validate(DOC)


def test_every_limit_of_the_document_is_a_validators_constant() -> None:
    for url, at, keyword, value in BODY_LIMITS:
        assert value == _expected(url, at, keyword), (url, at, keyword)
    stated = {(url, at, k) for url, at, k, _ in BODY_LIMITS}
    # and each constant is stated where its validator applies it
    for where in [
        ("/access/v1/evaluation", ("subject", "id"), "maxLength"),
        ("/access/v1/evaluation", ("action", "name"), "maxLength"),
        ("/access/v1/evaluation", ("resource", "id"), "maxLength"),
        ("/access/v1/evaluations", ("evaluations", 0, "resource", "id"), "maxLength"),
        ("/access/v1/evaluations", ("evaluations",), "maxItems"),
        ("/access/v1/search/subject", ("page", "limit"), "maximum"),
        ("/access/v1/search/resource", ("subject", "id"), "maxLength"),
        ("/access/v1/search/action", ("resource", "id"), "maxLength"),
        ("/v1/query", ("limit",), "maximum"),
        ("/v1/plan/resources", ("subject", "id"), "maxLength"),
    ]:
        assert where in stated, where


def test_defaults_and_enums_are_the_validators() -> None:
    schemas = DOC["components"]["schemas"]
    assert schemas["PageRequest"]["properties"]["limit"]["default"] == DEFAULT_PAGE_LIMIT
    assert schemas["QueryRequest"]["properties"]["limit"]["default"] == DEFAULT_QUERY_LIMIT
    options = schemas["EvaluationsRequest"]["properties"]["options"]["properties"]
    assert tuple(options["evaluations_semantic"]["enum"]) == SEMANTICS


def test_the_original_method_headers_state_the_gateways_limit() -> None:
    for item in DOC["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []):
                if param["name"] in ("X-Original-Method", "X-Forwarded-Method"):
                    assert param["schema"]["maxLength"] == MAX_METHOD_LENGTH


# --- the app at each limit, and just past it ------------------------------------------------

# query "x" is a goal the policy proves: the shortest query there is
_POLICY = POLICY + "x.\n"

_BASE: dict[str, dict[str, Any]] = {
    "/access/v1/evaluation": body(),
    "/access/v1/evaluations": body(),
    "/access/v1/search/subject": {
        "subject": {"type": "user"},
        "action": {"name": "read"},
        "resource": {"type": "document", "id": "doc1"},
    },
    "/access/v1/search/resource": {
        "subject": {"type": "user", "id": "alice"},
        "action": {"name": "read"},
        "resource": {"type": "document"},
    },
    "/access/v1/search/action": {"subject": {"id": "alice"}, "resource": {"id": "doc1"}},
    "/v1/query": {"query": "x"},
    "/v1/plan/resources": {
        "subject": {"type": "user", "id": "alice"},
        "action": {"name": "read"},
        "resource": {"type": "document"},
    },
}


def _at(base: dict[str, Any], at: Path_) -> dict[str, Any]:
    """A copy of ``base`` with every object on the way to ``at`` present."""
    out = copy.deepcopy(base)
    if at[0] == "evaluations":  # a batch: the limits of each item, or of their number
        out = {"evaluations": [copy.deepcopy(base)]}
    return out


def _put(data: Any, at: Path_, value: Any) -> None:
    for step in at[:-1]:
        data = data.setdefault(step, {}) if isinstance(step, str) else data[step]
    data[at[-1]] = value


def _value(keyword: str, n: int, current: Any) -> Any:
    if keyword in ("minLength", "maxLength"):
        return "x" * n
    if keyword == "maxItems":
        return [current[0]] * n
    return n


def _past(keyword: str, n: int) -> int:
    return n - 1 if keyword.startswith("min") else n + 1


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(tmp_path, _POLICY, SIAMESE_ADMIN_KEYS=ADMIN)
    async with serving(app, {"X-API-Key": ADMIN}) as c:
        yield c


def _refusal(response: httpx.Response, at: Path_) -> dict[str, Any]:
    """The error of a refused request: the body's, or the batch item's."""
    if at[:2] == ("evaluations", 0):  # an item is refused on its own, in a 200 answer
        assert response.status_code == 200, response.text
        return response.json()["evaluations"][0]["context"]["error"]  # type: ignore[no-any-return]
    assert response.status_code == 400, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("url", "at", "keyword", "limit"),
    BODY_LIMITS,
    ids=[f"{u}:{'.'.join(map(str, at))}:{k}" for u, at, k, _ in BODY_LIMITS],
)
async def test_the_app_accepts_each_limit_and_refuses_one_past_it(
    client: httpx.AsyncClient, url: str, at: Path_, keyword: str, limit: int
) -> None:
    base = _at(_BASE[url], at)
    current: Any = base
    if keyword == "maxItems":  # the array whose first item is repeated
        for step in at:
            current = current[step]

    accepted = copy.deepcopy(base)
    _put(accepted, at, _value(keyword, limit, current))
    r = await client.post(url, json=accepted)
    assert r.status_code == 200, r.text
    if at[0] == "evaluations":
        assert all("error" not in e["context"] for e in r.json()["evaluations"]), r.text

    refused = copy.deepcopy(base)
    _put(refused, at, _value(keyword, _past(keyword, limit), current))
    r = await client.post(url, json=refused)
    error = _refusal(r, at)
    assert error["status"] == 400
    names = [s for s in at if isinstance(s, str)]
    if at[:2] == ("evaluations", 0):
        names = names[1:]
    assert f"'{'.'.join(names)}'" in error["message"], error
    if keyword.startswith("max"):
        assert str(limit) in error["message"], error


@pytest.mark.parametrize("header", ["X-Original-Method", "X-Forwarded-Method"])
async def test_the_original_method_at_its_limit_and_past_it(
    client: httpx.AsyncClient, header: str
) -> None:
    uri = "X-Original-URI" if header.startswith("X-Original") else "X-Forwarded-Uri"
    r = await client.get("/v1/forward-auth", headers={header: "A" * MAX_METHOD_LENGTH, uri: "/x"})
    assert r.status_code == 401, r.text  # decided: anonymous, and no rule allows
    r = await client.get(
        "/v1/forward-auth", headers={header: "A" * (MAX_METHOD_LENGTH + 1), uri: "/x"}
    )
    assert r.status_code == 403, r.text
    assert r.json()["reason"].startswith("invalid original method"), r.text


def test_the_readme_states_the_same_limits() -> None:
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    for phrase in [
        f"are 1 to {MAX_ID_LENGTH} characters",
        f"At most {MAX_EVALUATIONS:,} items",
        f"(1 to {MAX_PAGE_LIMIT:,}; {DEFAULT_PAGE_LIMIT} by default)",
        f"optional: 1 to {MAX_QUERY_LIMIT}, {DEFAULT_QUERY_LIMIT} by default",
    ]:
        assert phrase in readme, phrase
