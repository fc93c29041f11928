"""The client's optional decision cache (off by default).

The server's own cache keys a decision on what the policy's ``input`` goals observe of the
request: the client cannot know that, so it keys on more: the whole canonical request body
(the exact bytes it sends; the X-Request-ID and traceparent headers are not part of it) and
the policy revision the server last reported. An answer that reports another revision
empties the cache, so a decision of an older revision is never served once the client has
seen a newer one.

Staleness: after the server reloads, the client serves the old revision's decisions until
it next hears from the server (a miss, a search, a plan) or until their TTL passes, so
for at most ``ttl`` seconds. And it caches decisions the server would not cache (those
over the time of day or external data, which the answer does not mark), so keep the TTL
short. Only well-formed answers are cached: never a decision the client could not get,
nor one the server denied on an error (an explanation of kind ``error``: a limit, a
timeout, an unwritable decision log), which the next call may not meet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache

from .results import Decision

__all__ = ["DecisionCache"]


class DecisionCache:
    """Decisions by (revision, canonical body), at most ``maxsize`` for ``ttl`` seconds of
    ``timer``. Safe to share between threads (one lock, held for dictionary work only)."""

    def __init__(
        self, ttl: float, maxsize: int = 10_000, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl <= 0 or maxsize <= 0:
            raise ValueError("a cache needs a positive ttl and maxsize")
        self._entries: TTLCache[tuple[str, bytes], Decision] = TTLCache(
            maxsize, ttl, timer=timer
        )
        self._revision: str | None = None
        self._lock = threading.Lock()

    @property
    def revision(self) -> str | None:
        """The revision the server last reported."""
        return self._revision

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, body: bytes) -> Decision | None:
        with self._lock:
            if self._revision is None:
                return None
            return self._entries.get((self._revision, body))

    def saw(self, revision: str | None) -> None:
        """The server reported ``revision``: a change empties the cache."""
        if revision is None:
            return
        with self._lock:
            self._seen(revision)

    def put(self, body: bytes, decision: Decision) -> None:
        """Keep ``decision`` if it may be reused (see the module's docstring)."""
        revision = decision.revision
        if decision.error is not None or revision is None or _on_error(decision):
            return
        with self._lock:
            self._seen(revision)
            self._entries[(revision, body)] = decision

    def _seen(self, revision: str) -> None:
        if revision != self._revision:
            self._entries.clear()
            self._revision = revision


def _on_error(decision: Decision) -> bool:
    e = decision.explanation
    return isinstance(e, dict) and e.get("kind") == "error"
