"""The impact view: logged decisions replayed against text edited in the browser and against
an archived revision, listing exactly the decisions that would change with both
explanations; its bounds (range, count, time, one at a time); and its refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from siamese.audit.event import iso_time
from siamese.audit.search import Filter
from siamese.console import impact
from siamese.console.impact import Impact, run_replay
from siamese.decision.authorizer import Authorizer
from siamese.decision.service import DecisionService
from siamese.engine import custom
from siamese.policy.loader import PolicyFile, policy_set_from
from siamese.policy.store import PolicyStore
from siamese.server.app import create_app
from siamese.settings import Settings
from tests.console.conftest import Served, screenshot, serve
from tests.console.local import LOCAL, local
from tests.console.logged import decide, logged
from tests.e2e.helpers import wait_for

OWNER_ONLY = [  # allowed by owner-full-access and by no other rule
    ("heidi", "read", "salary_review"),
    ("dave", "delete", "dave_notes"),
    ("carol", "delete", "launch_plan"),
]
OTHERS = [
    ("dave", "read", "api_spec"),         # direct-grant
    ("ivan", "write", "runbook"),         # group-grant
    ("grace", "delete", "api_spec"),      # workspace-admin
    ("frank", "read", "press_release"),   # public-documents
    ("erin", "read", "api_spec"),         # denied: suspended
    ("frank", "read", "salary_review"),   # denied: no rule
]
SCRIPT = "<script>alert(1)</script>"


def without_owner_rule(text: str) -> str:
    start = text.index('@id("owner-full-access")')
    end = text.index("action(?action).", start) + len("action(?action).")
    return text[:start] + text[end:]


def revision(url: str) -> str:
    return str(httpx.get(url + "/v1/policies").json()["revision"])


def next_revision(url: str, old: str) -> str:
    """The revision that serves once another than ``old`` does (a bounded wait)."""
    wait_for(lambda: revision(url) != old, "the edit to serve")
    return revision(url)


def changed(page: Any) -> list[str]:
    return [str(x) for x in page.locator("table.changes tbody tr").evaluate_all(
        "trs => trs.map(tr => tr.dataset.decisionId)")]


def test_an_edit_that_removes_a_rule_lists_exactly_the_decisions_it_allowed(
    page: Any, served: Served
) -> None:
    ids = [decide(served.url, *r) for r in [*OTHERS[:3], *OWNER_ONLY, *OTHERS[3:]]]
    events = logged(served.audit_log, ids)
    # what the rule allowed, from the log alone: the decisions it proved
    expected = [i for i in reversed(ids) if events[i]["decision"]
                and events[i]["rule_ids"][0] == "owner-full-access"]
    assert len(expected) == len(OWNER_ONLY)
    page.goto(served.url + "/console/impact")
    area = page.locator("fieldset.file", has=page.locator('input[value="access.rules"]')) \
        .locator("textarea")
    text = area.input_value()
    assert text == (served.policies / "access.rules").read_text()  # the serving text
    area.fill(without_owner_rule(text))
    page.fill("#since-text", "1h")
    page.click("#impact-text button[type=submit]")
    page.wait_for_selector("#result")
    assert page.locator("#impact-result").inner_text() == \
        f"{len(OWNER_ONLY)} of {len(ids)} decisions would change"
    assert changed(page) == expected  # newest first
    for ident in expected:
        change = page.locator(f'section.change[data-decision-id="{ident}"]')
        old = change.locator('.old .tree[data-kind="allow"]')
        assert "rule owner-full-access" in old.inner_text()
        new = change.locator('.new .tree[data-kind="default-deny"]')
        assert "rule direct-grant" in new.inner_text()
        assert "owner-full-access" not in new.inner_text()
        assert change.locator("h3 .decision").all_inner_texts() == ["allow", "deny"]
    # the edit stays in the editor, to change again
    assert "owner-full-access" not in area.input_value()
    screenshot(page, "impact")


def test_a_replay_against_an_archived_revision(page: Any, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    for served in serve(tmp_path, {"SIAMESE_REVISION_ARCHIVE": str(archive)}):
        old = revision(served.url)
        rules = served.policies / "access.rules"
        rules.write_text(without_owner_rule(rules.read_text()))
        new = next_revision(served.url, old)
        assert sorted(p.name for p in archive.iterdir()) == sorted([old, new])
        heidi = decide(served.url, "heidi", "read", "salary_review")
        dave = decide(served.url, "dave", "read", "api_spec")
        events = logged(served.audit_log, [heidi, dave])
        assert events[heidi]["revision"] == new and events[heidi]["decision"] is False
        page.goto(served.url + "/console/impact")
        options = page.locator("#revision option").evaluate_all("os => os.map(o => o.value)")
        assert options == [new, old]  # the newest first
        page.select_option("#revision", old)
        page.fill("#since-revision", "1h")
        page.click("#impact-revision button[type=submit]")
        page.wait_for_selector("#result")
        assert page.locator("#impact-result").inner_text() == "1 of 2 decisions would change"
        assert changed(page) == [heidi]
        change = page.locator(f'section.change[data-decision-id="{heidi}"]')
        assert "rule owner-full-access" in \
            change.locator('.new .tree[data-kind="allow"]').inner_text()
        assert change.locator('.old .tree[data-kind="default-deny"]').count() == 1
        # the old revision's locations are not today's text: shown, not linked
        assert change.locator(".new a.loc").count() == 0
        assert change.locator(".new span.loc").count() > 0
        assert change.locator(".old a.loc").count() > 0  # the serving revision's
        assert page.locator("#revision").input_value() == old
        screenshot(page, "impact-revision")


def test_refusals_through_the_real_server(served: Served) -> None:
    url = served.url + "/console/impact"
    files = [("path", "access.rules"), ("text", "allow(?u, read, ?d) :- owner(?d ?u).\n")]
    form = "application/x-www-form-urlencoded"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": {"target": "text", "since": "yesterday"}}, 400, "since: not a time"),
        ({"data": {"target": "text", "since": "1h", "until": "2h"}}, 400, "until:"),
        ({"data": {"target": "guess"}}, 400, "target: text or revision"),
        ({"data": {"target": "revision", "revision": "../../etc"}}, 400,
         "revision: no revision archive is kept"),
        ({"data": {"target": "text"}}, 400, "text: no policy file"),
        ({"data": {"target": "text", "path": "../x.rules", "text": "a."}}, 400,
         "is not a policy file name"),
        ({"content": "target=text&target=revision", "headers": {"content-type": form}}, 400,
         "sent more than once"),
        ({"content": b"target=text&path=a.rules&text=\xff", "headers": {"content-type": form}},
         400, "not UTF-8"),
        ({"json": {"target": "text"}}, 415, "application/x-www-form-urlencoded"),
        ({"data": {"target": "text", "path": "a.rules", "text": "x" * (1 << 20)}}, 413, ""),
        ({"content": urlencode([("target", "text"), *files]), "headers": {"content-type": form}},
         400, "access.rules:1:"),
        ({"data": {"target": "text"}, "headers": {"origin": "https://evil.example"}}, 403,
         "cross-site"),
    ]
    for kwargs, status, text in cases:
        r = httpx.post(url, **kwargs)
        assert r.status_code == status, (kwargs, r.status_code, r.text[-500:])
        assert text in r.text, (kwargs, r.text[-2000:])


def test_the_form_starts_from_the_serving_text(served: Served) -> None:
    r = httpx.get(served.url + "/console/impact")
    assert r.status_code == 200
    assert "The owner of a document may do anything with it" in r.text
    assert 'value="24h"' in r.text  # the range is never unbounded by default
    assert "No revision archive is kept" in r.text


# --- in this process, over logs written by hand ------------------------------------------

POLICY = 'allow(?u, read, ?d) :- input("subject.type", "user").\n'


def log_line(ident: str, subject: str, allowed: bool, at: float,
             **request: Any) -> bytes:
    return orjson.dumps({
        "decision_id": ident, "time": iso_time(at), "revision": "0123456789ab",
        "subject": subject, "action": "read", "resource": "doc",
        "request": {"subject": {"type": "user", "id": subject}, **request},
        "decision": allowed, "reason": "no rule allows it", "rule_ids": [],
        "explanation": {"kind": "default-deny", "why_not": []}, "cached": False,
        "latency_us": 1}) + b"\n"


def run(coro: Any) -> Any:
    """A coroutine on a loop of its own (this thread's may be Playwright's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_logged_values_in_a_change_show_as_text(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.write_bytes(log_line("x1", SCRIPT, False, time.time(), note='"><img src=x>\u202e'))
    c = local(tmp_path, audit_log=str(log))
    r = c.post("/console/impact", data={"target": "text", "path": "p.rules", "text": POLICY})
    assert r.status_code == 200, r.text[-1000:]
    assert "1 of 1 decision would change" in r.text
    assert SCRIPT not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<img" not in r.text and "\u202e" not in r.text


def test_the_range_defaults_to_the_last_day(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    now = time.time()
    log.write_bytes(log_line("old", "a", False, now - 2 * 86400)
                    + log_line("new", "b", False, now - 3600))
    c = local(tmp_path, audit_log=str(log))
    r = c.post("/console/impact", data={"target": "text", "path": "p.rules", "text": POLICY})
    assert "1 of 1 decision would change" in r.text
    r = c.post("/console/impact", data={"target": "text", "path": "p.rules", "text": POLICY,
                                        "since": "3d"})
    assert "2 of 2 decisions would change" in r.text


def test_without_a_decision_log_there_is_nothing_to_replay(tmp_path: Path) -> None:
    c = local(tmp_path, audit_log="off")
    assert "The decision log is off" in c.get("/console/impact").text
    r = c.post("/console/impact", data={"target": "text", "path": "p.rules", "text": POLICY})
    assert r.status_code == 409 and "there is no decision to replay" in r.text


def test_an_archived_revision_is_named_never_a_path(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / "0123456789ab").mkdir(parents=True)
    (archive / "0123456789ab" / "p.rules").write_text(POLICY)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "p.rules").write_text("allow(_, _, _) :- true.\n")
    c = local(tmp_path, audit_log=str(tmp_path / "d.jsonl"), revision_archive=str(archive))
    page = c.get("/console/impact").text
    assert 'value="0123456789ab"' in page
    for name, message in [("../secret", "not a revision"), ("0123456789ab/..", "not a revision"),
                          ("abcdefabcdef", "not in the archive"), ("", "not a revision")]:
        r = c.post("/console/impact", data={"target": "revision", "revision": name})
        assert r.status_code == 400 and message in r.text, (name, r.text[-800:])
    r = c.post("/console/impact", data={"target": "revision", "revision": "0123456789ab"})
    assert r.status_code == 200 and "0 of 0 decisions would change" in r.text


def replay_log(tmp_path: Path, n: int) -> Path:
    log = tmp_path / "d.jsonl"
    now = time.time()
    log.write_bytes(b"".join(log_line(f"d{i}", f"u{i}", False, now - n + i) for i in range(n)))
    return log


POLICY_SET = policy_set_from("<t>", [PolicyFile("p.rules", "rules", POLICY.encode())])


def test_at_most_the_newest_n_decisions_are_replayed(tmp_path: Path) -> None:
    log = replay_log(tmp_path, 5)
    result: Impact = run(run_replay(str(log), Filter(), POLICY_SET, Authorizer(), limit=3))
    assert result.replayed == 3 and result.more and not result.stopped
    assert [s.row.id for s in result.shown] == ["d4", "d3", "d2"]
    result = run(run_replay(str(log), Filter(), POLICY_SET, Authorizer(), limit=5))
    assert result.replayed == 5 and not result.more


def test_a_replay_stops_when_its_time_is_up(tmp_path: Path) -> None:
    log = replay_log(tmp_path, 5)
    ticks = iter(range(100))
    result = run(run_replay(str(log), Filter(), POLICY_SET, Authorizer(), seconds=2.5,
                            clock=lambda: float(next(ticks))))
    assert result.stopped and result.replayed == 2  # the clock reads 0 at the start


def test_only_so_many_changes_are_kept_to_show(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impact, "MAX_SHOWN", 2)
    log = replay_log(tmp_path, 5)
    result = run(run_replay(str(log), Filter(), POLICY_SET, Authorizer()))
    assert result.changed == 5 and len(result.shown) == 2


def test_both_pages_need_the_admin_key_when_one_is_set(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    log.write_bytes(log_line("x1", "someone", False, time.time()))
    key = "console-admin-key-0123456789"
    c = local(tmp_path, audit_log=str(log), admin_keys=(key,))
    form = {"target": "text", "path": "p.rules", "text": POLICY}
    for method, path, data in [("GET", "/console/decisions", None),
                               ("GET", "/console/decisions/x1", None),
                               ("GET", "/console/impact", None),
                               ("POST", "/console/impact", form)]:
        r = c.request(method, path, data=data)
        assert r.status_code == 401 and "someone" not in r.text, (method, path)
        r = c.request(method, path, data=data, headers={"x-api-key": key})
        assert r.status_code == 200, (method, path, r.text[-500:])
    assert "1 of 1 decision would change" in r.text


def test_one_replay_at_a_time(tmp_path: Path) -> None:
    """A second replay while one runs is refused (409), not queued behind it: the first is
    held inside a decision by a built-in that waits for the test."""
    root = tmp_path / "policies"
    root.mkdir()
    (root / "p.rules").write_text("allow(?u, read, ?d) :- user(?u).\nuser(a).\n")
    log = tmp_path / "d.jsonl"
    log.write_bytes(log_line("x1", "a", False, time.time()))
    held = 'allow(?u, read, ?d) :- hold(?u).\n'

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        inside, release = asyncio.Event(), asyncio.Event()

        async def hold(goal: Any, bindings: dict[Any, Any]) -> AsyncIterator[dict[Any, Any]]:
            inside.set()
            await release.wait()
            yield bindings

        store = PolicyStore(root, builtins={"hold": custom(hold)})
        store.load_sync()
        app = create_app(Settings(policy_dir=str(root), audit_log=str(log)), store,
                         DecisionService(store.get, Authorizer(), None))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as c:
            form = {"target": "text", "path": "p.rules"}
            first = asyncio.create_task(c.post("/console/impact", data={**form, "text": held}))
            await inside.wait()
            second = await c.post("/console/impact", data={**form, "text": POLICY})
            release.set()
            done = await first
            third = await c.post("/console/impact", data={**form, "text": POLICY})
            return done, second, third

    first, second, third = run(scenario())
    assert second.status_code == 409 and "another replay is running" in second.text
    assert first.status_code == 200 and "1 of 1 decision would change" in first.text
    assert third.status_code == 200  # free again once the first has ended


@pytest.mark.parametrize("with_key", [False, True])
def test_the_playground_sends_its_edit_to_the_impact_view(
    page: Any, tmp_path: Path, with_key: bool
) -> None:
    """The playground's Impact button posts the edited text to /console/impact: a plain form
    post without an admin key, the console's fetch with the key in its header with one."""
    key = "impact-admin-key-0123456789"
    for served in serve(tmp_path, {"SIAMESE_ADMIN_KEYS": key} if with_key else {}):
        ids = [decide(served.url, *r) for r in [*OTHERS[:2], *OWNER_ONLY]]
        events = logged(served.audit_log, ids)
        expected = [i for i in reversed(ids)
                    if events[i]["rule_ids"][:1] == ["owner-full-access"]]
        page.goto(served.url + "/console/playground")
        if with_key:
            page.fill("#admin-key", key)
            page.click("#key-form button")
        area = page.locator("fieldset.file", has=page.locator('input[value="access.rules"]')) \
            .locator("textarea")
        area.fill(without_owner_rule(area.input_value()))
        page.click("#pg-impact")
        page.wait_for_selector("#impact-result")
        assert changed(page) == expected
        assert page.url.endswith("/console/impact") or with_key  # fetch keeps the address
        # nothing was saved: the file on disk still holds the rule
        assert "owner-full-access" in (served.policies / "access.rules").read_text()
