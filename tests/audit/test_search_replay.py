"""`siamese audit` filters and --show, and `siamese replay` on real policy edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from siamese.audit.log import AuditLog
from siamese.audit.sink import JsonlSink
from siamese.cli import main
from siamese.decision.authorizer import Authorizer
from siamese.decision.models import Request
from siamese.decision.service import DecisionService
from siamese.policy.loader import load_policy_set

POLICIES = Path(__file__).parents[2] / "policies"
REQUESTS = [
    ("alice", "delete", "runbook"),   # owner
    ("dave", "read", "api_spec"),     # direct grant
    ("ivan", "write", "runbook"),     # group grant
    ("grace", "delete", "api_spec"),  # workspace admin
    ("frank", "read", "press_release"),  # public
    ("erin", "read", "api_spec"),     # suspended: deny
    ("frank", "read", "salary_review"),  # default deny
    ("judy", "read", "runbook"),      # direct grant (external contractor)
]


@pytest.fixture
async def logged(tmp_path: Path) -> Path:
    """A decision log of REQUESTS decided under the shipped policies."""
    ps = load_policy_set(POLICIES)
    service = DecisionService(lambda: ps, Authorizer(), None)
    path = tmp_path / "audit" / "decisions.jsonl"
    log = AuditLog(JsonlSink(path), clock=iter([1.7e9 + i * 3600 for i in range(99)]).__next__)
    await log.start()
    for s, a, r in REQUESTS:
        log(await service.decide(Request.simple(s, a, r)))
    await log.stop()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (out.out + out.err).strip().splitlines()


def test_audit_filters(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(capsys, "audit", str(logged), "--decision", "deny")
    assert code == 0 and lines[-1] == "-- 2 decisions"
    assert {ln.split()[3] for ln in lines[:-1]} == {"erin", "frank"}
    _, lines = run(capsys, "audit", str(logged), "--subject", "frank")
    assert lines[-1] == "-- 2 decisions"
    _, lines = run(capsys, "audit", str(logged), "--rule", "group-grant")
    assert lines[-1] == "-- 2 decisions"  # ivan allowed by it; frank's why-not names it
    _, lines = run(capsys, "audit", str(logged), "--action", "delete", "--resource", "runbook")
    assert lines[-1] == "-- 1 decision"
    # events are one hour apart from 2023-11-14T22:13:20Z
    _, lines = run(capsys, "audit", str(logged), "--since", "2023-11-15T01:00:00Z",
                   "--until", "2023-11-15T03:00:00Z")
    assert lines[-1] == "-- 2 decisions"
    rev = load_policy_set(POLICIES).revision
    _, lines = run(capsys, "audit", str(logged), "--revision", rev[:6], "--json")
    assert len(lines) == len(REQUESTS) and json.loads(lines[0])["revision"] == rev


def test_audit_show_prints_the_proof_tree(logged: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, lines = run(capsys, "audit", str(logged), "--subject", "ivan", "--json")
    ident = json.loads(lines[0])["decision_id"]
    code, lines = run(capsys, "audit", str(logged), "--show", ident)
    assert code == 0
    assert lines[0] == "ALLOW ivan write runbook: allowed by rule group-grant"
    text = "\n".join(lines)
    assert "allow(ivan, write, runbook)  [rule group-grant @ access.rules:22]" in text
    assert "in_group(ivan, platform_team)  [fact @ users.json:" in text
    code, _ = run(capsys, "audit", str(logged), "--show", "no-such-id")
    assert code == 1


def test_audit_reads_rotated_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    (tmp_path / "d.jsonl.2").write_text('{"decision_id": "a", "decision": true}\n')
    (tmp_path / "d.jsonl.1").write_text('{"decision_id": "b", "decision": true}\n')
    path.write_text('{"decision_id": "c", "decision": true}\n{"decision_id": "torn", "dec')
    _, lines = run(capsys, "audit", str(path), "--json")
    assert [json.loads(x)["decision_id"] for x in lines] == ["a", "b", "c"]


def test_replay_lists_exactly_the_decisions_a_change_would_flip(
    logged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new"
    shutil.copytree(POLICIES, new)
    rules = new / "access.rules"
    text = rules.read_text()
    # remove the workspace-admin rule, and add a deny for external accounts reading
    start = text.index('@id("workspace-admin")')
    end = text.index("document(?doc).", start) + len("document(?doc).")
    text = text[:start] + text[end:]
    text += ('\n@id("external-read-only-own")\ndeny(?u, read, ?d) :- status(?u, external), '
             'not owner(?d, ?u).\n')
    rules.write_text(text)
    code, lines = run(capsys, "replay", str(logged), "--policies", str(new))
    assert code == 1
    assert lines[-1] == f"{len(REQUESTS)} decisions replayed against revision " \
                        f"{load_policy_set(new).revision}: 2 would change"
    changed = sorted(lines[:-1])
    assert len(changed) == 2
    assert "grace delete api_spec: allow -> deny  (rule workspace-admin (no longer applies);" \
        in changed[0]
    assert "judy read runbook: allow -> deny  (rule external-read-only-own;" in changed[1]
    code, lines = run(capsys, "replay", str(logged), "--policies", str(POLICIES))
    assert code == 0 and lines[-1].endswith(": 0 would change")


async def test_audit_output_cannot_be_forged_by_logged_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an id, a subject and a resource holding a newline and an ANSI escape (clear screen)
    # would print as a line of their own, or drive the terminal: each is shown escaped
    from siamese.decision.models import Decision, Outcome

    path = tmp_path / "d.jsonl"
    log = AuditLog(JsonlSink(path))
    await log.start()
    forged = "1970-01-01T00:00:00.000Z  fake-id  allow  root write everything"
    req = Request.simple("eve\n" + forged, "read\x1b[2J", "doc\u202e1")
    outcome = Outcome(False, "rev1", "no rule", {"kind": "default-deny", "why_not": []})
    log(Decision(outcome, "id\n" + forged, req))
    await log.stop()
    code, lines = run(capsys, "audit", str(path))
    assert code == 0 and len(lines) == 2 and lines[-1] == "-- 1 decision"
    assert "\x1b" not in lines[0] and "\u202e" not in lines[0]
    assert "eve\\x0a1970" in lines[0] and "read\\x1b[2J" in lines[0] and "doc\\u202e1" in lines[0]
    code, lines = run(capsys, "audit", str(path), "--show", "id\n" + forged)
    text = "\n".join(lines)
    assert code == 0 and not any(line.startswith("1970") for line in lines)
    assert "\x1b" not in text and "id\\x0a1970" in text
