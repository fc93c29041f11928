"""Hot reload: watch the policy directory with watchfiles and reload the store.

Every change counts, hidden ones included: a Kubernetes ConfigMap volume changes only
its ``..data`` symlink and ``..<timestamp>`` directories, never the visible file names.
The store swaps only when the revision (a hash of the contents) changes, so editor
temp files and repeated events cost a reload attempt but never a spurious revision.

The root itself may be a symlink (or sit below one) that a release re-points atomically
(``ln -sfn releases/v2 policies.tmp && mv -T policies.tmp policies``): nothing changes
inside the old target, so the watch on it says nothing. The watcher looks at where the
root resolves to every time the watch wakes up (at least every ``rust_timeout``), and on
a change reloads and watches the new target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

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
        catch_up = False
        while not self._stop.is_set():
            try:
                if not os.path.isdir(self.store.root):
                    raise FileNotFoundError(f"{self.store.root}: the policy directory is missing")
                target = os.path.realpath(self.store.root)
                watcher = awatch(
                    target,
                    watch_filter=None,
                    debounce=self.debounce_ms,
                    step=self.step_ms,
                    stop_event=self._stop,
                    recursive=True,
                    yield_on_timeout=True,
                    rust_timeout=200,
                )
                async for changes in watcher:
                    if self.state != "running":  # the watch is set up
                        self.state = "running"
                        self.error = None
                        self._ready.set()
                    if catch_up:  # what changed while nothing was watching
                        catch_up = False
                        await self.store.reload()
                    if os.path.realpath(self.store.root) != target:
                        log.info("policy directory %s now points elsewhere", self.store.root)
                        catch_up = True  # reload once the new target is watched
                        break
                    if not changes:
                        continue
                    log.debug("policy directory changed: %d events", len(changes))
                    await self.store.reload()
                    if not os.path.isdir(self.store.root):
                        # a deleted directory's watch is gone: watch it again when it is back
                        raise FileNotFoundError(
                            f"{self.store.root}: the policy directory was removed"
                        )
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep serving the last good set; retry every second
                self.state = "error"
                self.error = str(e)
                self._ready.set()
                catch_up = True
                log.error("policy watcher: %s; retrying", e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=1.0)
            else:
                if not catch_up:  # stopped; else the root was re-pointed: watch it anew
                    break
        self.state = "stopped"
