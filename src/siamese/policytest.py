"""Policy tests (``*.test.yaml``): a request (or a goal) and the expected answer.

```yaml
facts: |                      # optional: extra facts for every test of this file
  status(mallory, suspended).
tests:
  - name: owners may delete their documents
    request:                  # AuthZEN-shaped; a plain string is short for the id / name
      subject: alice          #   {type: user, id: alice}
      action: delete          #   {name: delete}
      resource: runbook       #   {type: resource, id: runbook}
      context: {ip: 10.1.2.3} # also: claims, and subject/resource objects with properties
    expect: allow             # allow | deny
    rule: owner-full-access   # optional: the rule that must decide it
    facts: |                  # optional: extra facts for this test alone
      owner(runbook, alice).
  - name: frank is an engineer
    goal: member_of(frank, engineers)
    input: {subject: {id: frank}}   # optional: what input(Path, ?V) reads
    expect: true              # true | false
```

Each test runs in isolation: extra facts build a program of their own; nothing a test does
is seen by another.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .decision.authorizer import Authorizer
from .decision.models import Outcome, Request, RequestError
from .engine import (
    EngineError,
    LimitExceeded,
    Limits,
    Program,
    ProgramItem,
    Query,
    compile_query,
    finish,
    parse_goals,
    parse_source,
)
from .policy.loader import PolicySet, scan

__all__ = [
    "PolicyTestCase",
    "PolicyTestResult",
    "gate",
    "load_tests",
    "parse_tests",
    "run_tests",
    "run_tests_sync",
]


@dataclass
class PolicyTestCase:
    name: str
    file: str
    line: int
    expect: Any
    request: dict[str, Any] | None = None
    goal: str | None = None
    rule: str | None = None
    facts: str = ""
    input: dict[str, Any] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class PolicyTestResult:
    case: PolicyTestCase
    passed: bool
    message: str = ""
    outcome: Outcome | None = None
    details: list[str] = field(default_factory=list)


class PolicyTestError(EngineError):
    pass


def _entity(value: Any, kind: str) -> Any:
    if isinstance(value, str):
        if kind == "action":
            return {"name": value}
        return {"type": "user" if kind == "subject" else "resource", "id": value}
    if isinstance(value, dict) and kind != "action":
        value = {"type": "user" if kind == "subject" else "resource", **value}
    return value


def load_tests(root: str | Path, names: list[str]) -> list[PolicyTestCase]:
    """The test cases of the files ``names`` under ``root``."""
    cases: list[PolicyTestCase] = []
    for name in names:
        cases.extend(parse_tests(name, (Path(root) / name).read_text(encoding="utf-8")))
    return cases


def parse_tests(name: str, text: str) -> list[PolicyTestCase]:
    """The test cases of one test file's text (``name`` is where errors point)."""
    cases: list[PolicyTestCase] = []
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise PolicyTestError(f"{name}:{line}: invalid YAML: {e}") from None
    if data is None:
        return cases
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise PolicyTestError(f"{name}:1: a test file is a mapping with a 'tests' list")
    lines = {}
    for k, v in node.value:  # type: ignore[union-attr]
        if k.value == "tests":
            lines = {i: item.start_mark.line + 1 for i, item in enumerate(v.value)}
    common = data.get("facts") or ""
    for i, t in enumerate(data["tests"]):
        line = lines.get(i, 1)
        if not isinstance(t, dict):
            raise PolicyTestError(f"{name}:{line}: a test must be a mapping")
        unknown = set(t) - {"name", "request", "goal", "expect", "rule", "facts", "input"}
        if unknown:
            raise PolicyTestError(f"{name}:{line}: unknown test field(s): {sorted(unknown)}")
        if ("request" in t) == ("goal" in t):
            raise PolicyTestError(f"{name}:{line}: a test names either a request or a goal")
        if "expect" not in t:
            raise PolicyTestError(f"{name}:{line}: a test needs 'expect'")
        expect = t["expect"]
        if "request" in t and expect not in ("allow", "deny"):
            raise PolicyTestError(f"{name}:{line}: 'expect' of a request is allow or deny")
        if "goal" in t and not isinstance(expect, bool):
            raise PolicyTestError(f"{name}:{line}: 'expect' of a goal is true or false")
        cases.append(PolicyTestCase(
            name=str(t.get("name") or f"test {i + 1}"), file=name, line=line, expect=expect,
            request=t.get("request"), goal=t.get("goal"), rule=t.get("rule"),
            input=t.get("input"),
            facts=str(common) + "\n" + str(t.get("facts") or ""),
        ))
    return cases


def _request(case: PolicyTestCase) -> Request:
    r = case.request
    if not isinstance(r, dict):
        raise RequestError("'request' must be a mapping")
    body = {k: _entity(r.get(k), k) for k in ("subject", "action", "resource")}
    body["context"] = r.get("context") or {}
    return Request.from_authzen(body, claims=r.get("claims"), http=r.get("http"))


@dataclass
class _Policy:
    program: Program
    revision: str


async def _run_one(case: PolicyTestCase, base_items: list[ProgramItem], base: Program,
                   revision: str, authorizer: Authorizer) -> PolicyTestResult:
    program = base
    if case.facts.strip():
        program = Program(base.builtins)
        program.tabling = base.tabling
        program.add_items(base_items)
        program.add_items(parse_source(case.facts, f"{case.file}:{case.line} facts", "rules"))
        finish(program)
    if case.goal is not None:
        items, _ = parse_goals(case.goal, case.where)
        q = Query(program, compile_query(program, items), limits=authorizer.limits,
                  input=case.input)
        got = await q.first()
        ok = got == case.expect
        return PolicyTestResult(case, ok, "" if ok else f"expected {case.expect}, got {got}")
    request = _request(case)
    outcome = await authorizer.evaluate(_Policy(program, revision), request)
    got_word = "allow" if outcome.allowed else "deny"
    if got_word != case.expect:
        return PolicyTestResult(case, False, f"expected {case.expect}, got {got_word} "
                                       f"({outcome.reason})", outcome)
    if case.rule is not None and case.rule not in outcome.rule_ids[:1]:
        decided = outcome.rule_ids[0] if outcome.rule_ids else "no rule"
        return PolicyTestResult(case, False, f"expected rule {case.rule} to decide it, but "
                                       f"{decided} did ({outcome.reason})", outcome)
    return PolicyTestResult(case, True, outcome=outcome)


def _cases(policy: PolicySet) -> list[PolicyTestCase]:
    """The set's test cases: from the test text read with the set (or edited in the
    console), else from the files under its root."""
    read = {f.path: f.data for f in policy.test_sources}
    cases: list[PolicyTestCase] = []
    for name in policy.tests:
        data = read.get(name)
        if data is None:
            cases.extend(load_tests(policy.root, [name]))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PolicyTestError(f"{name}:1: not UTF-8 text ({e.reason})") from None
        cases.extend(parse_tests(name, text))
    return cases


async def run_tests(policy: PolicySet, limits: Limits | None = None) -> list[PolicyTestResult]:
    """Run the set's tests, each in isolation. Raises EngineError for a test file that
    cannot be read."""
    cases = _cases(policy)
    # the parsed policy files, to add a test's own facts to: read only when a test has some
    base_items: list[ProgramItem] = []
    if any(case.facts.strip() for case in cases):
        files = list(policy.sources) if policy.sources else scan(policy.root)[0]
        for f in files:
            base_items.extend(parse_source(f.data.decode("utf-8"), f.path, f.kind))
    authorizer = Authorizer(limits=limits or Limits())
    results = []
    for case in cases:
        try:
            results.append(await _run_one(case, base_items, policy.program, policy.revision,
                                          authorizer))
        except (EngineError, RequestError, LimitExceeded) as e:
            results.append(PolicyTestResult(case, False, f"error: {e}"))
    return results


def run_tests_sync(policy: PolicySet, limits: Limits | None = None) -> list[PolicyTestResult]:
    """Run the tests to completion from synchronous code, even inside a running event loop
    (then in a thread of its own: a loop cannot be nested)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_tests(policy, limits))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_tests(policy, limits)).result()


def gate(policy: PolicySet) -> str | None:
    """For ``SIAMESE_RELOAD_REQUIRE_TESTS``: None if every test passes, else why not.
    Runs in the reload's worker thread, so it may start its own event loop."""
    try:
        results = run_tests_sync(policy)
    except EngineError as e:
        return str(e)
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    first = failed[0]
    return f"{len(failed)} of {len(results)} tests failed; first: {first.case.where}: " \
           f"{first.case.name}: {first.message}"
