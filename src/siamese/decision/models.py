"""Requests and decisions.

A request has the shape of the OpenID AuthZEN Authorization API (subject, action,
resource, context); the engine reaches every part of it with ``input(Path, ?V)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ID_KEYS", "MAX_ID_LENGTH", "Decision", "Outcome", "Request", "RequestError"]

MAX_ID_LENGTH = 1024  # characters of a subject's or resource's id, or of an action's name
# the key that names each part of a request (siamese.server.schemas describes them from it)
ID_KEYS = {"subject": "id", "action": "name", "resource": "id"}


class RequestError(ValueError):
    """A request that cannot be decided: the caller gets a 4xx with this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _entity(data: Any, name: str, key: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RequestError(
            f"'{name}' must be an object" if data is not None else f"missing '{name}'"
        )
    value = data.get(key)
    if value is None:
        raise RequestError(f"missing '{name}.{key}'")
    if not isinstance(value, str):
        raise RequestError(f"'{name}.{key}' must be a string")
    if not value or len(value) > MAX_ID_LENGTH:
        raise RequestError(f"'{name}.{key}' must be 1 to {MAX_ID_LENGTH} characters")
    props = data.get("properties")
    if props is not None and not isinstance(props, dict):
        raise RequestError(f"'{name}.properties' must be an object")
    typ = data.get("type")
    if typ is not None and not isinstance(typ, str):
        raise RequestError(f"'{name}.type' must be a string")
    return data


def _well_formed(subject: Any, action: Any, resource: Any, context: Any,
                 require_types: bool) -> bool:
    """Whether the parts of an evaluation body pass every check of :func:`_entity` and of
    ``Request.from_authzen`` (the common case, checked in one go: the keys of
    :data:`ID_KEYS` are written out, as dictionary lookups would cost on every request)."""
    if not (type(subject) is dict and type(action) is dict and type(resource) is dict):
        return False
    s = subject.get("id")
    a = action.get("name")
    r = resource.get("id")
    if not (type(s) is str and type(a) is str and type(r) is str
            and 0 < len(s) <= MAX_ID_LENGTH and 0 < len(a) <= MAX_ID_LENGTH
            and 0 < len(r) <= MAX_ID_LENGTH):
        return False
    for ent in (subject, action, resource):
        props = ent.get("properties")
        if props is not None and type(props) is not dict:
            return False
        typ = ent.get("type")
        if typ is not None and type(typ) is not str:
            return False
    if require_types and (subject.get("type") is None or resource.get("type") is None):
        return False
    return context is None or type(context) is dict


@dataclass(slots=True)
class Request:
    """A validated decision request. ``input`` is what ``input(Path, ?V)`` reads. Never
    changed once made (``with_id`` makes another); not a frozen dataclass only because
    those cost three times as much to make, once per request."""

    subject: str
    action: str
    resource: str
    input: dict[str, Any]

    @classmethod
    def from_authzen(
        cls,
        body: Any,
        *,
        claims: dict[str, Any] | None = None,
        http: dict[str, Any] | None = None,
        require_types: bool = True,
    ) -> Request:
        """Validate an AuthZEN evaluation body; unknown fields are ignored."""
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        subject: Any = body.get("subject")
        action: Any = body.get("action")
        resource: Any = body.get("resource")
        context: Any = body.get("context")
        if not _well_formed(subject, action, resource, context, require_types):
            # the slow path, to name the first problem
            _entity(subject, "subject", ID_KEYS["subject"])
            _entity(action, "action", ID_KEYS["action"])
            _entity(resource, "resource", ID_KEYS["resource"])
            if require_types:
                for name, ent in (("subject", subject), ("resource", resource)):
                    if ent.get("type") is None:
                        raise RequestError(f"missing '{name}.type'")
            if context is not None and not isinstance(context, dict):
                raise RequestError("'context' must be an object")
        data: dict[str, Any] = {
            "subject": subject,
            "action": action,
            "resource": resource,
            "context": context or {},
        }
        if claims is not None:
            data["claims"] = claims
        if http is not None:
            data["request"] = http
        return cls(subject["id"], action["name"], resource["id"], data)

    @classmethod
    def for_search(
        cls, body: Any, unknown: str, *, claims: dict[str, Any] | None = None
    ) -> Request:
        """Validate an AuthZEN search body, whose ``unknown`` part (subject, action or
        resource) has no id (or name) yet; that id is left empty."""
        if unknown not in ID_KEYS:
            raise RequestError(f"cannot search for '{unknown}'")
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        key = ID_KEYS[unknown]
        part = body.get(unknown)
        if part is None and unknown == "action":
            part = {}
        if not isinstance(part, dict):
            raise RequestError(
                f"missing '{unknown}'" if part is None else f"'{unknown}' must be an object"
            )
        patched = dict(body)
        patched[unknown] = {**part, key: "?"}
        req = cls.from_authzen(patched, claims=claims, require_types=unknown != "action")
        data = dict(req.input)
        data[unknown] = {k: v for k, v in data[unknown].items() if k != key}
        ids = {"subject": req.subject, "action": req.action, "resource": req.resource}
        ids[unknown] = ""
        return cls(ids["subject"], ids["action"], ids["resource"], data)

    def with_id(self, part: str, value: str) -> Request:
        """The same request with the id of ``part`` (subject, action or resource) replaced."""
        key = ID_KEYS[part]
        data = dict(self.input)
        data[part] = {**data[part], key: value}
        ids = {"subject": self.subject, "action": self.action, "resource": self.resource}
        ids[part] = value
        return Request(ids["subject"], ids["action"], ids["resource"], data)

    @classmethod
    def simple(
        cls,
        subject: str,
        action: str,
        resource: str,
        *,
        context: dict[str, Any] | None = None,
        subject_type: str = "user",
        resource_type: str = "resource",
        claims: dict[str, Any] | None = None,
        http: dict[str, Any] | None = None,
    ) -> Request:
        body = {
            "subject": {"type": subject_type, "id": subject},
            "action": {"name": action},
            "resource": {"type": resource_type, "id": resource},
            "context": context or {},
        }
        return cls.from_authzen(body, claims=claims, http=http)


class Outcome:
    """What the policy set decided for a request (shared by every decision the cache
    answers with it, so never changed once made: :meth:`replace` makes another).

    ``explanation`` and ``rule_ids`` may be given as functions that make them: they are
    made at the first read, once (a gateway's answer never reads them; the decision log
    and the AuthZEN response do). Not a dataclass: those cost more to make, once per
    uncached decision, and cannot make a field at its first read."""

    __slots__ = ("_explanation", "_rule_ids", "allowed", "cacheable", "errors", "limit",
                 "log_json", "reason", "response_headers", "revision")

    def __init__(
        self,
        allowed: bool,
        revision: str,
        reason: str,
        explanation: dict[str, Any] | Callable[[], dict[str, Any]],
        errors: tuple[str, ...] = (),
        rule_ids: tuple[str, ...] | Callable[[], tuple[str, ...]] = (),
        cacheable: bool = True,
        response_headers: tuple[tuple[str, str], ...] = (),
        limit: str | None = None,  # the limit that ended the evaluation, if any
    ) -> None:
        self.allowed = allowed
        self.revision = revision
        self.reason = reason
        self._explanation = explanation
        self.errors = errors
        self._rule_ids = rule_ids
        self.cacheable = cacheable
        self.response_headers = response_headers
        self.limit = limit
        # the outcome serialised once, for the decision log of every cache hit that shares
        # it (the decision log's to fill: its JSON and what it had to cut or convert)
        self.log_json: list[Any] = []

    @property
    def explanation(self) -> dict[str, Any]:
        e = self._explanation
        if type(e) is not dict:
            e = self._explanation = e()  # type: ignore[operator]
        return e

    @property
    def rule_ids(self) -> tuple[str, ...]:
        r = self._rule_ids
        if type(r) is not tuple:
            r = self._rule_ids = r()  # type: ignore[operator]
        return r

    def replace(self, **changes: Any) -> Outcome:
        """A copy with ``changes`` (keyword arguments of the constructor)."""
        fields = {k: getattr(self, k) for k in _FIELDS}
        fields.update(changes)
        return Outcome(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in _FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Outcome(allowed={self.allowed!r}, revision={self.revision!r}, "
                f"reason={self.reason!r}, rule_ids={self.rule_ids!r})")


_FIELDS = ("allowed", "revision", "reason", "explanation", "errors", "rule_ids", "cacheable",
           "response_headers", "limit")


@dataclass(slots=True)
class Decision:
    """One answered decision: an outcome, its own id, and whether the cache answered it."""

    outcome: Outcome
    decision_id: str
    request: Request
    cached: bool = False
    latency_us: int = 0

    @property
    def allowed(self) -> bool:
        return self.outcome.allowed

    @property
    def revision(self) -> str:
        return self.outcome.revision

    @property
    def reason(self) -> str:
        return self.outcome.reason

    @property
    def explanation(self) -> dict[str, Any]:
        return self.outcome.explanation

    def to_dict(self) -> dict[str, Any]:
        o = self.outcome
        d: dict[str, Any] = {
            "decision": o.allowed,
            "decision_id": self.decision_id,
            "revision": o.revision,
            "reason": o.reason,
            "explanation": o.explanation,
            "cached": self.cached,
        }
        if o.errors:
            d["errors"] = list(o.errors)
        return d
