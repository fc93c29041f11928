"""A new user's tour: ``siamese serve policies`` on the shipped policies/ themselves (what
``make run`` serves), then every console page in chromium. Its screenshots are the README's:
``SIAMESE_UPDATE_SCREENSHOTS=1 make test`` copies them to docs/console/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import REPO, screenshot
from tests.e2e.helpers import serving, wait_for

DOCS = REPO / "docs" / "console"

REQUESTS = [  # (subject, action, resource): allows and denies of the shipped policies
    ("alice", "read", "runbook"),
    ("ivan", "write", "runbook"),
    ("mallory", "delete", "runbook"),
    ("grace", "share", "payroll"),
]


def _keep(shot: Path) -> None:
    if os.environ.get("SIAMESE_UPDATE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOCS / shot.name)


@pytest.fixture
def shipped(tmp_path: Path) -> Any:
    audit = tmp_path / "decisions.jsonl"
    env = {"SIAMESE_AUDIT_LOG": str(audit), "SIAMESE_RELOAD": "false"}
    with serving(REPO / "policies", env, tmp_path / "server.log") as url:
        yield url, audit


def test_every_page_works_on_the_shipped_policies(page: Any, shipped: Any) -> None:
    url, audit = shipped
    for s, a, r in REQUESTS:
        answer = httpx.post(url + "/access/v1/evaluation", json={
            "subject": {"type": "user", "id": s}, "action": {"name": a},
            "resource": {"type": "document", "id": r}})
        assert answer.status_code == 200
    wait_for(lambda: audit.exists() and len(audit.read_text().splitlines()) >= len(REQUESTS),
             "the decisions to be logged")

    page.goto(url + "/console")
    page.wait_for_selector("#revision")
    _keep(screenshot(page, "tour-policies"))

    page.click("nav >> text=Playground")
    page.wait_for_selector("textarea[name=text]")
    _keep(screenshot(page, "tour-playground"))

    page.click("nav >> text=Decisions")
    page.wait_for_selector("text=alice")
    _keep(screenshot(page, "tour-decisions"))

    page.click("nav >> text=Impact")
    page.wait_for_selector("form")
    _keep(screenshot(page, "tour-impact"))

    page.click("nav >> text=Live")
    page.wait_for_selector("main h1")
    _keep(screenshot(page, "tour-live"))
