"""The policy browser: the serving revision, its files and rules (with the tests that name
them), the last reload error shown at its line, and the reload history."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..engine import Program, format_term
from ..policy.loader import PolicySet
from ..policytest import PolicyTestCase, parse_tests
from ..server.responses import ApiError
from .app import Console, Page

__all__ = ["reload_error", "routes", "rules_of", "test_cases"]

# "path:line:col: message" (what a policy error says), one per line of a reload error
_ERROR_AT = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")
MAX_ERRORS_SHOWN = 50


@dataclass
class RuleRow:
    id: str | None
    head: str
    description: str | None
    source: str
    line: int
    tests: list[PolicyTestCase]

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


def test_cases(policy: PolicySet) -> tuple[list[PolicyTestCase], list[str]]:
    """The set's test cases, from the test files read with it, and the files that could
    not be read as tests (their error)."""
    cases: list[PolicyTestCase] = []
    problems: list[str] = []
    for f in policy.test_sources:
        try:
            cases.extend(parse_tests(f.path, f.data.decode("utf-8")))
        except UnicodeDecodeError:
            problems.append(f"{f.path}:1: not UTF-8 text")
        except Exception as e:  # a broken test file must not break the page
            problems.append(str(e))
    return cases, problems


def rules_of(program: Program, cases: list[PolicyTestCase]) -> list[RuleRow]:
    """Every rule (a clause with a body, or with an ``@id``) in file and line order."""
    naming: dict[str, list[PolicyTestCase]] = {}
    for case in cases:
        if isinstance(case.rule, str):
            naming.setdefault(case.rule, []).append(case)
    rows = []
    for pred in program.predicates.values():
        for cc in pred.clauses:
            c = cc.clause
            if not c.body and c.id is None:
                continue
            rows.append(RuleRow(c.id, format_term(c.head), c.description, c.source, c.line,
                                naming.get(c.id, []) if c.id else []))
    rows.sort(key=lambda r: (r.source, r.line))
    return rows


def _offending_line(root: str, path: str, line: int) -> str | None:
    """Line ``line`` of ``path`` under ``root`` as it is on disk now (the edit that failed
    is not in the serving set), or None: never a file outside the policy directory."""
    base = os.path.realpath(root)
    full = os.path.realpath(os.path.join(base, path))
    if os.path.commonpath([base, full]) != base or not os.path.isfile(full):
        return None
    try:
        with open(full, "rb") as fh:
            for i, raw in enumerate(fh, 1):
                if i == line:
                    return raw.decode("utf-8", "replace").rstrip("\r\n")
                if i > line:
                    break
    except OSError:
        return None
    return None


def reload_error(root: str, error: str | None) -> list[dict[str, Any]]:
    """The last reload error as items, each with its location and the offending line: the
    excerpt the error quotes under its ``path:line:col`` line (the text as it failed), else
    that line as it is on disk now."""
    if not error:
        return []
    items: list[dict[str, Any]] = []
    for text in error.splitlines():
        m = _ERROR_AT.match(text.strip())
        if m is None:
            if items and text.startswith("    ") and "path" in items[-1]:
                items[-1]["excerpt"].append(text[4:])  # the quoted line, then the caret
            elif text.strip():
                items.append({"text": text})
            continue
        if len(items) == MAX_ERRORS_SHOWN:
            break
        items.append({"text": text, "path": m["path"], "line": int(m["line"]),
                      "col": int(m["col"]), "message": m["message"], "excerpt": []})
    for item in items:
        if "path" in item and not item["excerpt"]:
            line = _offending_line(root, item["path"], item["line"])
            if line is not None:
                item["excerpt"] = [line, " " * (item["col"] - 1) + "^"]
    return items


def _overview(console: Console) -> Page:
    store = console.ctx.store
    policy = store.get()
    cases, test_problems = test_cases(policy) if policy is not None else ([], [])
    return Page("policies.html", {
        "title": "Policies",
        "policy": policy,
        "root": store.root,
        "loaded_at": store.loaded_at,
        "files": [{"path": f.path, "kind": f.kind, "size": len(f.data),
                   "lines": f.data.count(b"\n") + (0 if f.data.endswith(b"\n") else 1)}
                  for f in (policy.sources if policy is not None else ())],
        "tests": list(policy.tests) if policy is not None else [],
        "rules": rules_of(policy.program, cases) if policy is not None else [],
        "test_problems": test_problems,
        "error": reload_error(store.root, store.last_error),
        "error_at": store.last_error_at,
        "history": list(reversed(store.history)),
    })


def routes(console: Console) -> list[BaseRoute]:
    async def overview(request: Request) -> Page:
        return _overview(console)

    async def file(request: Request) -> Page:
        path = request.query_params.get("path", "")
        policy = console.ctx.store.get()
        sources = {}
        if policy is not None:
            sources = {f.path: f for f in (*policy.sources, *policy.test_sources)}
        f = sources.get(path)
        if f is None:
            raise ApiError(404, f"no file {path!r} in the serving policy set")
        text = f.data.decode("utf-8", "replace")
        rules = {}
        if policy is not None:
            for r in rules_of(policy.program, []):
                if r.source == path:
                    rules[r.line] = r
        return Page("file.html", {
            "title": path, "file": f.path, "kind": f.kind, "lines": text.splitlines(),
            "rules": rules, "revision": policy.revision if policy is not None else None,
        })

    return [
        Route("/", console.page(overview), methods=["GET"], name="home"),
        Route("/policies", console.page(overview), methods=["GET"], name="policies"),
        Route("/policies/file", console.page(file), methods=["GET"], name="policy_file"),
    ]
