"""The calls of the client's methods, built from their arguments: the endpoint, the
canonical body, and how the answer is read. Shared by :class:`Client` and
:class:`AsyncClient`, which only differ in how they send them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from .bodies import Entity, action, entity, type_name
from .core import Call
from .errors import ClientError
from .results import (
    SEMANTICS,
    Decision,
    Plan,
    SearchPage,
    decision_from,
    evaluations_failed,
    evaluations_from,
    plan_from,
    search_from,
)

__all__ = ["decide", "evaluation", "evaluations", "plan", "search"]


def _read_decision(answer: Any, request_id: str) -> Decision:
    return decision_from(answer, request_id)


def _context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise TypeError(f"context must be a mapping, not {type_name(context)}")
    return {"context": dict(context)}


def evaluation(body: Mapping[str, Any]) -> Call[Decision]:
    """``POST /access/v1/evaluation`` with ``body`` as given (an AuthZEN request)."""
    if not isinstance(body, Mapping):
        raise TypeError(f"an evaluation body must be a mapping, not {type_name(body)}")
    return Call("/access/v1/evaluation", dict(body), _read_decision, Decision.failed,
                cached=True)


def decide(
    subject: Entity,
    act: Entity,
    resource: Entity,
    *,
    subject_type: str | None = None,
    resource_type: str | None = None,
    subject_properties: Mapping[str, Any] | None = None,
    resource_properties: Mapping[str, Any] | None = None,
    action_properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Call[Decision]:
    return evaluation({
        "subject": entity(subject, "subject", subject_type, subject_properties),
        "action": action(act, action_properties),
        "resource": entity(resource, "resource", resource_type, resource_properties),
        **_context(context),
    })


def _item(item: Mapping[str, Any], i: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise TypeError(f"evaluations[{i}] must be a mapping, not {type_name(item)}")
    out = dict(item)
    for part in ("subject", "resource"):
        if part in out:
            out[part] = entity(out[part], part)
    if "action" in out:
        out["action"] = action(out["action"])
    if "context" in out:
        out.update(_context(out["context"]))
    return out


def evaluations(
    items: Iterable[Mapping[str, Any]],
    *,
    subject: Entity | None = None,
    act: Entity | None = None,
    resource: Entity | None = None,
    context: Mapping[str, Any] | None = None,
    semantic: str = "execute_all",
) -> Call[list[Decision]]:
    """``POST /access/v1/evaluations``: each item (an AuthZEN request, whose parts may be
    given as ids) over the defaults ``subject``, ``act``, ``resource`` and ``context``."""
    if semantic not in SEMANTICS:
        raise ValueError(f"semantic must be one of {', '.join(SEMANTICS)}")
    batch = [_item(item, i) for i, item in enumerate(items)]
    if not batch:
        raise ValueError("evaluations needs at least one item (for one decision: decide)")
    body: dict[str, Any] = {"evaluations": batch,
                            "options": {"evaluations_semantic": semantic}, **_context(context)}
    if subject is not None:
        body["subject"] = entity(subject, "subject")
    if act is not None:
        body["action"] = action(act)
    if resource is not None:
        body["resource"] = entity(resource, "resource")
    count = len(batch)

    def read(answer: Any, request_id: str) -> list[Decision]:
        return evaluations_from(answer, count, semantic, request_id)

    def failed(error: ClientError, request_id: str) -> list[Decision]:
        return evaluations_failed(error, count, semantic, request_id)

    return Call("/access/v1/evaluations", body, read, failed)


def search(
    unknown: str,
    subject: dict[str, Any],
    act: dict[str, Any] | None,
    resource: dict[str, Any],
    context: Mapping[str, Any] | None,
    page_token: str | None,
    page_limit: int | None,
) -> Call[SearchPage]:
    """``POST /access/v1/search/{unknown}``: ``unknown`` is the part without an id."""
    body: dict[str, Any] = {"subject": subject, "resource": resource, **_context(context)}
    if act is not None:
        body["action"] = act
    page: dict[str, Any] = {}
    if page_token:
        page["token"] = page_token
    if page_limit is not None:
        page["limit"] = page_limit
    if page:
        body["page"] = page
    key = "name" if unknown == "action" else "id"
    return Call(f"/access/v1/search/{unknown}", body,
                partial(_read_search, key), SearchPage.failed)


def _read_search(key: str, answer: Any, request_id: str) -> SearchPage:
    return search_from(answer, key, request_id)


def plan(
    subject: Entity,
    act: Entity,
    resource_type: str,
    *,
    subject_type: str | None = None,
    subject_properties: Mapping[str, Any] | None = None,
    action_properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Call[Plan]:
    """``POST /v1/plan/resources``: which resources of ``resource_type`` the subject may
    act on."""
    if not isinstance(resource_type, str):
        raise TypeError(f"resource_type must be a string, not {type_name(resource_type)}")
    body = {
        "subject": entity(subject, "subject", subject_type, subject_properties),
        "action": action(act, action_properties),
        "resource": {"type": resource_type},
        **_context(context),
    }
    return Call("/v1/plan/resources", body, plan_from, Plan.failed)
