"""The console's app in this process, called from synchronous tests: once a browser test has
started Playwright, this thread's event loop is Playwright's, so each call runs on a loop of
its own in a worker thread."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.server.conftest import build

LOCAL = "http://127.0.0.1:8000"


class Local:
    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as c:
                return await c.request(method, path, **kwargs)

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, call()).result()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def local(tmp_path: Path, text: str | None = None, **settings: Any) -> Local:
    """An app over a small policy set (tests/server's, or ``text``) and these settings."""
    app = build(tmp_path, text, **settings).app if text is not None else \
        build(tmp_path, **settings).app
    return Local(app)
