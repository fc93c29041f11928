"""Browser tests of the console: Debian's chromium, driven by Playwright, against a real
``siamese serve`` process. Screenshots go to tests/console/screenshots/ (kept by CI as
artifacts; their paths are printed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import serving

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# what the machine's closed network needs: no background connections, no sandbox as root
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """Debian's chromium; a skip without it (an error in CI, which installs it)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)",
                    allow_module_level=True)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: Playwright's sync API keeps its
    event loop marked running on this thread until it stops, and an async test run after it
    (pytest-asyncio's, anywhere in the suite) could not start its own loop."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own session storage) and page; console errors fail the
    test (a script error, a refused inline script or style)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
          if m.type == "error" and "status of 4" not in m.text else None)
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        context.close()
    assert not problems, problems


@dataclass
class Served:
    url: str
    policies: Path  # a copy of the shipped policies/, free to edit
    audit_log: Path


def serve(tmp: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    policies = tmp / "policies"
    shutil.copytree(REPO / "policies", policies)
    audit = tmp / "decisions.jsonl"
    base = {"SIAMESE_AUDIT_LOG": str(audit), "SIAMESE_CACHE_TTL": "0"}
    with serving(policies, {**base, **(env or {})}, tmp / "server.log") as url:
        yield Served(url, policies, audit)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``siamese serve`` on a copy of the shipped policies, console on (a loopback host)."""
    yield from serve(tmp_path)


# the screenshots the README shows, one a page: ``SIAMESE_UPDATE_SCREENSHOTS=1 make test``
# copies them to docs/console/ as the tests make them
DOCS = REPO / "docs" / "console"
README_SHOTS = frozenset({"policies-reload-error", "playground-allow", "decision-allow",
                          "impact", "live"})


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """A screenshot under tests/console/screenshots/ (the whole page unless ``full_page``
    is false); its path is printed. One of README_SHOTS is also copied to docs/console/
    when SIAMESE_UPDATE_SCREENSHOTS is set."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    if name in README_SHOTS and os.environ.get("SIAMESE_UPDATE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Where the screenshots are, for a reviewer (CI keeps the folder as an artifact)."""
    if SCREENSHOTS.is_dir():
        shots = sorted(SCREENSHOTS.glob("*.png"))
        if shots:
            terminalreporter.write_line(
                f"console screenshots ({len(shots)}): {SCREENSHOTS}/ "
                + ", ".join(p.name for p in shots)
            )
