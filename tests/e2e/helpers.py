"""What the end-to-end tests share: free ports and bounded waits for real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

DEADLINE = 30.0  # seconds: bounded waits for a process, never a fixed sleep


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something true (a refused connection counts as not
    yet); an AssertionError naming ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            result = check()
        except (httpx.TransportError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def serving(policies: Path, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``siamese serve policies`` as a real process on a free loopback port, with ``env``
    over this process's environment; its base URL once it is ready. Killed after."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siamese", "serve", str(policies), "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is None and httpx.get(f"{url}/ready").status_code == 200,
                 f"the server to be ready (log: {log})")
        yield url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE)
