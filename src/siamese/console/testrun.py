"""The ``*.test.yaml`` tests of policy text edited in the console, run against the set built
from it: with the engine's limits (each decision bounded as the API's are), at most
MAX_TESTS tests and MAX_SECONDS a run. Test files run one at a time, in path order, so that
a file that cannot be read, or a run stopped by its deadline, keeps the results before it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..engine import EngineError, Limits
from ..policy.loader import PolicySet
from ..policytest import PolicyTestResult, parse_tests, run_tests

__all__ = ["MAX_SECONDS", "MAX_TESTS", "RunReport", "run"]

MAX_TESTS = 200
MAX_SECONDS = 30.0


@dataclass
class RunReport:
    """What a run did: the results, the test files it could not read (their error), the
    files it left out (path, number of tests) and why."""

    results: list[PolicyTestResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_run: list[tuple[str, int]] = field(default_factory=list)
    stopped: str | None = None  # why files were left out, if any were

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    @property
    def passed(self) -> int:
        return len(self.results) - self.failed


async def run(
    policy: PolicySet,
    limits: Limits,
    *,
    max_tests: int = MAX_TESTS,
    max_seconds: float = MAX_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> RunReport:
    """Run the tests read with ``policy`` (its ``test_sources``). Once a file would take the
    run past ``max_tests`` tests, or ``max_seconds`` have passed, it and the files after it
    are not run, and the run says so."""
    out = RunReport()
    deadline = clock() + max_seconds
    count = 0
    for f in policy.test_sources:
        try:
            cases = parse_tests(f.path, f.data.decode("utf-8"))
        except UnicodeDecodeError as e:
            out.problems.append(f"{f.path}:1: not UTF-8 text ({e.reason})")
            continue
        except EngineError as e:
            out.problems.append(str(e))
            continue
        if not cases:
            continue
        if out.stopped is None and count + len(cases) > max_tests:
            out.stopped = f"a run holds at most {max_tests} tests"
        remaining = deadline - clock()
        if out.stopped is None and remaining <= 0:
            out.stopped = f"a run stops after {max_seconds:g} seconds"
        if out.stopped is not None:
            out.not_run.append((f.path, len(cases)))
            continue
        one = replace(policy, tests=[f.path], test_sources=(f,))
        try:
            async with asyncio.timeout(remaining):
                out.results.extend(await run_tests(one, limits))
        except TimeoutError:
            out.stopped = f"a run stops after {max_seconds:g} seconds"
            out.not_run.append((f.path, len(cases)))
            continue
        except EngineError as e:
            out.problems.append(str(e))
            continue
        count += len(cases)
    return out
