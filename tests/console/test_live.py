"""The live view in a real browser against a real ``siamese serve``: decisions made through
the API appear with the rate, the deny share and the top denied rules; server values show
as text; it reads without JavaScript; its polling is bounded (a page clock moved by hand),
slows down while hidden or failing, and stops when the page is swapped away. And
``/console/live/data`` over raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.conftest import Served, screenshot, serve

ROWS = "#live-decisions tbody tr[data-seq]"
XSS_SUBJECT = "<img src=x onerror=alert(1)>"
XSS_RESOURCE = "<script>alert(2)</script>"
XSS_ACTION = "\"'><svg onload=alert(3)>"
ASTRAL = "\U0001d518" * 1024  # the longest id the API takes, in astral characters


def decide(url: str, subject: str, action: str, resource: str, **extra: Any) -> dict[str, Any]:
    r = httpx.post(url + "/access/v1/evaluation", json={
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document", "id": resource},
        **extra,
    })
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_live_view_follows_decisions(page: Any, served: Served) -> None:
    page.goto(served.url + "/console/live")
    assert page.title() == "Live · Siamese console"
    expect(page.locator("#live-decisions tr.empty")).to_be_visible()
    made = [
        decide(served.url, "alice", "read", "runbook"),  # allowed: she owns it
        decide(served.url, "erin", "read", "handbook"),  # a suspended account: a deny rule
        decide(served.url, "erin", "write", "handbook"),
        decide(served.url, "nobody", "read", "handbook"),  # no allow rule: a default deny
    ]
    assert [m["decision"] for m in made] == [True, False, False, False]
    rows = page.locator(ROWS)
    expect(rows).to_have_count(4)
    expect(page.locator("#live-decisions tr.empty")).to_have_count(0)
    expect(page.locator("#live-decided")).to_have_text("4")
    expect(page.locator("#live-denied")).to_have_text("3")
    expect(page.locator("#live-deny-share")).to_have_text("75.0%")
    expect(page.locator("#live-sampled")).to_have_text("3")
    top = page.locator("#live-top-denied li")
    expect(top).to_have_count(2)
    expect(top.nth(0)).to_have_text("suspended-account 2")  # shown as "× 2" by the CSS
    expect(top.nth(1)).to_have_text("no allow rule 1")
    assert top.nth(0).locator("a").get_attribute("href") == \
        "/console/policies#rule-suspended-account"
    # newest first, each with what the API answered
    newest = rows.nth(0).locator("td")
    assert [newest.nth(i).inner_text() for i in range(2, 7)] == [
        "deny", "nobody", "read", "handbook", "no rule allows nobody to read handbook"]
    revision = httpx.get(served.url + "/v1/policies").json()["revision"]
    assert newest.nth(7).inner_text() == revision
    assert rows.nth(2).locator("td").nth(6).inner_text() == "denied by rule suspended-account"
    assert rows.nth(3).locator("td").nth(2).inner_text() == "allow"
    for row, answer in zip(rows.all(), reversed(made), strict=True):
        link = row.locator("td").nth(0).locator("a")
        assert link.get_attribute("href") == \
            "/console/decisions/" + answer["context"]["decision_id"]
    assert float(page.locator("#live-rate").inner_text()) > 0
    screenshot(page, "live")
    # a rule in the list opens it in the policy browser
    top.nth(0).locator("a").click()
    page.wait_for_url("**/console/policies#rule-suspended-account")
    expect(page.locator("#rule-suspended-account")).to_contain_text("access.rules")


def test_values_show_as_text_and_run_nothing(page: Any, served: Served) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(served.url + "/console/live")
    decide(served.url, XSS_SUBJECT, XSS_ACTION, XSS_RESOURCE)
    decide(served.url, ASTRAL, "read", "handbook")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(2)

    def check() -> None:
        odd = rows.nth(1).locator("td")
        assert odd.nth(3).inner_text() == XSS_SUBJECT
        assert odd.nth(4).inner_text() == XSS_ACTION
        assert odd.nth(5).inner_text() == XSS_RESOURCE
        assert XSS_SUBJECT in odd.nth(6).inner_text()
        long = rows.nth(0).locator("td").nth(3).inner_text()
        assert long == "\U0001d518" * 300 + "…[724 more characters]"
        table = page.locator("#live-decisions")
        assert table.locator("img, script, svg").count() == 0
        assert dialogs == []

    check()  # added by the script
    page.reload()
    expect(rows).to_have_count(2)
    check()  # rendered by the server


def test_the_live_view_reads_without_javascript(browser: Any, served: Served) -> None:
    decide(served.url, "erin", "read", "handbook")
    decide(served.url, XSS_SUBJECT, "read", "handbook")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(served.url + "/console/live")
        rows = page.locator(ROWS)
        assert rows.count() == 2
        assert rows.nth(0).locator("td").nth(3).inner_text() == XSS_SUBJECT
        assert page.locator("#live-decided").inner_text() == "2"
        assert page.locator("#live-deny-share").inner_text() == "100.0%"
        assert page.locator("#live-top-denied li").count() == 2
        assert page.locator("#live-workers").count() == 0  # one worker: no note
    finally:
        context.close()


# --- polling, with the page's clock moved by hand ------------------------------------------

# counts the live view's requests (an init script: the page's own CSP does not apply)
COUNT_CALLS = """
window.__liveCalls = [];
const realFetch = window.fetch;
window.fetch = function (url, init) {
  if (String(url).includes("/console/live/data")) window.__liveCalls.push(Date.now());
  return realFetch.call(this, url, init);
};
"""
KEY = "live-test-admin-key"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Served]:
    """A server whose console asks for an admin key (console.js swaps pages in place)."""
    yield from serve(tmp_path, {"SIAMESE_ADMIN_KEYS": KEY})


def test_polling_is_bounded_slows_down_and_stops(page: Any, keyed: Served) -> None:
    url = keyed.url
    page.context.add_init_script(COUNT_CALLS)
    page.clock.install(time=1_000_000)
    page.clock.pause_at(1_000_001)
    page.goto(url + "/console/live")
    page.fill("#admin-key", KEY)
    page.click("#key-form button")
    expect(page.locator("#live")).to_be_visible()  # swapped in with the key
    calls = lambda: page.evaluate("window.__liveCalls.length")  # noqa: E731
    rows = page.locator(ROWS)

    def hidden(value: bool) -> None:
        page.evaluate("""(value) => {
          Object.defineProperty(document, "hidden", { value, configurable: true });
          document.dispatchEvent(new Event("visibilitychange"));
        }""", value)

    # every two seconds, not more often
    decide(url, "erin", "read", "handbook")
    page.clock.run_for(1999)
    assert calls() == 0
    page.clock.run_for(1)
    assert calls() == 1
    expect(rows).to_have_count(1)
    decide(url, "erin", "write", "handbook")
    page.clock.run_for(1999)
    assert calls() == 1
    page.clock.run_for(1)
    assert calls() == 2
    expect(rows).to_have_count(2)
    # a hidden tab asks every 15 s; shown again, it asks within the bound
    hidden(True)
    decide(url, "nobody", "read", "handbook")
    page.clock.run_for(14_999)
    assert calls() == 2
    page.clock.run_for(1)
    assert calls() == 3
    expect(rows).to_have_count(3)
    decide(url, "alice", "read", "runbook")
    page.clock.run_for(5_000)
    hidden(False)  # 20 s since the last look: at once
    page.clock.run_for(0)
    assert calls() == 4
    expect(rows).to_have_count(4)
    # errors back off: 4 s, then 8 s, then 16 s (the status says when it tries again)
    page.route("**/console/live/data*", lambda route: route.fulfill(
        status=429, content_type="application/json",
        body='{"error": {"status": 429, "message": "slow down"}}'))
    status = page.locator("#live-status")
    page.clock.run_for(2_000)
    assert calls() == 5
    expect(status).to_contain_text("429): trying again in 4 s")
    page.clock.run_for(3_999)
    assert calls() == 5
    page.clock.run_for(1)
    assert calls() == 6
    expect(status).to_contain_text("trying again in 8 s")
    page.clock.run_for(7_999)
    assert calls() == 6
    page.clock.run_for(1)
    assert calls() == 7
    expect(status).to_contain_text("trying again in 16 s")
    page.unroute("**/console/live/data*")
    decide(url, "alice", "write", "runbook")
    page.clock.run_for(15_999)
    assert calls() == 7
    page.clock.run_for(1)
    assert calls() == 8
    expect(rows).to_have_count(5)  # then back to every 2 s
    expect(status).to_have_text("")
    decide(url, "nobody", "write", "runbook")
    page.clock.run_for(2_000)
    assert calls() == 9
    expect(rows).to_have_count(6)
    # swapped away: no more requests, however long
    page.locator("nav a", has_text="Policies").click()
    expect(page.locator("h1")).to_have_text("Policies")
    page.clock.run_for(120_000)
    assert calls() == 9


def test_another_process_answering_starts_the_view_over(page: Any, served: Served) -> None:
    """A restarted server (or another worker) numbers its decisions afresh: the view drops
    what it shows and asks again from the start."""
    url = served.url
    page.context.add_init_script(COUNT_CALLS)
    page.clock.install(time=1_000_000)
    page.clock.pause_at(1_000_001)
    decide(url, "erin", "read", "handbook")
    page.goto(url + "/console/live")
    rows = page.locator(ROWS)
    expect(rows).to_have_count(1)

    def elsewhere(route: Any) -> None:
        response = route.fetch()
        data = response.json()
        route.fulfill(response=response, json={**data, "feed": "another", "decisions": []})

    page.route("**/console/live/data*", elsewhere)
    page.clock.run_for(2_000)
    expect(rows).to_have_count(0)
    page.unroute("**/console/live/data*")
    page.clock.run_for(2_000)
    expect(rows).to_have_count(1)  # asked again from the start (after=0)
    assert page.evaluate("window.__liveCalls.length") == 2


# --- raw HTTP -------------------------------------------------------------------------------


@pytest.mark.parametrize("after", ["-1", "x", "1" * 19, "9" * 400, "1.5", "", " 1", "0x10",
                                   "\uff11", "1e3", "+1"])
def test_a_bad_after_is_a_400(served: Served, after: str) -> None:
    r = httpx.get(served.url + "/console/live/data", params={"after": after})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["status"] == 400
    assert "'after' must be a decision number" in r.json()["error"]["message"]


def test_the_live_data_over_http(served: Served) -> None:
    url = served.url + "/console/live/data"
    first = httpx.get(url)
    assert first.status_code == 200
    assert "default-src 'none'" in first.headers["content-security-policy"]
    assert first.json()["decisions"] == [] and first.json()["seq"] == 0
    secret = "s3cr3t-t0ken-in-a-subject"
    decide(served.url, "erin", "read", "handbook")
    decide(served.url, secret, "read", "handbook", context={"token": secret})
    data = httpx.get(url, params={"after": 0}).json()
    assert data["seq"] == 2 and data["decided"] == 2 and data["denied"] == 2
    assert data["deny_share"] == 1.0 and data["workers"] == 1 and data["size"] == 200
    assert [d["seq"] for d in data["decisions"]] == [2, 1]
    hidden = data["decisions"][0]
    assert hidden["subject"] == "[REDACTED]"  # as the decision log shows it
    assert secret not in str(data)
    assert {(t["kind"], t["rule"], t["count"]) for t in data["top_denied"]} == {
        ("rule", "suspended-account", 1), ("no-allow-rule", None, 1)}
    newer = httpx.get(url, params={"after": 1}).json()
    assert [d["seq"] for d in newer["decisions"]] == [2]
    assert httpx.get(url, params={"after": 2}).json()["decisions"] == []
    past = httpx.get(url, params={"after": "9" * 18}).json()  # another process's number
    assert past["decisions"] == [] and past["missed"] == 0
    twice = httpx.get(url + "?after=1&after=2")
    assert twice.status_code == 400 and "more than once" in twice.json()["error"]["message"]
    assert httpx.post(url).status_code == 405
    # not a loopback Host: refused, as every console page
    refused = httpx.get(url, headers={"host": "console.example.com"})
    assert refused.status_code == 403 and "error" in refused.json()
