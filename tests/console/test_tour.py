"""A new user's tour: ``siamese serve policies`` on the shipped policies/ themselves (what
``make run`` serves), then every console page in chromium, through its navigation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import DOCS, README_SHOTS, REPO, screenshot
from tests.e2e.helpers import serving, wait_for

REQUESTS = [  # (subject, action, resource): allows and denies of the shipped policies
    ("alice", "read", "runbook"),
    ("ivan", "write", "runbook"),
    ("mallory", "delete", "runbook"),
    ("grace", "share", "payroll"),
]


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
    assert page.locator("#rule-owner-full-access").count() == 1
    screenshot(page, "tour-policies")

    page.click("nav >> text=Playground")
    page.click("button[value=decide]")  # the form's first request: alice reads the runbook
    page.wait_for_selector("#result")
    assert "allow" in page.locator("#result h2").inner_text()
    assert page.locator("#result .tree[data-kind=allow]").count() == 1
    screenshot(page, "tour-playground", full_page=False)

    page.click("nav >> text=Decisions")
    rows = page.locator("table tbody tr")
    rows.first.wait_for()
    assert rows.count() == len(REQUESTS)
    page.click("table tbody tr:has-text('mallory') a")
    page.wait_for_selector(".tree[data-kind]")
    screenshot(page, "tour-decisions")

    page.click("nav >> text=Impact")
    page.click("#impact-text button[type=submit]")  # the serving text: nothing changes
    page.wait_for_selector("#impact-result")
    assert page.locator("#impact-result").inner_text() == \
        f"0 of {len(REQUESTS)} decisions would change"
    screenshot(page, "tour-impact")

    page.click("nav >> text=Live")
    live = page.locator("table tbody tr")
    live.first.wait_for()
    assert live.count() == len(REQUESTS)
    screenshot(page, "tour-live")


def test_the_readme_shows_one_screenshot_a_page_made_by_these_tests() -> None:
    readme = (REPO / "README.md").read_text()
    shown = set(re.findall(r"\]\(docs/console/([a-z-]+)\.png\)", readme))
    assert shown == README_SHOTS
    for name in shown:
        data = (DOCS / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
