"""Policy text edited in the browser: the form fields that carry it, and the policy set it
builds (in memory, off the event loop, one build at a time per console; nothing is saved).

A form carries the files as repeated ``path`` / ``text`` pairs, in order (an empty pair is
skipped: the editor's blank "new file" row). The playground and the impact view share it.
"""

from __future__ import annotations

import asyncio
import posixpath

from ..engine import Builtin, EngineError, PolicyErrors, policy_kind
from ..policy.loader import PolicyFile, PolicySet, policy_set_from
from ..server.responses import ApiError

__all__ = ["MAX_FILES", "Built", "build", "files_from_form", "serving_files"]

MAX_FILES = 200


def files_from_form(form: dict[str, list[str]]) -> tuple[list[PolicyFile], list[PolicyFile]]:
    """(policy files, test files) from a form's ``path``/``text`` pairs; 400 for a name that
    is not a policy or test file's, a name given twice, or more than MAX_FILES files."""
    paths, texts = form.get("path", []), form.get("text", [])
    if len(paths) != len(texts):
        raise ApiError(400, "each file of the form needs a 'path' and a 'text'")
    files: list[PolicyFile] = []
    tests: list[PolicyFile] = []
    seen: set[str] = set()
    for raw, text in zip(paths, texts, strict=True):
        path = raw.strip()
        if not path and not text.strip():
            continue
        if len(seen) == MAX_FILES:
            raise ApiError(400, f"at most {MAX_FILES} files")
        if not _acceptable(path):
            raise ApiError(
                400, f"{path!r} is not a policy file name: a relative path ending in .rules, "
                ".yaml, .yml, .json or .test.yaml"
            )
        if path in seen:
            raise ApiError(400, f"the file {path!r} is given twice")
        seen.add(path)
        kind = policy_kind(path)
        assert kind is not None
        f = PolicyFile(path, kind, text.replace("\r\n", "\n").encode("utf-8"))
        (tests if kind == "test" else files).append(f)
    return files, tests


def _acceptable(path: str) -> bool:
    if not path or len(path) > 255 or any(c in path for c in "\x00\\\n\r"):
        return False
    if path.startswith("/") or posixpath.normpath(path) != path or path.startswith(".."):
        return False
    return policy_kind(path) is not None


def serving_files(policy: PolicySet | None) -> list[PolicyFile]:
    """The serving set's files, tests last: where an edit starts from."""
    if policy is None:
        return []
    return [*policy.sources, *policy.test_sources]


class Built:
    """A build of edited text: the policy set, or the errors that stop it, each as
    ``path:line:col: message``."""

    def __init__(self, policy: PolicySet | None, errors: list[str]) -> None:
        self.policy = policy
        self.errors = errors


def _errors(e: EngineError) -> list[str]:
    if isinstance(e, PolicyErrors):
        return [str(x) for x in e.errors]
    return [str(e)]


async def build(
    files: list[PolicyFile],
    tests: list[PolicyFile],
    builtins: dict[str, Builtin] | None,
    lock: asyncio.Semaphore,
) -> Built:
    """Build edited text into a policy set in a worker thread, one build at a time through
    ``lock`` (a build is CPU work: a second one waits rather than halving both)."""
    async with lock:
        try:
            policy = await asyncio.to_thread(
                policy_set_from, "<playground>", files, tests, builtins
            )
        except EngineError as e:
            return Built(None, _errors(e))
        except RecursionError:
            return Built(None, ["<playground>:1:1: the text is nested too deeply"])
    return Built(policy, [])
