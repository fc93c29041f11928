"""Hot reload through watchfiles: edits, broken edits, editor rename-saves, a 50-file
change and a Kubernetes ConfigMap ``..data`` swap. Waits on reload events, never sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from siamese.policy.store import PolicyStore, ReloadResult
from siamese.policy.watcher import PolicyWatcher

WAIT = 20.0  # seconds: a bound for events that arrive in milliseconds


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = PolicyStore(root)
        self.results: list[ReloadResult] = []
        self.store.listeners.append(self.results.append)
        self.watcher = PolicyWatcher(self.store, debounce_ms=400, step_ms=60)

    @property
    def new_revisions(self) -> list[str]:
        return [r.revision for r in self.results if r.changed and r.revision]

    async def until(self, predicate: object) -> None:
        async def loop() -> None:
            n = self.store.attempts
            while not predicate():  # type: ignore[operator]
                n += 1
                await self.store.wait_attempts(n)

        await asyncio.wait_for(loop(), WAIT)

    async def settle(self) -> None:
        """Make sure every earlier change has been handled: touch a hidden file (it changes
        no revision) and wait for the reload attempt that follows it."""
        n = self.store.attempts
        (self.root / ".sentinel").write_text(str(n))
        await asyncio.wait_for(self.store.wait_attempts(n + 1), WAIT)


@contextlib.asynccontextmanager
async def watching(root: Path) -> AsyncIterator[Harness]:
    """A store loaded from ``root`` and its watcher running, stopped on the way out."""
    h = Harness(root)
    assert h.store.load_sync().ok
    await h.watcher.start()
    try:
        yield h
    finally:
        await h.watcher.stop()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "a.rules").write_text("allow(alice, read, doc).\n")
    async with watching(root) as h:
        yield h


async def test_an_edit_is_served_after_the_swap(harness: Harness) -> None:
    old = harness.store.revision
    (harness.root / "a.rules").write_text("allow(alice, read, doc).\nallow(bob, read, doc).\n")
    await harness.until(lambda: harness.store.revision != old)
    program = harness.store.get().program  # type: ignore[union-attr]
    assert len(program.predicate("allow", 3).rows) == 2
    await harness.settle()
    assert len(harness.new_revisions) == 2  # the first load and this edit


async def test_a_broken_edit_keeps_serving_and_a_fix_is_picked_up(harness: Harness) -> None:
    good = harness.store.revision
    (harness.root / "a.rules").write_text("allow(alice, read, doc).\nallow(bob, read doc).\n")
    await harness.until(lambda: harness.store.last_error is not None)
    assert harness.store.revision == good
    assert harness.store.last_error.startswith("a.rules:2:")  # type: ignore[union-attr]
    (harness.root / "a.rules").write_text("allow(alice, read, doc).\nallow(bob, read, doc).\n")
    await harness.until(lambda: harness.store.revision != good)
    assert harness.store.last_error is None


async def test_an_editor_rename_save_gives_exactly_one_new_revision(harness: Harness) -> None:
    old = harness.store.revision
    (harness.root / ".a.rules.swp").write_text("swap")
    tmp = harness.root / "a.rules.tmp"
    tmp.write_text("allow(alice, write, doc).\n")
    (harness.root / "a.rules~").write_text("allow(alice, read, doc).\n")
    os.replace(tmp, harness.root / "a.rules")
    (harness.root / ".a.rules.swp").unlink()
    await harness.until(lambda: harness.store.revision != old)
    await harness.settle()
    assert len(harness.new_revisions) == 2


async def test_a_50_file_change_gives_exactly_one_new_revision(harness: Harness) -> None:
    old = harness.store.revision
    for i in range(50):
        (harness.root / f"f{i:02}.rules").write_text(f"fact{i}({i}).\n")
    await harness.until(lambda: harness.store.revision != old)
    await harness.settle()
    assert len(harness.new_revisions) == 2
    assert len(harness.store.get().files) == 51  # type: ignore[union-attr]


@pytest.fixture
async def configmap(tmp_path: Path) -> AsyncIterator[Harness]:
    """A directory laid out as kubelet lays out a ConfigMap volume."""
    root = tmp_path / "cm"
    root.mkdir()
    (root / "..2024_01").mkdir()
    (root / "..2024_01" / "a.rules").write_text("allow(alice, read, doc).\n")
    (root / "..data").symlink_to("..2024_01")
    (root / "a.rules").symlink_to("..data/a.rules")
    async with watching(root) as h:
        yield h


async def test_a_configmap_data_swap_gives_exactly_one_new_revision(configmap: Harness) -> None:
    root = configmap.root
    old = configmap.store.revision
    (root / "..2024_02").mkdir()
    (root / "..2024_02" / "a.rules").write_text("allow(alice, read, doc).\nallow(x, y, z).\n")
    (root / "..data_tmp").symlink_to("..2024_02")
    os.replace(root / "..data_tmp", root / "..data")
    shutil.rmtree(root / "..2024_01")
    await configmap.until(lambda: configmap.store.revision != old)
    await configmap.settle()
    assert len(configmap.new_revisions) == 2
    assert configmap.store.get().files == ["a.rules"]  # type: ignore[union-attr]


def repoint(link: Path, target: Path) -> None:
    """Re-point ``link`` atomically, as release tools do (``ln -sfn`` then ``mv -T``)."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.symlink_to(target)
    os.replace(tmp, link)


async def test_a_root_symlink_repointed_to_another_release(tmp_path: Path) -> None:
    """The review's case: the old release stays on disk, so only the link changes."""
    releases = tmp_path / "releases"
    for n in (1, 2, 3):
        (releases / f"v{n}").mkdir(parents=True)
        (releases / f"v{n}" / "a.rules").write_text(f"allow(alice, read, doc{n}).\n")
    link = tmp_path / "policies"
    link.symlink_to(releases / "v1")
    async with watching(link) as h:
        first = h.store.revision
        repoint(link, releases / "v2")
        await h.until(lambda: h.store.revision != first)
        second = h.store.revision
        # the new target is the one watched now: an edit in it is picked up, and so is
        # the next release
        (releases / "v2" / "a.rules").write_text("allow(alice, read, doc22).\n")
        await h.until(lambda: h.store.revision != second)
        third = h.store.revision
        repoint(link, releases / "v3")
        await h.until(lambda: h.store.revision != third)
        await h.settle()
        assert len(h.new_revisions) == 4
        assert (releases / "v1").is_dir()  # nothing was deleted to make it notice
