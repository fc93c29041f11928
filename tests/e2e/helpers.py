"""What the end-to-end tests share: free ports and bounded waits for real processes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
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
