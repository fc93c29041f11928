"""The revision archive (SIAMESE_REVISION_ARCHIVE): every policy set that serves, kept on
disk as ``<archive>/<revision>/`` with its policy and test files as they were read, so that
logged decisions can be replayed against it later (the console's impact view; the directory
is also what ``siamese replay --policies`` reads).

A revision is written into a hidden directory beside it, then renamed into place in one
step: a reader sees a revision whole or not at all, and two processes archiving the same
revision at once (uvicorn workers) leave one copy. A revision already kept is not written
again; its directory's time is touched, so that the archive lists revisions by when they
last started serving.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .loader import PolicyFile, PolicySet

__all__ = ["REVISION", "Archived", "RevisionArchive"]

REVISION = re.compile(r"^[0-9a-f]{12}$")  # what loader.revision_of makes


@dataclass(frozen=True)
class Archived:
    revision: str
    path: Path
    at: float  # when it last started serving (the directory's time), epoch seconds


def _relative(path: str) -> bool:
    return (bool(path) and not path.startswith("/") and "\\" not in path and "\0" not in path
            and posixpath.normpath(path) == path and not path.startswith(".."))


class RevisionArchive:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def keep(self, policy: PolicySet) -> Path | None:
        """Keep a policy set's files under its revision; the directory written, or None
        when the revision was kept already. Raises OSError (disk full, no permission) and
        ValueError for a set whose revision or file names could not be a directory's."""
        if not REVISION.match(policy.revision):
            raise ValueError(f"not a revision: {policy.revision!r}")
        target = self.root / policy.revision
        if target.is_dir():
            os.utime(target)
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{policy.revision}.", dir=self.root))
        try:
            for f in (*policy.sources, *policy.test_sources):
                _write(tmp, f)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            os.rename(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if target.is_dir():  # another process kept it first
                return None
            raise
        return target

    def revisions(self) -> list[Archived]:
        """The revisions kept, the one that last started serving first."""
        out = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        for entry in entries:
            if REVISION.match(entry.name) and entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    out.append(Archived(entry.name, Path(entry.path), entry.stat().st_mtime))
        out.sort(key=lambda a: (a.at, a.revision), reverse=True)
        return out

    def path_of(self, revision: str) -> Path:
        """The directory of a kept revision; ValueError for a name that is not a revision
        (a path never reaches the file system) or one not kept."""
        if not REVISION.match(revision):
            raise ValueError(f"not a revision: {revision[:40]!r} (12 hexadecimal digits)")
        path = self.root / revision
        if not path.is_dir() or path.is_symlink():
            raise ValueError(f"revision {revision} is not in the archive")
        return path


def _write(root: Path, f: PolicyFile) -> None:
    if not _relative(f.path):
        raise ValueError(f"not a relative file name: {f.path!r}")
    dest = root / f.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as fh:
        fh.write(f.data)
        fh.flush()
        os.fsync(fh.fileno())  # whole on disk before the rename makes it visible
