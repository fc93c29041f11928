"""The JSON-lines file sink: appends whole lines, rotates by size, safe with several
processes writing the same file.

Each batch is one ``os.write`` on a descriptor opened with ``O_APPEND``, so lines from
several uvicorn workers never interleave or tear. Rotation takes an exclusive ``flock``
on a lock file beside the log and re-checks the size under it, so only one process
rotates; the others notice (the path's inode changed) and reopen.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["JsonlSink"]


class JsonlSink:
    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 100 * 2**20,
                 backups: int = 5) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd: int | None = None
        self._ino: int | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._fd = fd
        self._ino = os.fstat(fd).st_ino
        return fd

    def _current(self) -> int:
        fd = self._fd
        try:
            if fd is not None and os.stat(self.path).st_ino == self._ino:
                return fd
        except FileNotFoundError:
            pass
        self.close()  # rotated away (or deleted) by someone else: start the new file
        return self._open()

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines) in one write; raises OSError on failure."""
        fd = self._current()
        if self.max_bytes and os.fstat(fd).st_size + len(data) > self.max_bytes:
            self._rotate(len(data))
            fd = self._current()
        view = memoryview(data)
        while view:  # a regular file takes it all at once; loop for the pathological case
            n = os.write(fd, view)
            view = view[n:]

    def _rotate(self, needed: int) -> None:
        lock = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return
            if st.st_ino != self._ino or st.st_size == 0 or st.st_size + needed <= self.max_bytes:
                return  # another process rotated it already (or there is room after all)
            for i in range(self.backups - 1, 0, -1):
                src = Path(f"{self.path}.{i}")
                if src.exists():
                    os.replace(src, f"{self.path}.{i + 1}")
            if self.backups > 0:
                os.replace(self.path, f"{self.path}.1")
            else:
                os.unlink(self.path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)

    def files(self) -> list[Path]:
        """The log's files, oldest first."""
        out = [Path(f"{self.path}.{i}") for i in range(self.backups, 0, -1)]
        out.append(self.path)
        return [p for p in out if p.exists()]

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None
