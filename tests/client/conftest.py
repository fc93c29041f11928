"""Real ``siamese serve`` processes on a copy of the shipped policies (one per auth mode,
shared by the tests of a session), a process that can be stopped and started again on its
port, and ``both``: a test run once with :class:`Client` and once with
:class:`AsyncClient`."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from siamese.client import AsyncClient, Client
from tests.e2e.helpers import DEADLINE, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
API_KEY = "client-test-key-0123456789"
JWT_SECRET = "client-test-secret-0123456789-abcdef-0123456789"
# one TLS context for every client of the tests: httpx would load the CA bundle for each
TLS = ssl.create_default_context()


class Process:
    """``siamese serve`` on a fixed port, to stop and start again."""

    def __init__(self, policies: Path, env: dict[str, str], log: Path) -> None:
        self.policies, self.env, self.log = policies, env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "siamese", "serve", str(self.policies), "--host",
                 "127.0.0.1", "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            )
        proc = self.proc
        wait_for(lambda: proc.poll() is None
                 and httpx.get(f"{self.url}/ready").status_code == 200,
                 f"the server to be ready (log: {self.log})")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)

    def revision(self) -> str:
        return str(httpx.get(f"{self.url}/ready").json()["revision"])


@dataclass
class Served:
    url: str
    policies: Path
    audit_log: Path
    revision: str


def _serve(tmp: Path, env: dict[str, str]) -> Iterator[Served]:
    policies = tmp / "policies"
    shutil.copytree(REPO / "policies", policies)
    audit = tmp / "audit" / "decisions.jsonl"
    process = Process(policies, {"SIAMESE_AUDIT_LOG": str(audit), "SIAMESE_AUDIT_REQUIRED":
                                 "on", **env}, tmp / "server.log").start()
    try:
        yield Served(process.url, policies, audit, process.revision())
    finally:
        process.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """No caller authentication (loopback)."""
    yield from _serve(tmp_path_factory.mktemp("plain"), {})


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("keyed"),
                      {"SIAMESE_AUTH": "api-key", "SIAMESE_API_KEYS": API_KEY})


@pytest.fixture(scope="session")
def jwt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("jwt"),
                      {"SIAMESE_AUTH": "jwt", "SIAMESE_JWT_SECRET": JWT_SECRET})


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A server the tests stop and start again (each leaves it running)."""
    tmp_path = tmp_path_factory.mktemp("restartable")
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    process = Process(policies, {"SIAMESE_AUDIT_LOG": "off"}, tmp_path / "server.log")
    try:
        yield process.start()
    finally:
        process.stop()


class Both:
    """Call a client method in the form of this run: ``sync`` or ``async``. ``options``
    are the client's; ``sleep`` (a plain function) is wrapped for the async client."""

    def __init__(self, form: str) -> None:
        self.form = form

    def __call__(self, url: str, method: str, *args: Any, options: dict[str, Any] | None = None,
                 **kwargs: Any) -> Any:
        return self.many(url, [(method, args, kwargs)], options=options)[0]

    def many(self, url: str, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]], *,
             options: dict[str, Any] | None = None) -> list[Any]:
        """Several calls through one client."""
        options = {"verify": TLS, **(options or {})}
        if self.form == "sync":
            with Client(url, **options) as c:
                return [getattr(c, m)(*a, **k) for m, a, k in calls]
        sleep: Callable[[float], Any] | None = options.pop("sleep", None)
        if sleep is not None:
            async def asleep(delay: float) -> None:
                await asyncio.to_thread(sleep, delay)

            options["sleep"] = asleep

        async def run() -> list[Any]:
            async with AsyncClient(url, **options) as c:
                return [await getattr(c, m)(*a, **k) for m, a, k in calls]

        return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def both(request: pytest.FixtureRequest) -> Both:
    return Both(request.param)
