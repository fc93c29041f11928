"""The decision log browser: decisions made through a real server, found in the browser by
subject and by rule id, opened with their proof or why-not and followed to their rules;
paging across pages; refused filters; and logged values that try to run as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from tests.console.conftest import Served, screenshot
from tests.console.local import local
from tests.console.logged import decide, logged
from tests.e2e.helpers import wait_for

REQUESTS = [
    ("alice", "delete", "runbook"),       # owner-full-access
    ("dave", "read", "api_spec"),         # direct-grant
    ("ivan", "write", "runbook"),         # group-grant
    ("grace", "delete", "api_spec"),      # workspace-admin
    ("frank", "read", "press_release"),   # public-documents
    ("erin", "read", "api_spec"),         # suspended-account: a deny rule
    ("frank", "read", "salary_review"),   # no rule allows: a why-not
]
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def rows(page: Any) -> list[str]:
    """The decision ids of the result table, top to bottom."""
    return [str(x) for x in page.locator("table.decisions tbody tr").evaluate_all(
        "trs => trs.map(tr => tr.dataset.decisionId)")]


def search(page: Any, **fields: str) -> None:
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
    page.click("form.search button[type=submit]")
    page.wait_for_url("**/console/decisions?*")


def test_a_search_finds_a_decision_by_subject_and_by_rule_and_opens_its_proof(
    page: Any, served: Served
) -> None:
    ids = [decide(served.url, *r) for r in REQUESTS]
    events = logged(served.audit_log, ids)
    page.goto(served.url + "/console/decisions")
    assert rows(page) == list(reversed(ids))  # newest first
    search(page, subject="ivan")
    assert rows(page) == [ids[2]]
    search(page, subject="", rule="group-grant")
    # the decisions the rule made, and the denials whose why-not names it
    expected = [i for i in reversed(ids) if "group-grant" in events[i]["rule_ids"] or any(
        w.get("rule") == "group-grant"
        for w in events[i]["explanation"].get("why_not", []))]
    assert rows(page) == expected == [ids[6], ids[2]]
    assert parse_qs(urlsplit(page.url).query)["rule"] == ["group-grant"]
    screenshot(page, "decisions-search")

    page.locator(f'tr[data-decision-id="{ids[2]}"] a').click()
    page.wait_for_url(f"**/console/decisions/{ids[2]}")
    assert ids[2] in page.locator("h1").inner_text()
    tree = page.locator('.tree[data-kind="allow"]')
    assert "allow(ivan, write, runbook)" in tree.locator("summary").first.inner_text()
    assert "in_group(ivan, platform_team)" in tree.inner_text()
    assert page.locator("#revision-note").count() == 0  # made by the serving revision
    assert '"id": "ivan"' in page.locator("pre.json").inner_text()
    screenshot(page, "decision-allow")
    # the rules it rests on, in the policy browser
    link = page.locator("#rule-links a", has_text="group-grant")
    assert link.get_attribute("href") == "/console/policies#rule-group-grant"
    link.click()
    page.wait_for_url("**/console/policies#rule-group-grant")
    assert "access.rules:22" in page.locator("#rule-group-grant").inner_text()
    page.go_back()
    page.wait_for_url(f"**/console/decisions/{ids[2]}")
    page.locator(".tree a.loc", has_text="access.rules:22").first.click()
    page.wait_for_url("**/console/policies/file?path=access.rules#L22")


def test_a_denial_shows_its_why_not(page: Any, served: Served) -> None:
    ident = decide(served.url, "frank", "read", "salary_review")
    logged(served.audit_log, [ident])
    page.goto(f"{served.url}/console/decisions/{ident}")
    assert page.locator(".verdict .decision.deny").inner_text() == "deny"
    assert page.locator("#explained").inner_text() == "Why not"
    tree = page.locator('.tree[data-kind="default-deny"]')
    text = tree.inner_text()
    assert "rule owner-full-access" in text and "owner(salary_review, frank)" in text
    assert "public(salary_review)" in text
    assert page.locator("#rule-links").inner_text() == "none"
    screenshot(page, "decision-deny")


def test_pages_go_both_ways_and_keep_the_filters(page: Any, served: Served) -> None:
    ids = [decide(served.url, "pat", "read", f"doc{i}") for i in range(7)]
    decide(served.url, "someone-else", "read", "doc0")
    logged(served.audit_log, ids)
    newest = list(reversed(ids))
    page.goto(served.url + "/console/decisions?subject=pat&size=3")
    assert rows(page) == newest[:3]
    assert page.locator("a[rel=prev]").count() == 0
    page.click("a[rel=next]")
    page.wait_for_url("**before=*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["subject"] == ["pat"] and query["size"] == ["3"]
    assert rows(page) == newest[3:6]
    page.click("a[rel=next]")
    page.wait_for_function("document.querySelectorAll('table.decisions tbody tr').length == 1")
    assert rows(page) == newest[6:]
    assert page.locator("a[rel=next]").count() == 0
    page.click("a[rel=prev]")
    page.wait_for_url("**after=*")
    assert rows(page) == newest[3:6]
    page.click("a[rel=prev]")
    page.wait_for_function("!document.querySelector('a[rel=prev]')")
    assert rows(page) == newest[:3]


@pytest.mark.parametrize(("query", "field"), [
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-45"}, "until"),
    ({"since": "1h", "until": "2h"}, "until"),
    ({"decision": "maybe"}, "decision"),
    ({"size": "0"}, "size"),
    ({"size": "201"}, "size"),
    ({"size": "ten"}, "size"),
    ({"subject": "x" * 5000}, "subject"),
    ({"before": "a", "after": "b"}, "before, after"),
    ({"since": "9" * 400 + "s"}, "since"),
])
def test_bad_filters_are_a_400_page_naming_the_field(
    served: Served, query: dict[str, str], field: str
) -> None:
    r = httpx.get(served.url + "/console/decisions", params=query)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    problem = r.text.split('id="search-problem">', 1)[1].split("</p>", 1)[0]
    assert problem.startswith(field + ":"), problem


def test_a_parameter_given_twice_is_refused(served: Served) -> None:
    r = httpx.get(served.url + "/console/decisions?subject=a&subject=b")
    assert r.status_code == 400 and "subject: given more than once" in r.text


def test_a_bad_filter_in_the_browser(page: Any, served: Served) -> None:
    page.goto(served.url + "/console/decisions")
    search(page, since="last tuesday")
    assert "since: not a time: 'last tuesday'" in page.locator("#search-problem").inner_text()
    assert page.locator("#f-since").input_value() == "last tuesday"  # kept to correct


def test_logged_values_show_as_text_never_as_html(page: Any, served: Served) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    long = "L" * 10_000
    ident = decide(served.url, SCRIPT, "read", IMG, {
        "note": SCRIPT, "quote": IMG, "bidi": "left\u202eright", "lines": "one\ntwo",
        "long": long, "astral": "\U0001f600\u0301",
    })
    logged(served.audit_log, [ident])
    page.goto(served.url + "/console/decisions?" + httpx.QueryParams({"subject": SCRIPT}).__str__())
    assert rows(page) == [ident]
    cells = page.locator(f'tr[data-decision-id="{ident}"] td.value')
    assert cells.nth(0).inner_text() == SCRIPT and cells.nth(2).inner_text() == IMG
    page.locator(f'tr[data-decision-id="{ident}"] a').click()
    page.wait_for_url(f"**/console/decisions/{ident}")
    assert page.locator("dd.value").first.inner_text() == SCRIPT
    request = page.locator("pre.json").inner_text()
    assert f'"note": "{SCRIPT}"' in request
    assert "left\\u202eright" in request  # a bidi control is shown, not obeyed
    assert '"lines": "one\\ntwo"' in request
    assert "L" * 8000 in request  # as logged: cut at the log's string limit
    assert "\U0001f600" in request
    assert page.locator("main img, main script").count() == 0
    assert dialogs == []
    r = httpx.get(f"{served.url}/console/decisions/{ident}")
    assert SCRIPT not in r.text and IMG not in r.text and "\u202e" not in r.text


def test_a_decision_of_another_revision_says_its_links_show_todays_text(
    page: Any, served: Served
) -> None:
    before = httpx.get(served.url + "/v1/policies").json()["revision"]
    ident = decide(served.url, "alice", "delete", "runbook")
    logged(served.audit_log, [ident])
    with (served.policies / "roles.rules").open("a") as fh:
        fh.write("\naction(archive).\n")
    wait_for(lambda: httpx.get(served.url + "/v1/policies").json()["revision"] != before,
             "the edit to serve")
    page.goto(f"{served.url}/console/decisions/{ident}")
    note = page.locator("#revision-note").inner_text()
    assert before in note and "today's text" in note


# --- the pages in this process, over a log written by hand --------------------------------


def write_log(path: Path, n: int) -> list[str]:
    ids = [f"id-{i:03d}" for i in range(n)]
    with path.open("wb") as fh:
        for i, ident in enumerate(ids):
            fh.write(orjson.dumps({
                "decision_id": ident, "time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z",
                "revision": "0123456789ab", "subject": "s", "action": "read",
                "resource": f"r{i}", "request": {}, "decision": True, "reason": "ok",
                "rule_ids": ["admin-all"], "explanation": {"kind": "allow", "proof": []},
                "cached": False, "latency_us": 3}) + b"\n")
    return ids


def test_the_log_off_is_said_plainly(tmp_path: Path) -> None:
    c = local(tmp_path, audit_log="off")
    r = c.get("/console/decisions")
    assert r.status_code == 200 and "The decision log is off" in r.text
    r = c.get("/console/decisions/some-id")
    assert r.status_code == 200 and "The decision log is off" in r.text


def test_no_log_yet_and_unknown_decisions(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    c = local(tmp_path, audit_log=str(log))
    r = c.get("/console/decisions")
    assert r.status_code == 200 and "No decision is logged yet" in r.text
    write_log(log, 3)
    r = c.get("/console/decisions/nope")
    assert r.status_code == 404 and "no decision &#39;nope&#39;" in r.text
    r = c.get("/console/decisions/" + "x" * 201)
    assert r.status_code == 400
    r = c.get("/console/decisions", params={"before": "rotated-away"})
    assert r.status_code == 200 and "is no longer in the log" in r.text


def test_an_id_a_path_cannot_carry_is_opened_by_query(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.write_bytes(orjson.dumps({"decision_id": "a/b c\n", "subject": "s", "action": "a",
                                  "resource": "r", "decision": False}) + b"\n")
    c = local(tmp_path, audit_log=str(log))
    r = c.get("/console/decisions")
    assert 'href="/console/decisions?id=a%2Fb+c%0A"' in r.text
    r = c.get("/console/decisions", params={"id": "a/b c\n"})
    assert r.status_code == 200 and "a/b c\\x0a" in r.text


def test_a_page_holds_at_most_its_size(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    ids = write_log(log, 450)
    c = local(tmp_path, audit_log=str(log))
    r = c.get("/console/decisions")
    assert r.text.count("<tr data-decision-id=") == 50
    r = c.get("/console/decisions", params={"size": "200"})
    assert r.text.count("<tr data-decision-id=") == 200
    r = c.get("/console/decisions", params={"size": "200", "before": ids[200]})
    assert r.text.count("<tr data-decision-id=") == 200
    assert f'data-decision-id="{ids[199]}"' in r.text and 'rel="next"' not in r.text


def test_a_log_that_cannot_be_read_is_a_503_not_a_crash(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.mkdir()  # a directory where the file should be
    c = local(tmp_path, audit_log=str(log))
    r = c.get("/console/decisions")
    assert r.status_code == 503 and "the decision log cannot be read" in r.text
    r = c.post("/console/impact", data={"target": "text", "path": "p.rules",
                                        "text": "allow(a, b, c).\n"})
    assert r.status_code == 503 and "the decision log cannot be read" in r.text
