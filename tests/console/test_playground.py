"""The playground in a real browser and over raw HTTP, against a real ``siamese serve``:
decisions with their proof or why-not, test runs, check findings at their lines, escaping,
bad forms, runaway policies, and the serving set left as it was."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.console.conftest import Served, screenshot, serve
from tests.e2e.helpers import wait_for

PAGE = "/console/playground"
XSS_TEXTAREA = "</textarea><script>alert(1)</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'
ODD = "\u202eevil\u202c \U0001d54f z\u200dw \u00e9"  # bidi override, astral, joiner, accent


def view(page: Any, name: str, whole_form: bool = False) -> Path:
    """A screenshot of what the browser window shows: the result, where the page scrolls
    to, and the editor below it (the whole page is as long as every file of the set); with
    ``whole_form``, a taller window from the top of the page, request form included. Its
    path is printed."""
    if whole_form:
        page.set_viewport_size({"width": 1280, "height": 1300})
        page.evaluate("window.scrollTo(0, 0)")
    return screenshot(page, name, full_page=False)


def area(page: Any, path: str) -> Any:
    """The text area of the edited file ``path``."""
    named = page.locator(f"input[name=path][value={json.dumps(path)}]")  # a CSS string
    row = page.locator("fieldset.file").filter(has=named)
    return row.locator("textarea")


def selected_line(page: Any) -> tuple[str, str]:
    """The id of the focused element and the text selected in it."""
    found = page.evaluate(
        "() => { const a = document.activeElement;"
        " return [a.id, a.value.slice(a.selectionStart, a.selectionEnd)]; }"
    )
    return found[0], found[1]


def decide(page: Any, subject: str, action: str, resource: str) -> Any:
    page.fill("#subject_id", subject)
    page.fill("#action_name", action)
    page.fill("#resource_id", resource)
    page.click("button[value=decide]")
    return page.locator("#result.decide")


def no_dialogs(page: Any) -> list[str]:
    seen: list[str] = []

    def dismiss(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen


# --- in the browser -----------------------------------------------------------------------


def test_a_decision_shows_its_proof_tree(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE)
    assert page.title() == "Playground · Siamese console"
    assert page.locator("fieldset.pg-json").is_hidden()  # the AuthZEN fields are chosen
    result = decide(page, "alice", "delete", "runbook")
    assert result.locator("h2 .decision").inner_text() == "allow"
    assert result.locator(".rules").inner_text() == "owner-full-access"
    assert result.locator(".reason").inner_text() == "allowed by rule owner-full-access"
    tree = result.locator(".tree[data-kind=allow]")
    top = tree.locator("details.node > summary").first
    assert "allow(alice, delete, runbook)" in top.inner_text()
    assert "access.rules:10" in top.inner_text()
    assert tree.locator(".leaf", has_text="owner(runbook, alice)").count() == 1
    view(page, "playground-allow", whole_form=True)
    # a node's file:line is a line of the edited text: it selects that line in the editor
    top.locator("a.loc", has_text="access.rules:10").click()
    focused, text = selected_line(page)
    assert focused == area(page, "access.rules").get_attribute("id")
    assert text == "allow(?user, ?action, ?doc) :- owner(?doc, ?user), action(?action)."
    # the tree folds
    top.click()
    assert tree.locator(".leaf", has_text="owner(runbook, alice)").is_hidden()


def test_a_deny_shows_why_not(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE)
    result = decide(page, "frank", "delete", "runbook")
    assert result.locator("h2 .decision").inner_text() == "deny"
    assert result.locator(".reason").inner_text() == "no rule allows frank to delete runbook"
    assert result.locator("h3").inner_text() == "Why not"
    tree = result.locator(".tree[data-kind=default-deny]")
    owner = tree.locator(".node", has_text="owner-full-access").first
    assert "owner(runbook, frank)" in owner.locator("code.failed").inner_text()
    assert "access.rules:10" in owner.inner_text()
    # a nested why-not: frank is not in platform_team through any group
    assert tree.locator("details.node details.node").count() >= 1
    view(page, "playground-why-not")


def test_the_request_as_raw_json(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE)
    page.check("input[name=mode][value=json]")
    assert page.locator("fieldset.pg-fields").is_hidden()
    body = {"subject": {"type": "user", "id": "dave",
                        "properties": {"department": "engineering"}},
            "action": {"name": "read"}, "resource": {"type": "resource", "id": "runbook"}}
    page.fill("#body", json.dumps(body))
    page.click("button[value=decide]")
    result = page.locator("#result.decide")
    assert result.locator("h2 .decision").inner_text() == "allow"
    assert result.locator(".rules").inner_text() == "department-read"
    # the posted mode and body come back, to go on editing
    assert page.locator("input[name=mode][value=json]").is_checked()
    assert json.loads(page.locator("#body").input_value()) == body


def test_a_test_run_shows_a_failure_at_its_line(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE)
    rules = area(page, "access.rules")
    text = rules.input_value()
    rule = ('@id("owner-full-access")\n'
            '@description("The owner of a document may do anything with it")\n'
            "allow(?user, ?action, ?doc) :- owner(?doc, ?user), action(?action).\n")
    assert rule in text
    rules.fill(text.replace(rule, ""))
    page.click("button[value=test]")
    result = page.locator("#result.test")
    tests = (served.policies / "access.test.yaml").read_text().splitlines()
    line = tests.index("  - name: the owner of a document may delete it") + 1
    failed = result.locator("tr.fail", has_text="the owner of a document may delete it")
    assert failed.locator(".verdict").inner_text() == "FAIL"
    assert failed.locator("a.where").inner_text() == f"access.test.yaml:{line}"
    assert "expected rule owner-full-access to decide it, but group-grant did" in \
        failed.inner_text()
    assert result.locator("tr.pass").count() > 10
    fails = result.locator("tr.fail").count()
    assert f", {fails} failed" in result.locator("h2").inner_text()
    # the failed test's explanation (the proof by the other rule), folded under it
    assert failed.locator(".tree").is_hidden()
    failed.locator("summary", has_text="its explanation").click()
    assert "group-grant" in failed.locator(".tree[data-kind=allow]").inner_text()
    # the failing test's line is marked beside the test file, and its link goes there
    marked = area(page, "access.test.yaml").locator("xpath=..").locator(".gutter .flag.error")
    assert line in [int(t) for t in marked.all_inner_texts()]
    view(page, "playground-tests")
    failed.locator("a.where").click()
    focused, selected = selected_line(page)
    assert focused == area(page, "access.test.yaml").get_attribute("id")
    assert selected == "  - name: the owner of a document may delete it"
    # nothing was saved
    assert rule in (served.policies / "access.rules").read_text()


def test_check_findings_are_shown_at_their_lines(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE)
    rules = area(page, "access.rules")
    text = rules.input_value()
    broken = text + "\nallow(?u, read, ?d) :- owner(?d ?u).\n"
    rules.fill(broken)
    page.click("button[value=check]")
    result = page.locator("#result.check")
    line = len(text.splitlines()) + 2
    finding = result.locator("li.finding.sev-error").first
    assert finding.locator(".where").inner_text().startswith(f"access.rules:{line}:")
    assert "owner(?d ?u)" in finding.locator("pre.offending").inner_text()
    assert "[syntax]" in finding.inner_text()
    # with the syntax mended, the lint findings: an error and warnings, at their lines
    rules = area(page, "access.rules")
    rules.fill(text + "\nallow(?u, read, ?d) :- document(?d), not owner(?d, ?who).\n")
    page.click("button[value=check]")
    result = page.locator("#result.check")
    unsafe = result.locator("li.finding.sev-error", has_text="unsafe variable ?who")
    assert unsafe.locator(".where").inner_text().startswith(f"access.rules:{line}:")
    assert "[unsafe-negation]" in unsafe.inner_text()
    assert result.locator("h2").inner_text().startswith("Check: 1 error, ")
    marks = area(page, "access.rules").locator("xpath=..").locator(".gutter .flag.error")
    assert marks.all_inner_texts() == [str(line)]
    assert "unsafe variable ?who" in (marks.first.get_attribute("title") or "")
    view(page, "playground-check")
    unsafe.locator("a.goto").click()
    focused, selected = selected_line(page)
    assert focused == area(page, "access.rules").get_attribute("id")
    assert selected == "allow(?u, read, ?d) :- document(?d), not owner(?d, ?who)."
    view(page, "playground-check-line")


def test_a_clean_check_says_so(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE + "?start=empty")
    page.fill("#path-new", "clean.rules")
    page.fill("#text-new", "allow(?u, read, ?r) :- reader(?u), doc(?r).\nreader(ann).\ndoc(d).\n")
    page.click("button[value=check]")
    result = page.locator("#result.check")
    assert result.locator("h2").inner_text() == "Check: 0 errors, 0 warnings in 1 file"
    assert "No findings" in result.inner_text()


def test_a_build_error_stops_a_decision_at_its_line(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE + "?start=empty")
    page.fill("#path-new", "broken.rules")
    page.fill("#text-new", "\n\nallow(?u, read, ?d) :- owner(?d ?u).\n")
    page.click("button[value=decide]")
    result = page.locator("#result.build")
    assert result.locator("h2").inner_text() == "The edited text does not build"
    assert result.locator(".where").first.inner_text().startswith("broken.rules:3:")
    # the text's leading blank lines survive the round trip, so the line still matches
    assert area(page, "broken.rules").input_value() == "\n\nallow(?u, read, ?d) :- owner(?d ?u).\n"


def test_escaping_of_policy_text_and_request_values(page: Any, served: Served) -> None:
    dialogs = no_dialogs(page)
    page.goto(served.url + PAGE + "?start=empty")
    long = "x" * 10_000
    name = XSS_ATTRIBUTE + ".rules"
    quoted = json.dumps(XSS_ATTRIBUTE)  # a policy string: a JSON string is one
    text = (f"# {XSS_TEXTAREA} {XSS_ATTRIBUTE} {ODD} {long}\n"
            f'allow("{XSS_TEXTAREA}", read, ?r) :- ?r == {quoted}.\n')
    page.fill("#path-new", name)
    page.fill("#text-new", text)
    page.fill("#subject_type", XSS_ATTRIBUTE)
    page.fill("#subject_properties", json.dumps({"note": XSS_TEXTAREA, "odd": ODD}))
    page.fill("#context", json.dumps({"long": long}))
    result = decide(page, XSS_TEXTAREA, "read", XSS_ATTRIBUTE)
    assert result.locator("h2 .decision").inner_text() == "allow"
    summary = result.locator(".tree details.node > summary, .tree .leaf").first.inner_text()
    assert XSS_TEXTAREA in summary
    # every value came back as text, exactly: in the editor and in the request form
    assert page.locator("input[name=path]").first.input_value() == name
    assert area(page, name).input_value() == text
    assert page.locator("#subject_type").input_value() == XSS_ATTRIBUTE
    assert page.locator("#subject_id").input_value() == XSS_TEXTAREA
    assert json.loads(page.locator("#subject_properties").input_value())["odd"] == ODD
    assert page.locator("img").count() == 0
    assert page.locator("script:not([src^='/console/static/'])").count() == 0
    # and the same text as check findings and a test's name
    page.fill("#text-new", "")
    area(page, name).fill(text + f'broken("{XSS_TEXTAREA}" {XSS_ATTRIBUTE}\n')
    page.click("button[value=check]")
    finding = page.locator("#result.check li.finding").first
    assert XSS_TEXTAREA in finding.locator("pre.offending").inner_text()
    page.fill("#path-new", "x.test.yaml")
    page.fill("#text-new", "tests:\n  - name: " + json.dumps(XSS_TEXTAREA + XSS_ATTRIBUTE)
              + "\n    request: {subject: a, action: read, resource: b}\n    expect: allow\n")
    area(page, name).fill(text)
    page.click("button[value=test]")
    failed = page.locator("#result.test tr.fail")
    assert XSS_TEXTAREA + XSS_ATTRIBUTE in failed.inner_text()
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_an_edit_from_an_empty_set(page: Any, served: Served) -> None:
    page.goto(served.url + PAGE)
    page.click("a[href='/console/playground?start=empty']")
    page.wait_for_url("**/console/playground?start=empty")
    assert page.locator("fieldset.file").count() == 1  # the blank row for a new file
    page.fill("#path-new", "mine.rules")
    page.fill("#text-new", "allow(?u, read, ?r) :- ?u == ann.\n")
    result = decide(page, "ann", "read", "notes")
    assert result.locator("h2 .decision").inner_text() == "allow"
    assert "mine.rules:1" in result.locator(".tree").inner_text()
    # the new file is a file of the editor now, with a blank row after it
    assert page.locator("input[name=path]").nth(0).input_value() == "mine.rules"
    assert page.locator("fieldset.file").count() == 2
    result = decide(page, "bob", "read", "notes")
    assert result.locator("h2 .decision").inner_text() == "deny"
    page.click("button[value=test]")
    assert "No tests to run" in page.locator("#result.test").inner_text()


def test_a_proof_of_120_levels_renders(page: Any, served: Served) -> None:
    depth = 120
    chain = "".join(f"step{i}(?u) :- step{i + 1}(?u).\n" for i in range(depth))
    text = f"allow(?u, read, ?r) :- step0(?u).\n{chain}step{depth}(ann).\n"
    page.goto(served.url + PAGE + "?start=empty")
    page.fill("#path-new", "chain.rules")
    page.fill("#text-new", text)
    result = decide(page, "ann", "read", "deep")  # within the page's default timeout
    assert result.locator("h2 .decision").inner_text() == "allow"
    levels = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('.tree .node'), node => {"
        " let n = 0; for (let e = node; e; e = e.parentElement.closest('.node')) n++;"
        " return n; }))"
    )
    assert levels >= 100  # the engine's proofs stop at 100 levels, and say so
    deepest = result.locator(".tree details.node").last
    assert deepest.is_visible()
    assert "deeper proofs left out" in result.locator(".tree").inner_text()


# --- over raw HTTP ------------------------------------------------------------------------


def post(url: str, fields: list[tuple[str, str]] | bytes, **headers: str) -> httpx.Response:
    body = fields if isinstance(fields, bytes) else httpx.QueryParams(fields).__str__().encode()
    return httpx.post(url + PAGE, content=body, timeout=30, headers={
        "content-type": "application/x-www-form-urlencoded", **headers})


def request_fields(subject: str = "alice", action: str = "read",
                   resource: str = "runbook") -> list[tuple[str, str]]:
    return [("mode", "fields"), ("subject_type", "user"), ("subject_id", subject),
            ("action_name", action), ("resource_type", "resource"), ("resource_id", resource)]


def test_bad_forms_get_a_clear_4xx(served: Served) -> None:
    url = served.url
    files = [("path", "a.rules"), ("text", "allow(?u, read, ?r) :- ?u == alice.\n")]
    ok = post(url, [("run", "decide"), *request_fields(), *files])
    assert ok.status_code == 200 and 'class="decision allow"' in ok.text

    def refused(fields: list[tuple[str, str]] | bytes, status: int, words: str,
                **headers: str) -> httpx.Response:
        r = post(url, fields, **headers)
        assert r.status_code == status, (fields, r.status_code, r.text[-500:])
        assert words in r.text, (words, r.text[-2000:])
        return r

    refused([*request_fields(), *files], 400, "&#39;run&#39; must be one of")
    refused([("run", "decide"), ("run", "check"), *files], 400, "sent more than once")
    refused([("run", "launch"), *files], 400, "&#39;run&#39; must be one of")
    refused([("run", "decide"), ("mode", "xml"), *files], 400, "&#39;mode&#39; must be one of")
    refused([("run", "decide"), *request_fields(), ("subject_id", "bob"), *files], 400,
            "sent more than once")
    # a request that cannot be decided: the page says why, and keeps the edited text
    r = refused([("run", "decide"), *request_fields(subject=""), *files], 400,
                "missing &#39;subject.id&#39;")
    assert "allow(?u, read, ?r) :- ?u == alice." in r.text
    refused([("run", "decide"), *request_fields(), ("subject_properties", "{not json"),
             *files], 400, "subject properties: malformed JSON")
    refused([("run", "decide"), *request_fields(), ("resource_properties", "[1, 2]"),
             *files], 400, "&#39;resource.properties&#39; must be an object")
    refused([("run", "decide"), *request_fields(), ("context", "{\"a\": "), *files], 400,
            "context: malformed JSON")
    refused([("run", "decide"), *request_fields(), ("claims", "[]"), *files], 400,
            "claims: must be a JSON object")
    refused([("run", "decide"), ("mode", "json"), ("body", ""), *files], 400,
            "the JSON body is empty")
    refused([("run", "decide"), ("mode", "json"), ("body", '{"subject": 1}'), *files], 400,
            "&#39;subject&#39; must be an object")
    refused([("run", "decide"), ("mode", "json"), ("body", "[" * 200 + "]" * 200), *files],
            400, "nesting is deeper than")
    # files that cannot be read as a set
    refused([("run", "check"), ("path", "a.rules"), ("text", "a."), ("path", "a.rules"),
             ("text", "b.")], 400, "given twice")
    refused([("run", "check"), ("path", "../up.rules"), ("text", "a.")], 400,
            "is not a policy file name")
    refused([("run", "check"), ("path", "a.rules")], 400, "needs a &#39;path&#39; and a")
    refused(b"run=check&path=a.rules&text=" + "caf\u00e9".encode("latin-1"), 400,
            "not UTF-8")
    refused(b"run=check", 415, "x-www-form-urlencoded", **{"content-type": "application/json"})
    assert httpx.get(url + PAGE + "?start=everything").status_code == 400
    assert httpx.get(url + PAGE + "?start=empty&start=empty").status_code == 400


@contextmanager
def serving_with(tmp_path: Path, env: dict[str, str]) -> Any:
    yield from serve(tmp_path, env)


def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    with serving_with(tmp_path, {"SIAMESE_MAX_BODY_BYTES": "4096"}) as served:
        small = post(served.url, [("run", "check"), ("path", "a.rules"), ("text", "a.\n")])
        assert small.status_code == 200
        big = post(served.url, [("run", "check"), ("path", "a.rules"),
                                ("text", "a.\n" + "# " + "x" * 5000)])
        assert big.status_code == 413


def test_a_policy_that_loops_forever_ends_at_a_limit(served: Served) -> None:
    loop = ("nat(0).\nnat(?n) :- nat(?m), ?n is ?m + 1.\n"
            "allow(?u, read, ?r) :- nat(?n), ?n < 0.\n")
    started = time.monotonic()
    r = post(served.url, [("run", "decide"), *request_fields(),
                          ("path", "loop.rules"), ("text", loop)])
    assert r.status_code == 200
    assert "denied: limit exceeded" in r.text
    assert 'data-kind="error"' in r.text
    tests = ("tests:\n  - name: counts forever\n"
             "    request: {subject: a, action: read, resource: b}\n    expect: allow\n")
    r = post(served.url, [("run", "test"), ("path", "loop.rules"), ("text", loop),
                          ("path", "loop.test.yaml"), ("text", tests)])
    assert r.status_code == 200
    assert "limit exceeded" in r.text and ">FAIL<" in r.text
    # each bounded by the decision timeout (1 s by default), with room for a slow machine
    assert time.monotonic() - started < 20
    assert httpx.get(served.url + "/health").status_code == 200


def test_a_cross_site_post_is_refused(served: Served) -> None:
    fields = [("run", "check"), ("path", "a.rules"), ("text", "a.\n")]
    r = post(served.url, fields, origin="http://evil.example")
    assert r.status_code == 403
    assert "cross-site request refused" in r.text
    assert post(served.url, fields, origin=served.url).status_code == 200


def test_the_serving_set_is_unchanged_and_nothing_is_logged(served: Served) -> None:
    before = httpx.get(served.url + "/v1/policies").json()
    on_disk = {p.name: p.read_bytes() for p in served.policies.iterdir()}
    text = "allow(?u, ?a, ?r) :- ?u == playground-probe.\n"
    for run in ("decide", "test", "check"):
        r = post(served.url, [("run", run), *request_fields(subject="playground-probe"),
                              ("path", "access.rules"), ("text", text)])
        assert r.status_code == 200
    after = httpx.get(served.url + "/v1/policies").json()
    assert after["revision"] == before["revision"]
    assert {p.name: p.read_bytes() for p in served.policies.iterdir()} == on_disk
    # the serving set still decides as before
    evaluation = {"subject": {"type": "user", "id": "playground-probe"},
                  "action": {"name": "read"}, "resource": {"type": "resource", "id": "runbook"}}
    answer = httpx.post(served.url + "/access/v1/evaluation", json=evaluation).json()
    assert answer["decision"] is False
    # that decision reaches the log; the playground's, made before it, never did
    wait_for(lambda: served.audit_log.exists() and "playground-probe" in
             served.audit_log.read_text(), "the API's decision in the log")
    logged = [json.loads(line) for line in served.audit_log.read_text().splitlines()]
    probes = [e for e in logged if "playground-probe" in json.dumps(e)]
    assert len(probes) == 1


def test_the_playground_needs_the_admin_key_when_auth_is_on(tmp_path: Path) -> None:
    key = "playground-admin-key-0123456789abcdef"
    with serving_with(tmp_path, {"SIAMESE_ADMIN_KEYS": key}) as served:
        fields = [("run", "decide"), *request_fields(), ("path", "a.rules"),
                  ("text", "allow(?u, read, ?r).\n")]
        assert post(served.url, fields).status_code == 401
        assert post(served.url, fields, **{"x-api-key": "wrong-key-0123456789"}).status_code == 401
        r = post(served.url, fields, **{"x-api-key": key})
        assert r.status_code == 200 and 'class="decision allow"' in r.text


def test_the_playground_with_an_admin_key_in_the_browser(page: Any, tmp_path: Path) -> None:
    key = "playground-admin-key-0123456789abcdef"
    with serving_with(tmp_path, {"SIAMESE_ADMIN_KEYS": key}) as served:
        page.goto(served.url + PAGE)
        page.fill("#admin-key", key)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("body[data-page=playground]")
        assert page.locator("fieldset.pg-json").is_hidden()  # the page's script ran
        # the form goes through fetch() with the key, and the button says what to do
        result = decide(page, "frank", "delete", "runbook")
        assert result.locator("h2 .decision").inner_text() == "deny"
        page.click("button[value=check]")
        assert page.locator("#result.check h2").inner_text().startswith("Check: 0 errors")
