"""Read a policy directory into a compiled program with a revision.

Only this room (and the CLI) touches the file system; the engine parses text.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import (
    Builtin,
    EngineError,
    PolicyErrors,
    PolicySyntaxError,
    Program,
    finish,
    parse_source,
    policy_kind,
)


@dataclass
class PolicyFile:
    path: str  # relative to the policy directory, with '/' separators
    kind: str
    data: bytes


@dataclass
class PolicySet:
    """A loaded, compiled policy set. ``revision`` names it in every decision."""

    root: str
    revision: str
    program: Program
    files: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    # the text the set was built from (what the console shows and its playground starts
    # from), and that of its test files as they were read with it
    sources: tuple[PolicyFile, ...] = ()
    test_sources: tuple[PolicyFile, ...] = ()


def scan(root: str | os.PathLike[str]) -> tuple[list[PolicyFile], list[str]]:
    """The policy files under ``root`` (sorted by path) and the test files beside them."""
    # Resolved once: a root that is a symlink re-pointed during the scan (a release swap)
    # must not give a set with some files of each release.
    base = Path(os.path.realpath(root))
    if not base.is_dir():
        raise EngineError(f"{root}: not a directory")
    files: list[PolicyFile] = []
    tests: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        # hidden directories hold editor state, VCS data, and a ConfigMap's '..data' twins
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            kind = policy_kind(name)
            if kind is None:
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(base).as_posix()
            if kind == "test":
                tests.append(rel)
                continue
            try:
                data = full.read_bytes()
            except OSError as e:  # a dangling link, a file removed mid-scan, no permission
                raise EngineError(f"{rel}:1:1: cannot read: {e.strerror or e}") from None
            files.append(PolicyFile(rel, kind, data))
    files.sort(key=lambda f: f.path)
    return files, sorted(tests)


def revision_of(files: list[PolicyFile]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.path.encode())
        h.update(b"\0")
        h.update(len(f.data).to_bytes(8, "big"))
        h.update(f.data)
    return h.hexdigest()[:12]


def build_program(
    files: list[PolicyFile],
    builtins: dict[str, Builtin] | None = None,
    tabling: bool = True,
    lint_errors: bool = True,
) -> Program:
    """Parse and compile every file; all syntax errors of all files are reported at once."""
    program = Program(builtins)
    program.tabling = tabling
    errors: list[EngineError] = []
    for f in files:
        try:
            text = f.data.decode("utf-8")
        except UnicodeDecodeError as e:
            errors.append(EngineError(f"{f.path}:1:1: not UTF-8 text ({e.reason})"))
            continue
        try:
            program.add_items(parse_source(text, f.path, f.kind))
        except PolicyErrors as e:
            errors.extend(e.errors)
        except EngineError as e:
            errors.append(e)
    if not errors:
        try:
            finish(program)
        except EngineError as e:
            errors.append(e)
    if not errors and lint_errors:
        from .lint import lint

        errors.extend(
            PolicySyntaxError(f.path, f.line, f.col, f.message)
            for f in lint(program, errors_only=True)
        )
    if errors:
        raise errors[0] if len(errors) == 1 else PolicyErrors(errors)
    return program


def load_policy_set(
    root: str | os.PathLike[str], builtins: dict[str, Builtin] | None = None, tabling: bool = True
) -> PolicySet:
    files, tests = scan(root)
    program = build_program(files, builtins, tabling)
    return PolicySet(
        str(root), revision_of(files), program, [f.path for f in files], tests,
        sources=tuple(files), test_sources=tuple(read_tests(root, tests)),
    )


def policy_set_from(
    root: str,
    files: list[PolicyFile],
    tests: list[PolicyFile] | None = None,
    builtins: dict[str, Builtin] | None = None,
    tabling: bool = True,
) -> PolicySet:
    """A policy set from files held in memory (the console's playground: text edited in a
    browser, never written to disk), built and checked as a directory's would be. ``root``
    only names where it came from. Raises EngineError (PolicyErrors for several)."""
    files = sorted(files, key=lambda f: f.path)
    tests = sorted(tests or [], key=lambda f: f.path)
    program = build_program(files, builtins, tabling)
    return PolicySet(
        root, revision_of(files), program, [f.path for f in files], [t.path for t in tests],
        sources=tuple(files), test_sources=tuple(tests),
    )


def read_tests(root: str | os.PathLike[str], names: list[str]) -> list[PolicyFile]:
    """The test files named (as ``scan`` lists them), with their text; one that cannot be
    read is left out (the tests are run from the files, where it fails with its reason)."""
    base = Path(os.path.realpath(root))
    out = []
    for name in names:
        try:
            out.append(PolicyFile(name, "test", (base / name).read_bytes()))
        except OSError:
            continue
    return out
