"""The policy store: holds the serving policy set and swaps in new ones atomically.

A reload builds the new set completely off the event loop, then replaces one reference
(OPA's reload: one transaction, aborted on any error, the last good set stays live).
A decision reads the reference once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..engine import Builtin, EngineError
from .loader import PolicySet, load_policy_set

log = logging.getLogger("siamese.policy")

__all__ = ["HISTORY", "PolicyStore", "ReloadRecord", "ReloadResult"]

HISTORY = 100  # reload attempts remembered for the console, newest last

# a gate returns None to let a new set serve, or the reason it may not
Gate = Callable[[PolicySet], "str | None"]
# told of each set about to serve, in the build's thread (see PolicyStore); what it
# returns is not read
Keeper = Callable[[PolicySet], object]


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    changed: bool
    revision: str | None
    error: str | None = None


@dataclass(frozen=True)
class ReloadRecord:
    """One reload attempt, as the console's history lists it."""

    at: float  # the store's clock (epoch seconds)
    ok: bool
    changed: bool  # a new revision started serving
    revision: str | None  # the revision serving after the attempt
    error: str | None = None


class PolicyStore:
    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        builtins: dict[str, Builtin] | None = None,
        tabling: bool = True,
        gate: Gate | None = None,
        before_serving: Keeper | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``before_serving(set)`` is called with each set that passed the gate, in the
        thread that built it (a reload's worker thread, so that its file writes never
        block the event loop) and before it is swapped in (so that whatever it keeps, such
        as an archive of revisions, has the set before any decision is made with it). It is
        also called for a rebuild of the revision already serving. Its failure is logged
        and does not keep the set from serving."""
        self.root = str(root)
        self.builtins = builtins
        self.tabling = tabling
        self.gate = gate
        self.before_serving = before_serving
        self.clock = clock
        self.current: PolicySet | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.loaded_at: float | None = None
        self.reloads = 0  # new revisions swapped in (the first load included)
        self.failures = 0  # attempts that left the previous set serving
        self.attempts = 0
        self.history: deque[ReloadRecord] = deque(maxlen=HISTORY)
        self._lock = asyncio.Lock()
        self._attempted = asyncio.Condition()
        self.listeners: list[Callable[[ReloadResult], None]] = []

    def get(self) -> PolicySet | None:
        return self.current

    @property
    def revision(self) -> str | None:
        cur = self.current
        return cur.revision if cur is not None else None

    def _build(self) -> PolicySet:
        ps = load_policy_set(self.root, self.builtins, self.tabling)
        if self.gate is not None:
            reason = self.gate(ps)
            if reason is not None:
                raise EngineError(
                    f"policy tests failed, not serving revision {ps.revision}: {reason}"
                )
        if self.before_serving is not None:
            try:
                self.before_serving(ps)
            except Exception:
                log.exception("revision %s serves, but keeping it failed", ps.revision)
        return ps

    def load_sync(self) -> ReloadResult:
        """The first load, before the event loop runs (raises nothing: see the result)."""
        try:
            ps = self._build()
        except (EngineError, OSError, UnicodeDecodeError) as e:
            return self._failed(e)
        return self._swap(ps)

    async def reload(self) -> ReloadResult:
        """Build the policy set again off the event loop; swap it in if it changed."""
        async with self._lock:
            try:
                ps = await asyncio.to_thread(self._build)
            except (EngineError, OSError, UnicodeDecodeError) as e:
                result = self._failed(e)
            except Exception as e:  # a bug in loading must not kill the watcher
                log.exception("policy reload crashed")
                result = self._failed(e)
            else:
                result = self._swap(ps)
        async with self._attempted:
            self._attempted.notify_all()
        return result

    def _swap(self, ps: PolicySet) -> ReloadResult:
        self.attempts += 1
        self.last_error = None
        self.last_error_at = None
        if self.current is not None and self.current.revision == ps.revision:
            return self._tell(ReloadResult(True, False, ps.revision))
        self.current = ps  # the one atomic step: decisions read this reference once
        self.loaded_at = self.clock()
        self.reloads += 1
        log.info("serving policy revision %s (%d files)", ps.revision, len(ps.files))
        return self._tell(ReloadResult(True, True, ps.revision))

    def _failed(self, e: BaseException) -> ReloadResult:
        self.attempts += 1
        self.failures += 1
        self.last_error = str(e)
        self.last_error_at = self.clock()
        log.error("policy reload failed, still serving %s:\n%s", self.revision, e)
        return self._tell(ReloadResult(False, False, self.revision, str(e)))

    def _tell(self, result: ReloadResult) -> ReloadResult:
        self.history.append(ReloadRecord(
            self.clock(), result.ok, result.changed, result.revision, result.error
        ))
        for listener in self.listeners:
            listener(result)
        return result

    async def wait_attempts(self, n: int) -> None:
        """Wait until at least ``n`` reload attempts have finished (for tests and tools)."""
        async with self._attempted:
            await self._attempted.wait_for(lambda: self.attempts >= n)
