"""The impact view: ``siamese replay`` in the browser. The logged decisions of a time range
are decided again (through the same :func:`~siamese.audit.replay.replay`) under edited
policy text or a revision kept in the archive (SIAMESE_REVISION_ARCHIVE), and the decisions
that would change are listed with both explanations side by side.

The text comes as the playground's form fields (repeated ``path``/``text`` pairs, see
``sources``), so the playground can post its edit here. A replay is bounded: a time range
always (the last 24 hours unless one is given), at most MAX_REPLAYED decisions (the newest),
the engine's limits of a decision for each, REPLAY_SECONDS for them all, and one replay at a
time. The log is read newest first in a worker thread, a batch at a time, and the event loop
is given back between decisions, so that a replay never holds the server up for more than
one decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..audit.replay import Change, replay
from ..audit.search import Filter, printable, read_events_newest_first
from ..decision.authorizer import Authorizer
from ..engine import EngineError
from ..policy.archive import Archived, RevisionArchive
from ..policy.loader import PolicyFile, PolicySet, load_policy_set
from ..server.responses import ApiError
from .app import Console, Page, field_of
from .events import Row, row, time_range
from .sources import build, files_from_form, serving_files

__all__ = ["DEFAULT_SINCE", "MAX_REPLAYED", "MAX_SHOWN", "REPLAY_SECONDS", "Impact", "routes"]

DEFAULT_SINCE = "24h"
MAX_REPLAYED = 10_000  # decisions replayed at most: the newest of the range
MAX_SHOWN = 200  # changed decisions shown with their explanations; the rest are counted
REPLAY_SECONDS = 60.0  # wall time of a whole replay
READ_BATCH = 256  # events read from the log per trip to the worker thread


@dataclass
class Shown:
    """A decision that would change, as the page shows it (every value printable)."""

    row: Row
    rule: str  # the rule that makes the difference (as ``siamese replay`` names it)
    old_reason: str
    new_reason: str
    new_allowed: bool
    old_explanation: Any
    new_explanation: Any


@dataclass
class Impact:
    replayed: int = 0
    changed: int = 0
    shown: list[Shown] = field(default_factory=list)
    more: bool = False  # the range holds more decisions than were replayed
    stopped: bool = False  # the time budget ran out first


def _shown(c: Change) -> Shown:
    e = c.event
    old = e.get("explanation")
    return Shown(row(e), printable(c.rule), printable(str(e.get("reason", ""))),
                 printable(c.new.reason),
                 c.new.allowed,
                 printable(old) if isinstance(old, dict) else None,
                 printable(c.new.explanation))


def _take(events: Iterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return list(islice(events, n))


async def run_replay(
    path: str,
    match: Filter,
    policy: PolicySet,
    authorizer: Authorizer,
    *,
    limit: int = MAX_REPLAYED,
    seconds: float = REPLAY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Impact:
    """Replay the newest ``limit`` logged decisions that ``match`` against ``policy``."""
    impact = Impact()
    events = read_events_newest_first(path)
    # (a logged request that is not an object cannot be decided again: left out)
    matching: Iterator[dict[str, Any]] = (
        e for e in events if match(e) and isinstance(e.get("request") or {}, dict))
    deadline = clock() + seconds
    try:
        while impact.replayed < limit and not impact.stopped:
            want = min(READ_BATCH, limit - impact.replayed)
            batch = await asyncio.to_thread(_take, matching, want)
            if not batch:
                break
            for e in batch:
                if clock() > deadline:
                    impact.stopped = True
                    break
                count, changes = await replay([e], policy, authorizer)
                impact.replayed += count
                for c in changes:
                    impact.changed += 1
                    if len(impact.shown) < MAX_SHOWN:
                        impact.shown.append(_shown(c))
                await asyncio.sleep(0)  # the server's own requests go between decisions
        if impact.replayed >= limit:
            impact.more = await asyncio.to_thread(lambda: next(matching, None) is not None)
    finally:
        events.close()
    return impact


def routes(console: Console) -> list[BaseRoute]:
    ctx = console.ctx
    settings = ctx.settings
    replays = asyncio.Semaphore(1)
    archive = RevisionArchive(settings.revision_archive) if settings.revision_archive else None

    async def revisions() -> list[Archived]:
        return await asyncio.to_thread(archive.revisions) if archive is not None else []

    async def values(**more: Any) -> dict[str, Any]:
        return {
            "title": "Impact",
            "audit_enabled": settings.audit_enabled,
            "audit_log": settings.audit_log,
            "archive": settings.revision_archive,
            "revisions": await revisions(),
            "since": DEFAULT_SINCE,
            "until": "",
            "files": serving_files(ctx.store.get()),
            "chosen": None,
            "target": "text",
            "errors": [],
            "problem": None,
            "result": None,
            **more,
        }

    async def form_page(request: Request) -> Page:
        return Page("impact.html", await values())

    async def load_archived(revision: str) -> PolicySet:
        if archive is None:
            raise ApiError(400, "revision: no revision archive is kept (set "
                                "SIAMESE_REVISION_ARCHIVE to keep every revision that serves)")
        try:
            path = archive.path_of(revision)
        except ValueError as e:
            raise ApiError(400, f"revision: {e}") from None
        async with console.builds:
            try:
                return await asyncio.to_thread(load_policy_set, path, ctx.store.builtins,
                                               ctx.store.tabling)
            except (EngineError, OSError, UnicodeDecodeError) as e:
                raise ApiError(422, f"revision {revision} no longer loads: {e}") from None

    async def post(request: Request) -> Page:
        form = await console.form(request)
        target = field_of(form, "target", "text")
        since_text, until_text = field_of(form, "since"), field_of(form, "until")
        shown: dict[str, Any] = {"since": since_text or DEFAULT_SINCE, "until": until_text,
                                 "target": target}
        files: list[PolicyFile] = []
        tests: list[PolicyFile] = []
        if target == "text":
            files, tests = files_from_form(form)
            shown["files"] = [*files, *tests]
        elif target == "revision":
            shown["chosen"] = field_of(form, "revision")
        else:
            raise ApiError(400, "target: text or revision")

        async def refused(status: int, problem: str, errors: list[str] | None = None) -> Page:
            return Page("impact.html", await values(**shown, problem=problem,
                                                    errors=errors or []), status)

        try:
            since, until = time_range(since_text, until_text, DEFAULT_SINCE)
        except ApiError as e:
            return await refused(e.status, e.message)
        if not settings.audit_enabled:
            return await refused(409, "the decision log is off (SIAMESE_AUDIT_LOG=off): "
                                      "there is no decision to replay")
        if target == "text":
            if not files:
                return await refused(400, "text: no policy file to replay against")
            built = await build(files, tests, ctx.store.builtins, console.builds)
            if built.policy is None:
                return await refused(400, "the edited text does not build", built.errors)
            policy, label = built.policy, "the edited text"
        else:
            try:
                policy = await load_archived(shown["chosen"])
            except ApiError as e:
                return await refused(e.status, e.message)
            label = "an archived revision"
        if replays.locked():
            return await refused(409, "another replay is running: try again when it ends")
        async with replays:
            try:
                impact = await run_replay(settings.audit_log, Filter(since=since, until=until),
                                          policy, Authorizer(limits=settings.limits()))
            except OSError as e:
                return await refused(503, f"the decision log cannot be read: {e}")
        serving = ctx.store.revision
        return Page("impact.html", await values(**shown, result={
            "impact": impact, "revision": policy.revision, "label": label,
            "since": since, "until": until, "limit": MAX_REPLAYED,
            "max_shown": MAX_SHOWN, "seconds": REPLAY_SECONDS,
            "new_links": policy.revision == serving, "serving": serving,
        }))

    return [
        Route("/impact", console.page(form_page), methods=["GET"], name="impact"),
        Route("/impact", console.page(post), methods=["POST"], name="impact_replay"),
    ]

