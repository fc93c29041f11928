"""The playground: policy text edited in the browser, starting from the serving set or from
none, and a request decided against it, its tests run, or its ``siamese check`` findings
listed. All of it in memory: nothing is saved, the serving set is never changed, and no
playground decision goes to the decision log.

``GET /console/playground`` shows the editor (``?start=empty``: an empty set) and a request
form. ``POST /console/playground`` takes every action, named by the submit button's ``run``
field (``decide``, ``test`` or ``check``), and answers the same page: the posted text in
the editor, to go on editing, and the result above it. Its other fields:

- the files, as ``path``/``text`` pairs (see ``sources``);
- ``mode``: ``fields`` (the AuthZEN fields ``subject_type``, ``subject_id``,
  ``subject_properties``, ``action_name``, ``resource_type``, ``resource_id``,
  ``resource_properties``, ``context``) or ``json`` (``body``, a raw AuthZEN evaluation
  body); ``claims`` (JSON, what a caller's token would give) goes with either.

The answer is 200 with a result, 400 for a request or a form that cannot be used (the page
says why, the editor keeps the text), 422 when the edited text does not build.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..decision.authorizer import Authorizer
from ..decision.models import Outcome, RequestError
from ..decision.models import Request as DecisionRequest
from ..engine import policy_kind
from ..policy.loader import PolicyFile
from ..server.limits import parse_json
from ..server.responses import ApiError
from . import findings, testrun
from .app import Console, Page, field_of
from .render import as_json
from .sources import build, files_from_form, serving_files

__all__ = ["DEFAULTS", "FIELDS", "request_of", "routes"]

RUNS = ("decide", "test", "check")
MODES = ("fields", "json")
FIELDS = ("subject_type", "subject_id", "subject_properties", "action_name",
          "resource_type", "resource_id", "resource_properties", "context", "claims", "body")
_EXAMPLE = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
            "resource": {"type": "resource", "id": "runbook"}, "context": {}}
# the form as it first shows: a request that the shipped policies allow
DEFAULTS = {"subject_type": "user", "subject_id": "alice", "subject_properties": "",
            "action_name": "read", "resource_type": "resource", "resource_id": "runbook",
            "resource_properties": "", "context": "", "claims": "", "body": as_json(_EXAMPLE)}


def _json(text: str, label: str, max_depth: int) -> Any:
    """The JSON value of a field (None when it is blank), parsed as the API parses bodies."""
    if not text.strip():
        return None
    try:
        return parse_json(text.encode("utf-8"), max_depth)
    except ApiError as e:
        raise RequestError(f"{label}: {e.message}") from None


def _part(values: dict[str, str], name: str, key: str, typed: bool,
          max_depth: int) -> dict[str, Any]:
    part: dict[str, Any] = {}
    if typed and values[f"{name}_type"]:
        part["type"] = values[f"{name}_type"]
    if values[f"{name}_{key}"]:
        part[key] = values[f"{name}_{key}"]
    if typed:
        props = _json(values[f"{name}_properties"], f"{name} properties", max_depth)
        if props is not None:
            part["properties"] = props
    return part


def request_of(values: dict[str, str], mode: str, max_depth: int) -> DecisionRequest:
    """The decision request of the form's fields, made as the AuthZEN evaluation endpoint
    makes it (with the claims a caller's token would bring). RequestError says what is
    wrong: a blank id, a field that is not JSON, properties that are not an object..."""
    claims = _json(values["claims"], "claims", max_depth)
    if claims is not None and not isinstance(claims, dict):
        raise RequestError("claims: must be a JSON object")
    if mode == "json":
        if not values["body"].strip():
            raise RequestError("the JSON body is empty: expected an AuthZEN evaluation body")
        body = _json(values["body"], "the JSON body", max_depth)
    else:
        body = {
            "subject": _part(values, "subject", "id", True, max_depth),
            "action": _part(values, "action", "name", False, max_depth),
            "resource": _part(values, "resource", "id", True, max_depth),
        }
        context = _json(values["context"], "context", max_depth)
        if context is not None:
            body["context"] = context
    return DecisionRequest.from_authzen(body, claims=claims)


def _editor_files(form: dict[str, list[str]]) -> list[PolicyFile]:
    """The posted files in the order posted (blank rows left out), whatever their names:
    what the editor shows again, and where findings point."""
    paths, texts = form.get("path", []), form.get("text", [])
    if len(paths) != len(texts):
        raise ApiError(400, "each file of the form needs a 'path' and a 'text'")
    return [PolicyFile(path.strip(), policy_kind(path.strip()) or "",
                       text.replace("\r\n", "\n").encode("utf-8"))
            for path, text in zip(paths, texts, strict=True)
            if path.strip() or text.strip()]


# --- what a run shows ---------------------------------------------------------------------


@dataclass
class Problem:
    """A form or request that cannot be used, and why."""

    message: str
    kind: str = "problem"


@dataclass
class BuildFailed:
    """The edited text does not build: the errors, at their lines."""

    errors: list[findings.Located]
    kind: str = "build"


@dataclass
class Decided:
    outcome: Outcome
    request: DecisionRequest
    revision: str
    kind: str = "decide"


@dataclass
class Tested:
    report: testrun.RunReport
    revision: str
    kind: str = "test"


@dataclass
class Checked:
    findings: list[findings.Located]
    total: int  # findings in all (only the first findings.MAX_SHOWN are listed)
    errors: int
    files: int
    kind: str = "check"


def _page(files: list[PolicyFile], values: dict[str, str], mode: str, result: Any,
          status: int = 200) -> Page:
    return Page("playground.html", {
        "title": "Playground",
        "files": files,
        "anchors": {f.path: f"text-{i}" for i, f in enumerate(files, 1)},
        "values": values,
        "mode": mode,
        "result": result,
        "max_tests": testrun.MAX_TESTS,
    }, status)


def routes(console: Console) -> list[BaseRoute]:
    ctx = console.ctx
    authorizer = Authorizer(limits=ctx.settings.limits())
    # one test run at a time: each is bounded, and several would share the event loop
    test_runs = asyncio.Semaphore(1)

    async def show(request: Request) -> Page:
        starts = request.query_params.getlist("start") or ["serving"]
        if len(starts) > 1 or starts[0] not in ("serving", "empty"):
            raise ApiError(400, "'start' is 'serving' or 'empty', once")
        start = starts[0]
        files = [] if start == "empty" else serving_files(ctx.store.get())
        return _page(files, dict(DEFAULTS), "fields", None)

    async def submit(request: Request) -> Page:
        form = await console.form(request)
        run = field_of(form, "run")
        if run not in RUNS:
            raise ApiError(400, "'run' must be one of: " + ", ".join(RUNS))
        mode = field_of(form, "mode", "fields")
        if mode not in MODES:
            raise ApiError(400, "'mode' must be one of: " + ", ".join(MODES))
        values = {name: field_of(form, name) for name in FIELDS}
        shown = _editor_files(form)
        texts = {f.path: f.data.decode("utf-8") for f in shown}

        def page(result: Any, status: int = 200) -> Page:
            return _page(shown, values, mode, result, status)

        try:
            files, tests = files_from_form(form)
        except ApiError as e:
            return page(Problem(e.message), e.status)
        builtins = ctx.store.builtins
        decision_request = None
        if run == "decide":
            try:
                decision_request = request_of(values, mode, ctx.settings.max_json_depth)
            except RequestError as e:
                return page(Problem(e.message), e.status)
        if run == "check":
            found = await findings.check(files, builtins, console.builds)
            return page(Checked(findings.located(found[:findings.MAX_SHOWN], texts),
                                len(found), sum(1 for f in found if f.severity == "error"),
                                len(files)))
        built = await build(files, tests, builtins, console.builds)
        if built.policy is None:
            errors = findings.from_build_errors(built.errors, frozenset(texts))
            return page(BuildFailed(findings.located(errors[:findings.MAX_SHOWN], texts)),
                        422)
        if decision_request is not None:
            outcome = await authorizer.evaluate(built.policy, decision_request)
            return page(Decided(outcome, decision_request, built.policy.revision))
        async with test_runs:
            report = await testrun.run(built.policy, authorizer.limits)
        return page(Tested(report, built.policy.revision))

    return [
        Route("/playground", console.page(show), methods=["GET"], name="playground"),
        Route("/playground", console.page(submit), methods=["POST"], name="playground_run"),
    ]
