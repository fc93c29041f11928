"""The JSON bodies the API accepts, each shape declared once.

The validators take their limits from the constants here (and from
:mod:`siamese.decision.models`, for the ids the decision layer checks itself), and
``GET /openapi.json`` describes each request body with the JSON Schema a :class:`Shape`
makes: a limit that a validator enforces appears there as ``maxLength``, ``maxItems`` or
``maximum``, with the same number. tests/server/test_openapi.py sends each limit, and one
past it, to the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..decision.models import ID_KEYS, MAX_ID_LENGTH

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "DEFAULT_QUERY_LIMIT",
    "MAX_EVALUATIONS",
    "MAX_PAGE_LIMIT",
    "MAX_QUERY_LIMIT",
    "REQUESTS",
    "SEMANTICS",
    "Field",
    "Shape",
]

MAX_EVALUATIONS = 1000  # items of one batch
DEFAULT_PAGE_LIMIT = 100  # results of one search page
MAX_PAGE_LIMIT = 1000
DEFAULT_QUERY_LIMIT = 100  # solutions of one admin query
MAX_QUERY_LIMIT = 1000
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")

_NO_DEFAULT: Any = object()  # a field without a default (None is a default JSON can have)


@dataclass(frozen=True)
class Field:
    """One property of a JSON object: its JSON type (or types), or the shape it holds (a
    :class:`Shape` written inline, or the name of one of :data:`REQUESTS`), and its limits."""

    type: str | tuple[str, ...] = "object"
    required: bool = False
    shape: Shape | str | None = None
    items: Shape | str | None = None  # for an array: the shape of each item
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None
    enum: tuple[str, ...] | None = None
    default: Any = _NO_DEFAULT
    description: str = ""
    examples: tuple[Any, ...] = ()

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = _schema_of(self.shape) if self.shape is not None else {}
        if self.shape is None:
            out["type"] = list(self.type) if isinstance(self.type, tuple) else self.type
        if self.type == "object" and self.shape is None:
            out["additionalProperties"] = True
        if self.items is not None:
            out["items"] = _schema_of(self.items)
        for key, value in (
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("maxItems", self.max_items),
        ):
            if value is not None:
                out[key] = value
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.default is not _NO_DEFAULT:
            out["default"] = self.default
        if self.description:
            out["description"] = self.description
        if self.examples:
            out["examples"] = list(self.examples)
        return out


@dataclass(frozen=True)
class Shape:
    """A JSON object: its known properties. Unknown ones are ignored, as the validators
    ignore them."""

    fields: Mapping[str, Field]
    description: str = ""

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.description:
            out["description"] = self.description
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        out["properties"] = {name: f.schema() for name, f in self.fields.items()}
        return out


def _schema_of(shape: Shape | str) -> dict[str, Any]:
    if isinstance(shape, str):
        assert shape in REQUESTS, shape
        return {"$ref": f"#/components/schemas/{shape}"}
    return shape.schema()


# --- the AuthZEN entities: subject, action, resource -----------------------------------------

_PROPERTIES = Field("object")


def _entity(part: str, *, typed: bool = True, searched: bool = False) -> Shape:
    """A subject, action or resource. ``typed``: its ``type`` is required (an action has
    none). ``searched``: the search fills its id in, so one sent is ignored."""
    key = ID_KEYS[part]
    ident = (
        Field("string", description="Ignored: the search enumerates it")
        if searched
        else Field("string", required=True, min_length=1, max_length=MAX_ID_LENGTH)
    )
    return Shape(
        {
            "type": Field("string", required=typed and part != "action"),
            key: ident,
            "properties": _PROPERTIES,
        }
    )


def _parts(
    subject: Shape | str, action: Shape | str, resource: Shape | str, *, required: bool = True
) -> dict[str, Field]:
    """The subject, action, resource and context of a request, by the shapes they hold."""
    return {
        "subject": Field(shape=subject, required=required),
        "action": Field(shape=action, required=required),
        "resource": Field(shape=resource, required=required),
        "context": Field(shape="Context"),
    }


_PAGE = Field(shape="PageRequest")

REQUESTS: dict[str, Shape] = {
    "Subject": _entity("subject"),
    "Resource": _entity("resource"),
    "Action": _entity("action"),
    "Context": Shape({}),  # any object
    "EvaluationRequest": Shape(_parts("Subject", "Action", "Resource")),
    "EvaluationItem": Shape(_parts("Subject", "Action", "Resource", required=False)),
    "EvaluationsRequest": Shape(
        {
            **_parts("Subject", "Action", "Resource", required=False),
            "evaluations": Field(
                "array", items="EvaluationItem", max_items=MAX_EVALUATIONS
            ),
            "options": Field(
                shape=Shape(
                    {
                        "evaluations_semantic": Field(
                            "string", enum=SEMANTICS, default=SEMANTICS[0]
                        )
                    }
                )
            ),
        },
        "Top-level subject, action, resource and context are defaults that each item "
        "overrides. Without 'evaluations' (or with an empty array) it is a single "
        "evaluation and the answer is an EvaluationResponse.",
    ),
    "PageRequest": Shape(
        {
            "token": Field("string", description="The next_token of the previous page"),
            "limit": Field(
                "integer", minimum=1, maximum=MAX_PAGE_LIMIT, default=DEFAULT_PAGE_LIMIT
            ),
        }
    ),
    "SearchEntity": _entity("subject", searched=True),
    "SubjectSearchRequest": Shape(
        {**_parts("SearchEntity", "Action", "Resource"), "page": _PAGE}
    ),
    "ResourceSearchRequest": Shape(
        {**_parts("Subject", "Action", "SearchEntity"), "page": _PAGE}
    ),
    # searching for actions, the subject's and the resource's types are not required, and
    # the action may be left out
    "ActionSearchRequest": Shape(
        {
            **_parts(_entity("subject", typed=False), "Action", _entity("resource", typed=False)),
            "action": Field(shape=_entity("action", searched=True)),
            "page": _PAGE,
        }
    ),
    # a plan is for every resource of a type: the resource has no id and no properties
    "PlanRequest": Shape(
        _parts(
            "Subject",
            "Action",
            Shape(
                {"type": Field("string", required=True, min_length=1)},
                "The resources the plan is for: 'id' and 'properties' are refused (400)",
            ),
        )
    ),
    # Cerbos' PlanResources request (POST /api/plan/resources)
    "CerbosPlanRequest": Shape(
        {
            "requestId": Field("string"),
            "action": Field("string", description="One action (or 'actions')"),
            "actions": Field("array", description="1 to 20 actions (strings), all of "
                             "which a resource must pass (or 'action')"),
            "principal": Field(required=True, shape=Shape({
                "id": Field("string", required=True),
                "roles": Field("array", description="Strings: the subject's property 'roles'"),
                "attr": Field(description="The subject's properties"),
                "policyVersion": Field("string", description="'default' only"),
                "scope": Field("string", description="Empty only"),
            })),
            "resource": Field(required=True, shape=Shape({
                "kind": Field("string", required=True, description="The resource type"),
                "attr": Field(description="Empty only: a plan leaves every property open"),
                "policyVersion": Field("string", description="'default' only"),
                "scope": Field("string", description="Empty only"),
            })),
            "auxData": Field(description="Refused: Siamese verifies no token from the body"),
        },
        "Cerbos' PlanResources request, as the cerbos SDK's plan_resources sends it",
    ),
    "QueryRequest": Shape(
        {
            "query": Field(
                "string",
                required=True,
                min_length=1,
                description="Goals in the text syntax, e.g. 'member_of(alice, ?g)'",
                examples=("member_of(alice, ?g)",),
            ),
            "input": Field(
                ("object", "null"), description="The request that input(Path, ?V) reads"
            ),
            "limit": Field(
                "integer",
                minimum=1,
                maximum=MAX_QUERY_LIMIT,
                default=DEFAULT_QUERY_LIMIT,
                description="The most solutions to return",
            ),
            "explain": Field("boolean", default=True, description="Return each solution's proof"),
        }
    ),
    "OpaRequest": Shape(
        {
            "input": Field(
                required=True,
                description="An AuthZEN request (subject, action, resource, context), or "
                'Kong\'s OPA plugin input ({"request": {"http": {...}}})',
            )
        }
    ),
}
