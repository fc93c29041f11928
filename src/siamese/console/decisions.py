"""The decision log browser: the log searched by the filters of ``siamese audit`` (through
the same :class:`~siamese.audit.search.Filter`), newest first a page at a time, and one
decision with its request, its proof or why-not, and the rules it rests on.

Each request reads the log (the file at SIAMESE_AUDIT_LOG and its rotated files) at most
once, newest first, in a worker thread, and stops as soon as its page is full: it holds at
most a page and one event more, whatever the size of the log. A page is asked relative to a
decision id (``before`` / ``after``), a cursor that stays put while the log grows and
rotates, where a page number would shift under the reader.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..audit.search import Filter, SearchPage, find_event, log_files, printable, search_page
from ..server.responses import ApiError
from .app import Console, Page
from .events import MAX_FIELD, MAX_ID, json_text, row, time_range

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "routes"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
READS_AT_ONCE = 2  # log reads running at once; more wait their turn
_FILTERS = ("subject", "action", "resource", "decision", "rule", "revision", "since", "until")
_DECISIONS = {"": None, "any": None, "allow": True, "deny": False}


def _param(request: Request, name: str, limit: int = MAX_FIELD) -> str:
    """A query parameter's one value ('' when absent); 400 when it is given twice or is
    longer than ``limit``."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"{name}: given more than once")
    value = values[0] if values else ""
    if len(value) > limit:
        raise ApiError(400, f"{name}: longer than {limit} characters")
    return value


class Search:
    """The search a query string asks for: its filter, page size and cursor."""

    def __init__(self, request: Request) -> None:
        self.values = {name: _param(request, name) for name in _FILTERS}
        self.size_text = _param(request, "size", 10)
        self.before = _param(request, "before", MAX_ID) or None
        self.after = _param(request, "after", MAX_ID) or None
        decision = self.values["decision"].strip().lower()
        if decision not in _DECISIONS:
            raise ApiError(400, "decision: allow, deny or any")
        self.size = DEFAULT_PAGE_SIZE
        if self.size_text:
            try:
                self.size = int(self.size_text)
            except ValueError:
                self.size = 0
            if not 1 <= self.size <= MAX_PAGE_SIZE:
                raise ApiError(400, f"size: a number of decisions from 1 to {MAX_PAGE_SIZE}")
        if self.before and self.after:
            raise ApiError(400, "before, after: a page is before a decision or after one")
        since, until = time_range(self.values["since"], self.values["until"])
        text = {k: v.strip() or None for k, v in self.values.items()}
        self.filter = Filter(subject=text["subject"], action=text["action"],
                             resource=text["resource"], decision=_DECISIONS[decision],
                             rule=text["rule"], revision=text["revision"],
                             since=since, until=until)

    def href(self, **cursor: str) -> str:
        """This search's address with another cursor (none: the newest page)."""
        query = {k: v for k, v in self.values.items() if v}
        if self.size != DEFAULT_PAGE_SIZE:
            query["size"] = str(self.size)
        query.update(cursor)
        return "/console/decisions" + ("?" + urlencode(query) if query else "")


def _search_values(console: Console, form: dict[str, str]) -> dict[str, Any]:
    """What the search page shows before any search: the log's state, the form as sent."""
    settings = console.ctx.settings
    return {"title": "Decisions", "audit_enabled": settings.audit_enabled,
            "audit_log": settings.audit_log, "form": form, "max_size": MAX_PAGE_SIZE,
            "default_size": DEFAULT_PAGE_SIZE, "rows": None, "problem": None}


def routes(console: Console) -> list[BaseRoute]:
    reads = asyncio.Semaphore(READS_AT_ONCE)
    settings = console.ctx.settings

    async def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with reads:
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except OSError as e:
                raise ApiError(503, f"the decision log cannot be read: {e}") from None

    async def search(request: Request) -> Page:
        if "id" in request.query_params:
            return await _one(_param(request, "id", MAX_ID))
        # the form is shown again as it was sent, also when a field of it is refused
        values = _search_values(console, {k: request.query_params.get(k, "")[:MAX_FIELD]
                                          for k in (*_FILTERS, "size")})
        try:
            query = Search(request)
        except ApiError as e:
            if e.status != 400:
                raise
            return Page("decisions.html", {**values, "problem": e.message}, 400)
        if not settings.audit_enabled:
            return Page("decisions.html", values)
        values["logged"] = bool(log_files(settings.audit_log))
        page: SearchPage = await read(search_page, settings.audit_log, query.filter,
                                      query.size, before=query.before, after=query.after)
        rows = [row(e) for e in page.events]
        values.update({
            "rows": rows,
            "found": page.found,
            "size": query.size,
            "newest": query.href(),
            "newer": query.href(after=page.events[0].get("decision_id", ""))
            if page.newer and rows else None,
            "older": query.href(before=page.events[-1].get("decision_id", ""))
            if page.older and rows else None,
            "cursor": query.before or query.after,
        })
        return Page("decisions.html", values)

    async def one(request: Request) -> Page:
        ident = request.path_params["decision_id"]
        if len(ident) > MAX_ID:
            raise ApiError(400, f"a decision id is at most {MAX_ID} characters")
        return await _one(ident)

    async def _one(ident: str) -> Page:
        if not settings.audit_enabled:
            return Page("decisions.html", _search_values(console, {}))
        if not ident:
            raise ApiError(400, "id: which decision?")
        event = await read(find_event, settings.audit_log, ident)
        if event is None:
            raise ApiError(404, f"no decision {printable(ident)!r} in the decision log")
        return Page("decision.html", _decision_values(console, event))

    return [
        Route("/decisions", console.page(search), methods=["GET"], name="decisions"),
        Route("/decisions/{decision_id}", console.page(one), methods=["GET"], name="decision"),
    ]


def _decision_values(console: Console, event: dict[str, Any]) -> dict[str, Any]:
    shown = row(event)
    explanation = event.get("explanation")
    serving = console.ctx.store.revision
    errors = event.get("errors")
    notes = event.get("truncated")
    return {
        "title": f"Decision {shown.id}",
        "d": shown,
        "reason": printable(str(event.get("reason", ""))),
        "cached": event.get("cached") is True,
        "latency_us": event.get("latency_us") if isinstance(event.get("latency_us"), int)
        else None,
        "request_json": json_text(event.get("request")),
        "explanation": printable(explanation) if isinstance(explanation, dict) else None,
        "errors": [printable(str(x)) for x in errors] if isinstance(errors, list) else [],
        "truncated": [printable(str(x)) for x in notes] if isinstance(notes, list) else [],
        "degraded": printable(str(event["degraded"])) if event.get("degraded") else None,
        "serving_revision": serving,
        "other_revision": bool(shown.revision) and shown.revision != serving,
    }
