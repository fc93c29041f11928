"""The revision archive: each revision that serves kept whole (written aside, then renamed),
once, listed by when it last started serving, looked up only by a revision's name; and the
store's hook that keeps it, run in the reload's thread before the set serves."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest

from siamese.policy import archive as archive_module
from siamese.policy.archive import RevisionArchive
from siamese.policy.loader import PolicyFile, PolicySet, load_policy_set
from siamese.policy.store import PolicyStore
from siamese.server.app import build_app
from siamese.settings import Settings

POLICIES = Path(__file__).parents[2] / "policies"


def policy_dir(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


def test_a_revision_is_kept_whole_and_loads_as_the_same_revision(tmp_path: Path) -> None:
    ps = load_policy_set(policy_dir(tmp_path))
    archive = RevisionArchive(tmp_path / "archive")
    kept = archive.keep(ps)
    assert kept == tmp_path / "archive" / ps.revision
    names = sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file())
    assert names == sorted([*ps.files, *ps.tests])
    assert (kept / "access.test.yaml").read_bytes() == (POLICIES / "access.test.yaml").read_bytes()
    again = load_policy_set(kept)
    assert again.revision == ps.revision and again.tests == ps.tests
    assert os.listdir(tmp_path / "archive") == [ps.revision]  # no temporary directory left
    assert [a.revision for a in archive.revisions()] == [ps.revision]
    assert archive.path_of(ps.revision) == kept


def test_a_revision_kept_already_is_not_written_again_but_touched(tmp_path: Path) -> None:
    ps = load_policy_set(policy_dir(tmp_path))
    archive = RevisionArchive(tmp_path / "archive")
    kept = archive.keep(ps)
    assert kept is not None
    (kept / "access.rules").write_text("# changed by hand\n")
    os.utime(kept, (1_000_000, 1_000_000))
    assert archive.keep(ps) is None
    assert (kept / "access.rules").read_text() == "# changed by hand\n"
    assert kept.stat().st_mtime > 1_000_000  # listed as the newest again


def test_revisions_are_listed_by_when_they_last_started_serving(tmp_path: Path) -> None:
    root = policy_dir(tmp_path)
    archive = RevisionArchive(tmp_path / "archive")
    first = load_policy_set(root)
    archive.keep(first)
    (root / "extra.rules").write_text("extra(1).\n")
    second = load_policy_set(root)
    archive.keep(second)
    os.utime(tmp_path / "archive" / first.revision, (1_000_000, 1_000_000))
    assert [a.revision for a in archive.revisions()] == [second.revision, first.revision]
    archive.keep(first)  # a rollback: it serves again
    assert [a.revision for a in archive.revisions()] == [first.revision, second.revision]
    # what is not a revision's directory is not listed
    (tmp_path / "archive" / ".0123456789ab.tmp").mkdir()
    (tmp_path / "archive" / "notes.txt").write_text("x")
    (tmp_path / "archive" / "abcdefabcdef").write_text("a file")
    assert {a.revision for a in archive.revisions()} == {first.revision, second.revision}
    assert RevisionArchive(tmp_path / "nowhere").revisions() == []


def test_two_writers_of_one_revision_leave_one_copy(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (a uvicorn worker) renames the same revision into place between this
    one's check and its rename: this one's copy is dropped."""
    ps = load_policy_set(policy_dir(tmp_path))
    archive = RevisionArchive(tmp_path / "archive")
    rename = os.rename

    def raced(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        other = Path(dst).with_name(".other")
        shutil.copytree(src, other)
        rename(other, dst)
        rename(src, dst)  # fails: the directory is there and not empty

    monkeypatch.setattr(archive_module.os, "rename", raced)
    assert archive.keep(ps) is None
    assert os.listdir(tmp_path / "archive") == [ps.revision]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    ps = load_policy_set(policy_dir(tmp_path))
    bad = PolicySet(ps.root, ps.revision, ps.program, sources=(
        *ps.sources, PolicyFile("../escape.rules", "rules", b"x(1).\n")))
    archive = RevisionArchive(tmp_path / "archive")
    with pytest.raises(ValueError, match="not a relative file name"):
        archive.keep(bad)
    assert os.listdir(tmp_path / "archive") == []
    assert not (tmp_path / "escape.rules").exists()
    with pytest.raises(ValueError, match="not a revision"):
        archive.keep(PolicySet(ps.root, "../../etc", ps.program))


@pytest.mark.parametrize("name", ["", "../etc", "0123456789a", "0123456789abc", "0123456789AB",
                                  "0123456789ab/", "/tmp", "0123456789ab/../x", "..",
                                  "012345678\x009ab", "ffffffffffff"])  # the last: not kept
def test_only_a_kept_revision_name_is_looked_up(tmp_path: Path, name: str) -> None:
    archive = RevisionArchive(tmp_path / "archive")
    (tmp_path / "archive").mkdir()
    with pytest.raises(ValueError):
        archive.path_of(name)


def test_a_symlink_in_the_archive_is_not_a_revision(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "archive" / "0123456789ab")
    archive = RevisionArchive(tmp_path / "archive")
    with pytest.raises(ValueError, match="not in the archive"):
        archive.path_of("0123456789ab")
    assert archive.revisions() == []


async def test_the_store_keeps_each_set_in_the_reload_thread_before_it_serves(
    tmp_path: Path,
) -> None:
    root = policy_dir(tmp_path)
    seen: list[tuple[str, bool, str | None]] = []
    loop_thread = threading.get_ident()

    def keep(ps: PolicySet) -> None:
        seen.append((ps.revision, threading.get_ident() != loop_thread, store.revision))

    store = PolicyStore(root, before_serving=keep)
    first = await store.reload()
    (root / "extra.rules").write_text("extra(1).\n")
    second = await store.reload()
    assert second.changed
    # in a worker thread, and while the previous set still served
    assert seen == [(first.revision, True, None), (second.revision, True, first.revision)]


async def test_a_keeper_that_fails_does_not_stop_the_set_from_serving(tmp_path: Path) -> None:
    def broken(ps: PolicySet) -> None:
        raise OSError(28, "No space left on device")

    store = PolicyStore(policy_dir(tmp_path), before_serving=broken)
    result = await store.reload()
    assert result.ok and store.get() is not None


def test_build_app_keeps_the_first_revision_when_the_archive_is_set(tmp_path: Path) -> None:
    root = policy_dir(tmp_path)
    archive = tmp_path / "archive"
    settings = Settings(policy_dir=str(root), audit_log="off", revision_archive=str(archive),
                        reload=False)
    app = build_app(settings)
    revision = app.state.siamese.store.revision
    assert os.listdir(archive) == [revision]
    assert load_policy_set(archive / revision).revision == revision
    asyncio.run(app.state.siamese.services["http_data"].stop())
