"""The authoring commands: check, test, decide, query — run as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from siamese.cli import main
from tests.pip.upstream import Server

POLICIES = Path(__file__).parents[1] / "policies"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    dst = tmp_path / "policies"
    shutil.copytree(POLICIES, dst)
    return dst


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_check_is_clean_on_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "check", str(POLICIES))
    assert code == 0
    assert "0 errors, 0 warnings" in out


def test_check_reports_findings_with_locations(shipped: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (shipped / "extra.rules").write_text("ok(?u) :- user(?u), not grant(?u, ?r, _).\n"
                                         "bad(?u :- x.\n")
    code, out = run(capsys, "check", str(shipped))
    assert code == 1
    assert "extra.rules:2:8: error:" in out
    (shipped / "extra.rules").write_text("ok(?u) :- user(?u), not grant(?u, ?r, _).\n")
    code, out = run(capsys, "check", str(shipped), "--format", "json")
    assert code == 1
    data = json.loads(out)
    codes = {(f["code"], f["line"], f["col"]) for f in data["findings"]}
    assert ("unsafe-negation", 1, 21) in codes
    assert ("singleton", 1, 1) in codes


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        main(["check", "--format", "yaml"])
    assert err.value.code == 2
    code, out = run(capsys, "check", "/nonexistent/dir")
    assert code == 2 and "not a directory" in out


def test_test_passes_on_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "test", str(POLICIES))
    assert code == 0
    assert out.strip().splitlines()[-1] == "19 passed, 0 failed"


def test_test_fails_usefully_when_a_shipped_rule_is_broken(
    shipped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = shipped / "access.rules"
    text = rules.read_text()
    # break the owner rule: the arguments of owner/2 swapped
    broken = text.replace("owner(?doc, ?user), action(?action)",
                          "owner(?user, ?doc), action(?action)")
    assert broken != text
    rules.write_text(broken)
    code, out = run(capsys, "test", str(shipped))
    assert code == 1
    assert "FAIL access.test.yaml:5: the owner of a document may delete it" in out
    # alice may still delete through her group: the test pins the rule, and says which did
    assert ("expected rule owner-full-access to decide it, but group-grant did "
            "(allowed by rule group-grant)") in out
    assert "allow(alice, delete, runbook)  [rule group-grant @ access.rules:22]" in out
    assert out.strip().splitlines()[-1] == "18 passed, 1 failed"


def test_test_shows_the_why_not_of_a_broken_allow(shipped: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rules = shipped / "access.rules"
    # break the direct-grant rule: it now asks for a grant on the document, not its folder
    rules.write_text(rules.read_text().replace("grant(?user, ?role, ?folder)",
                                               "grant(?user, ?role, ?doc)"))
    code, out = run(capsys, "test", str(shipped))
    assert code == 1
    assert "FAIL access.test.yaml:10: a grant to a user on a folder covers the documents" in out
    assert "expected allow, got deny (no rule allows dave to read api_spec)" in out
    assert "rule direct-grant @ access.rules:14 matched allow(dave, read, api_spec)" in out
    assert "but grant(dave, ?role, api_spec) has no proof @ access.rules:17:5" in out


def test_decide_prints_the_decision_and_its_proof(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "decide", str(POLICIES), "--subject", "alice", "--action", "read",
                    "--resource", "runbook")
    assert code == 0
    assert out.startswith("ALLOW alice read runbook: allowed by rule owner-full-access")
    assert "owner(runbook, alice)  [fact @ documents.rules:" in out
    code, out = run(capsys, "decide", str(POLICIES), "--subject", "dave", "--action", "read",
                    "--resource", "runbook", "--subject-properties",
                    '{"department": "engineering"}', "--json")
    data = json.loads(out)
    assert data["decision"] is True and data["rule_ids"][0] == "department-read"
    code, out = run(capsys, "decide", str(POLICIES), "--subject", "erin", "--action", "read",
                    "--resource", "api_spec", "--exit-code")
    assert code == 3 and out.startswith("DENY erin read api_spec: denied by rule suspended-account")


def test_query_answers_any_goal(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "query", "member_of(frank, ?g)", str(POLICIES))
    assert code == 0
    assert sorted(out.splitlines()[:-1]) == ["?g = all_hands", "?g = staff"]
    code, out = run(capsys, "query", "member_of(frank, ?g)", str(POLICIES), "--json")
    assert {json.loads(line)["?g"] for line in out.splitlines()} == {"all_hands", "staff"}
    code, out = run(capsys, "query", "member_of(frank, (", str(POLICIES))
    assert code == 2 and "<query>:1:" in out


def test_query_explain_prints_proofs_and_why_nots_as_decide_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run(capsys, "query", "allow(ivan, write, runbook)", str(POLICIES), "--explain")
    assert code == 0 and out.startswith("true\n")
    # the goal, the rule that proved it and where, its description, the facts below it
    assert "  allow(ivan, write, runbook)  [rule group-grant @ access.rules:22]" in out
    assert "    # Members of a group" in out
    assert "    user(ivan)  [fact @ users.json:12]" in out
    code, out = run(capsys, "query", "allow(frank, write, runbook)", str(POLICIES), "--explain")
    assert code == 0 and out.startswith("no solutions\n")
    assert "  rule direct-grant @ access.rules:14 matched allow(frank, write, runbook)" in out
    assert "    but grant(frank, ?role, platform) has no proof @ access.rules:17:5" in out
    assert "    with ?user=frank, ?action=write, ?doc=runbook, ?folder=platform" in out
    # the same lines as the decision's explanation
    _, decided = run(capsys, "decide", str(POLICIES), "--subject", "frank", "--action", "write",
                     "--resource", "runbook")
    assert decided.splitlines()[1:] == out.splitlines()[1:-1]


def test_check_knows_the_external_data_builtins(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.rules").write_text(
        '@id("owners-read")\n'
        "allow(?u, read, ?doc) :-\n"
        '    concat("https://docs.example/api/docs/", ?doc, ?url),\n'
        "    http_get_json(?url, ?meta),\n"
        '    json_path(?meta, "owners", ?owners),\n'
        "    ?u in ?owners.\n"
    )
    code, out = run(capsys, "check", str(tmp_path))
    assert "undefined" not in out
    assert code == 0 and "1 files checked: 0 errors, 0 warnings" in out


def test_operator_builtins_come_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.rules").write_text(
        '@id("engineers-read")\nallow(?u, read, _) :- department(?u, eng).\n'
    )
    (tmp_path / "p.test.yaml").write_text(
        "tests:\n"
        "  - name: alice is an engineer\n"
        "    request: {subject: alice, action: read, resource: plan}\n"
        "    expect: allow\n"
        "    rule: engineers-read\n"
        "  - name: bob is not\n"
        "    request: {subject: bob, action: read, resource: plan}\n"
        "    expect: deny\n"
    )
    code, out = run(capsys, "check", str(tmp_path))
    assert code == 1 and "undefined" in out  # without SIAMESE_BUILTINS: an unknown predicate
    monkeypatch.setenv("SIAMESE_BUILTINS", "tests.pip.operator_mod:BUILTINS")
    code, out = run(capsys, "check", str(tmp_path))
    assert code == 0 and "0 errors, 0 warnings" in out
    code, out = run(capsys, "decide", str(tmp_path), "--subject", "alice", "--action", "read",
                    "--resource", "plan")
    assert code == 0 and out.startswith("ALLOW alice read plan: allowed by rule engineers-read")
    code, out = run(capsys, "decide", str(tmp_path), "--subject", "bob", "--action", "read",
                    "--resource", "plan", "--exit-code")
    assert code == 3 and out.startswith("DENY bob read plan")
    code, out = run(capsys, "test", str(tmp_path))
    assert code == 0 and "2 passed, 0 failed" in out
    # siamese query runs async built-ins (the sync driver refuses them)
    code, out = run(capsys, "query", "department(alice, ?d)", str(tmp_path))
    assert code == 0 and out.splitlines()[0] == "?d = eng"
    code, out = run(capsys, "query", "department(carol, ?d)", str(tmp_path), "--json")
    assert code == 0 and json.loads(out) == {"solutions": 0}
    monkeypatch.setenv("SIAMESE_BUILTINS", "tests.pip.nowhere:BUILTINS")
    code, out = run(capsys, "decide", str(tmp_path), "--subject", "alice", "--action", "read",
                    "--resource", "plan")
    assert code == 2 and "SIAMESE_BUILTINS: built-ins 'tests.pip.nowhere:BUILTINS'" in out


def test_query_and_decide_fetch_from_the_allowed_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    upstream: Server,
) -> None:
    upstream.json("/docs/plan", {"owners": ["alice", "bob"]})
    (tmp_path / "p.rules").write_text(
        '@id("owners-read")\n'
        "allow(?u, read, ?doc) :-\n"
        f'    concat("{upstream.base}/docs/", ?doc, ?url),\n'
        "    http_get_json(?url, ?meta),\n"
        '    json_path(?meta, "owners", ?owners),\n'
        "    ?u in ?owners.\n"
    )
    code, out = run(capsys, "decide", str(tmp_path), "--subject", "bob", "--action", "read",
                    "--resource", "plan", "--json")
    assert code == 0 and json.loads(out)["decision"] is False
    assert "refused: external data is off" in json.loads(out)["explanation"]["notes"][0]
    monkeypatch.setenv("SIAMESE_HTTP_ALLOW", upstream.url("/docs/"))
    code, out = run(capsys, "decide", str(tmp_path), "--subject", "bob", "--action", "read",
                    "--resource", "plan")
    assert code == 0 and out.startswith("ALLOW bob read plan: allowed by rule owners-read")
    code, out = run(capsys, "query", "allow(?u, read, plan)", str(tmp_path), "--explain")
    assert code == 0
    assert "?u = alice" in out and "?u = bob" in out and "owners-read" in out
    assert upstream.hits["/docs/plan"] == 2  # one fetch per command


def test_query_show_compiled(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run(capsys, "query", "--show-compiled", "allow/3", str(POLICIES))
    assert code == 0
    assert "# owner-full-access: compiled\ndef run(q, args):" in out
    assert ": interpreted" not in out  # every rule of the shipped set is compiled
    (tmp_path / "p.rules").write_text(
        '@id("plain")\nallow(?u, read, ?d) :- owner(?d, ?u).\n'
        '@id("either")\nallow(?u, ?a, ?d) :- owner(?d, ?u), (?a == read ; ?a == write).\n'
        "owner(d, alice).\n")
    code, out = run(capsys, "query", "--show-compiled", "allow/3", str(tmp_path))
    assert code == 0
    assert "# plain: compiled" in out and "# either: interpreted" in out  # a disjunction
    with pytest.raises(SystemExit, match="no predicate nope/2"):
        run(capsys, "query", "--show-compiled", "nope/2", str(POLICIES))
    with pytest.raises(SystemExit, match="takes PRED/N"):
        run(capsys, "query", "--show-compiled", "allow", str(POLICIES))
