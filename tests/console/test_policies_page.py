"""The policy browser in a real browser: the serving revision, its rules, a reload error
shown in place after a broken edit, and the reload history."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import Served, screenshot
from tests.e2e.helpers import wait_for


def test_policy_browser_lists_the_serving_rules(page: Any, served: Served) -> None:
    page.goto(served.url + "/console/")
    assert page.title() == "Policies · Siamese console"
    revision = httpx.get(served.url + "/v1/policies").json()["revision"]
    assert page.locator("#revision code").inner_text() == revision
    row = page.locator("#rule-owner-full-access")
    assert "access.rules:10" in row.inner_text()
    assert "The owner of a document may do anything with it" in row.inner_text()
    # the tests that name the rule link to their line in the test file
    assert row.locator("td").nth(4).locator("a").count() >= 1
    screenshot(page, "policies")
    row.locator("a", has_text="access.rules:10").click()
    page.wait_for_url("**/console/policies/file?path=access.rules#L10")
    line = page.locator("#L10")
    assert "owner-full-access" in line.inner_text()
    screenshot(page, "policy-file")


def test_a_broken_edit_shows_the_reload_error_at_its_line(page: Any, served: Served) -> None:
    before = httpx.get(served.url + "/v1/policies").json()
    rules = served.policies / "access.rules"
    text = rules.read_text()
    rules.write_text(text + "\nallow(?u, read, ?d) :- owner(?d ?u).\n")
    wait_for(lambda: httpx.get(served.url + "/v1/policies").json()["last_error"],
             "the broken edit to be reloaded")
    page.goto(served.url + "/console/policies")
    panel = page.locator("section.failure")
    assert panel.is_visible()
    where = panel.locator("code.where").first.inner_text()
    line = len(text.splitlines()) + 2
    assert where.startswith(f"access.rules:{line}:")
    assert "owner(?d ?u)" in panel.locator("pre.offending").first.inner_text()
    assert before["revision"] in panel.inner_text()  # still serving
    history = page.locator("#history + table tbody tr")
    assert "failed" in history.first.inner_text()
    screenshot(page, "policies-reload-error")
