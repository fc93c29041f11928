"""Hot reload: watch the policy directory with watchfiles and reload the store.

Every change counts, hidden ones included: a Kubernetes ConfigMap volume changes only
its ``..data`` symlink and ``..<timestamp>`` directories, never the visible file names.
The store swaps only when the revision (a hash of the contents) changes, so editor
temp files and repeated events cost a reload attempt but never a spurious revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from watchfiles import awatch

from .store import PolicyStore

log = logging.getLogger("siamese.policy")

__all__ = ["PolicyWatcher"]


class PolicyWatcher:
    def __init__(self, store: PolicyStore, *, debounce_ms: int = 1600, step_ms: int = 100) -> None:
        self.store = store
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.state = "stopped"
        self.error: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="siamese-policy-watcher")
        await self._ready.wait()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.state = "stopped"

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.state = "running"
                watcher = awatch(
                    self.store.root,
                    watch_filter=None,
                    debounce=self.debounce_ms,
                    step=self.step_ms,
                    stop_event=self._stop,
                    recursive=True,
                    yield_on_timeout=True,
                    rust_timeout=200,
                )
                async for changes in watcher:
                    self._ready.set()
                    if not changes:
                        continue
                    log.debug("policy directory changed: %d events", len(changes))
                    await self.store.reload()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # e.g. the directory was deleted: keep serving, retry
                self.state = "error"
                self.error = str(e)
                self._ready.set()
                log.error("policy watcher failed (%s); retrying", e)
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
            else:
                break
        self.state = "stopped"
