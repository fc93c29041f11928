"""The AuthZEN request bodies the client sends, and their canonical JSON.

An entity is given as an id (a string) or as its AuthZEN object. A string subject becomes
``{"type": "user", "id": ...}``, a string resource ``{"type": "resource", "id": ...}`` and
a string action ``{"name": ...}``: the types ``siamese test`` gives the shorthand of a
policy test, so a request means the same in both places."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequest

__all__ = ["Entity", "action", "encode", "entity"]

Entity = str | Mapping[str, Any]
DEFAULT_TYPES = {"subject": "user", "resource": "resource"}


def entity(
    value: Entity | None,
    part: str,
    type: str | None = None,
    properties: Mapping[str, Any] | None = None,
    *,
    key: str = "id",
) -> dict[str, Any]:
    """The AuthZEN object of a subject or resource. ``type`` and ``properties`` fill in what
    an object leaves out; giving one that the object also gives is a ValueError (two
    answers to one question). ``value`` None: an object without ``key`` (a search's or a
    plan's unknown part)."""
    if value is None:
        out: dict[str, Any] = {}
    elif isinstance(value, str):
        out = {key: value}
    elif isinstance(value, Mapping):
        out = dict(value)
    else:
        raise TypeError(f"{part} must be a string id or a mapping, not {type_name(value)}")
    for name, given in (("type", type), ("properties", properties)):
        if given is None:
            continue
        if name in out and out[name] != given:
            raise ValueError(f"{part}_{name} conflicts with the {part}'s own {name!r}")
        out[name] = dict(given) if isinstance(given, Mapping) else given
    if "type" not in out and part in DEFAULT_TYPES:
        out["type"] = DEFAULT_TYPES[part]
    return out


def action(value: Entity | None, properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return entity(value, "action", None, properties, key="name")


def type_name(value: Any) -> str:
    return type(value).__name__


def encode(body: Any) -> bytes:
    """The body's canonical JSON: keys sorted, no spaces, ASCII only (a lone surrogate is
    written as its escape). It is both what is sent and the client cache's key. A body
    that is not JSON (NaN, infinities, a set, an object) is an InvalidRequest."""
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidRequest(f"the request is not JSON: {e}") from None
    return text.encode("ascii")
