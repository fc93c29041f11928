"""The live view: the decisions this server process answers, as they are answered, with the
rate, the deny share and the causes of the most denials over the last minute.

``/console/live`` renders the feed as it is (a refresh shows the latest, without
JavaScript); ``/console/live/data?after=SEQ`` answers the same as JSON with only the
decisions numbered after ``SEQ``, which ``static/live.js`` asks for at most every two
seconds. Each worker process has its own feed (the page says so when there are several).
What is shown of a decision is made here, when asked, without the request's secrets.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..decision.redact import cut
from ..server.responses import ApiError
from .app import Console, Page
from .feed import DecisionFeed, Denied, Entry, Snapshot
from .render import when

__all__ = ["MAX_AFTER", "POLL_SECONDS", "after_of", "routes"]

POLL_SECONDS = 2  # live.js asks for new decisions at most this often
MAX_AFTER = 10**18 - 1  # a decision number: 18 digits at most (within 63 bits)
SHOWN_CHARS = 300  # characters of an id or a reason in a row (the decision's page has all)
_DIGITS = re.compile(r"[0-9]{1,18}")


def after_of(request: Request) -> int:
    """The ``after`` query parameter: a decision number (0 when absent); 400 when it is
    sent twice, or is not an integer from 0 to :data:`MAX_AFTER`."""
    values = request.query_params.getlist("after")
    if not values:
        return 0
    if len(values) > 1:
        raise ApiError(400, "the query parameter 'after' is sent more than once")
    if _DIGITS.fullmatch(values[0]) is None:
        raise ApiError(400, f"'after' must be a decision number: an integer from 0 to "
                            f"{MAX_AFTER}")
    return int(values[0])


def _label(d: Denied) -> str:
    if d.kind == "rule":
        return d.rule or "a deny rule"
    if d.kind == "no-allow-rule":
        return "no allow rule"
    return f"limit exceeded: {d.rule}" if d.rule else "evaluation error"


def _cause(d: Denied) -> dict[str, Any]:
    href = None
    if d.kind == "rule" and d.rule:
        href = "/console/policies#" + quote("rule-" + d.rule, safe="")
    return {"kind": d.kind, "rule": d.rule, "label": _label(d), "count": d.count,
            "href": href}


class Live:
    """The feed of one console, and what its pages show of it."""

    def __init__(self, console: Console, feed: DecisionFeed) -> None:
        self.console = console
        self.feed = feed
        self.id = os.urandom(6).hex()  # names this process's feed: a restart makes another

    def row(self, entry: Entry) -> dict[str, Any]:
        """What a row shows of a kept decision: its ids, reason and the like without the
        request's secrets (as the decision log shows them), long texts cut."""
        d = entry.decision
        request, outcome = d.request, d.outcome
        scrub = self.console.ctx.redact.of(request.input).scrub

        def shown(s: str) -> str:
            s = scrub.text(s) if scrub is not None else s
            return cut(s, SHOWN_CHARS) if len(s) > SHOWN_CHARS else s

        return {
            "seq": entry.seq,
            "decision_id": d.decision_id,
            "href": "/console/decisions/" + quote(d.decision_id, safe=""),
            "at": entry.at,
            "time": when(entry.at),
            "decision": outcome.allowed,
            "subject": shown(request.subject),
            "action": shown(request.action),
            "resource": shown(request.resource),
            "reason": shown(outcome.reason),
            "revision": outcome.revision,
            "cached": d.cached,
            "latency_us": d.latency_us,
        }

    def data(self, snap: Snapshot) -> dict[str, Any]:
        """The figures and the rows of a snapshot, as ``/console/live/data`` answers them."""
        return {
            "feed": self.id,
            "seq": snap.seq,
            "size": self.feed.size,
            "window": round(snap.window, 3),
            "decided": snap.decided,
            "denied": snap.denied,
            "rate": round(snap.rate, 3),
            "deny_share": None if snap.deny_share is None else round(snap.deny_share, 4),
            "top_denied": [_cause(d) for d in snap.top_denied],
            "sampled": snap.sampled,
            "decisions": [self.row(e) for e in snap.entries],
            "missed": snap.missed,
            "workers": self.console.ctx.settings.workers,
            "poll_seconds": POLL_SECONDS,
            "listener_errors": self.console.ctx.listener_errors,
        }


def routes(console: Console) -> list[BaseRoute]:
    """The live view's routes; its feed is told of every decision from now on."""
    feed = DecisionFeed()
    console.ctx.listeners.append(feed.add)
    live = Live(console, feed)

    async def page(request: Request) -> Page:
        return Page("live.html", {"title": "Live", **live.data(feed.snapshot())})

    async def data(request: Request) -> dict[str, Any]:
        return live.data(feed.snapshot(after_of(request)))

    return [
        Route("/live", console.page(page), methods=["GET"], name="live"),
        Route("/live/data", console.json(data), methods=["GET"], name="live_data"),
    ]
