"""Fault injection around policy loading: the directory deleted or unreadable while
serving, and the watcher's own failures. The last good set keeps serving throughout."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from siamese.policy.store import PolicyStore
from siamese.policy.watcher import PolicyWatcher

from .test_watcher import WAIT, watching


async def test_a_deleted_directory_keeps_the_last_good_set_and_recovers(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "a.rules").write_text("allow(alice, read, doc).\n")
    async with watching(root) as h:
        good = h.store.revision
        shutil.rmtree(root)
        await h.until(lambda: h.store.last_error is not None)
        assert h.store.revision == good and h.store.get() is not None
        assert "not a directory" in (h.store.last_error or "")
        # the directory comes back (a redeploy): the watcher picks it up again
        root.mkdir()
        (root / "a.rules").write_text("allow(alice, read, doc).\nallow(bob, read, doc).\n")
        await h.until(lambda: h.store.revision != good)  # the watcher retries every second
        assert h.store.last_error is None


async def test_an_unreadable_file_keeps_the_last_good_set(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "a.rules").write_text("allow(alice, read, doc).\n")
    store = PolicyStore(root)
    assert store.load_sync().ok
    good = store.revision
    (root / "b.rules").symlink_to(tmp_path / "missing.rules")  # reading it fails
    result = await store.reload()
    assert not result.ok and store.revision == good
    assert (store.last_error or "").startswith("b.rules:1:1: cannot read: No such file")
    (root / "b.rules").unlink()
    (root / "c.rules").write_bytes(b"\xff\xfe not utf-8")
    result = await store.reload()
    assert not result.ok and store.revision == good
    assert "c.rules:1:1: not UTF-8 text" in (store.last_error or "")


async def test_a_watcher_that_fails_reports_it_and_retries(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"  # not there when the watcher starts
    store = PolicyStore(root)
    assert not store.load_sync().ok
    watcher = PolicyWatcher(store, debounce_ms=200, step_ms=50)
    await watcher.start()
    try:
        assert watcher.state == "error" and watcher.error
        root.mkdir()
        (root / "a.rules").write_text("allow(alice, read, doc).\n")

        await asyncio.wait_for(store.wait_attempts(2), WAIT)  # the catch-up reload
        assert store.get() is not None
        assert watcher.state == "running"
    finally:
        await watcher.stop()
