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

import yaml

from ..engine import EngineError, Limits
from ..policy.loader import PolicySet
from ..policytest import PolicyTestResult, parse_tests, run_tests

__all__ = ["MAX_EXPANDED", "MAX_SECONDS", "MAX_TESTS", "RunReport", "expanded_size", "run"]

MAX_TESTS = 200
MAX_SECONDS = 30.0
# A test file's YAML with its aliases expanded, in scalar characters and nodes: a few lines
# of aliases of aliases ("billion laughs") stand for gigabytes once made into text
MAX_EXPANDED = 4_000_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def expanded_size(text: str, limit: int = MAX_EXPANDED) -> int:
    """The size of a YAML text with every alias expanded (one for each node, plus its
    characters for a scalar), counted without expanding anything; ``limit + 1`` once past
    ``limit`` or for an alias inside itself. 0 for a text that is not YAML (its error is
    for the test reader to report)."""
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return 0
    if root is None:
        return 0
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the nodes whose children are still being counted
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted = stack.pop()
        key = id(node)
        if counted:
            open_nodes.discard(key)
            own = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
            sizes[key] = min(limit + 1, own + sum(sizes[id(c)] for c in _children(node)))
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return limit + 1  # an alias of a node that holds it
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node))
    return sizes[id(root)]


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
            text = f.data.decode("utf-8")
            if expanded_size(text) > MAX_EXPANDED:
                out.problems.append(f"{f.path}:1: its aliases expand to more than "
                                    f"{MAX_EXPANDED:,} values and characters")
                continue
            cases = parse_tests(f.path, text)
        except UnicodeDecodeError as e:
            out.problems.append(f"{f.path}:1: not UTF-8 text ({e.reason})")
            continue
        except EngineError as e:
            out.problems.append(str(e))
            continue
        except Exception as e:  # odd YAML the test reader did not expect: said, not a 500
            out.problems.append(f"{f.path}:1: cannot read its tests: {e!r}")
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
        except Exception as e:  # a test field of an unexpected type (a goal that is a number)
            out.problems.append(f"{f.path}: its tests cannot run: {e!r}")
            continue
        count += len(cases)
    return out
