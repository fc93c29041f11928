"""``siamese plan``: the query plan of a subject, an action and a resource type, from the
files — as text (the kind, the condition, the rule behind each branch) or as the JSON the
HTTP API answers; a policy that cannot be planned exits 2 naming the rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siamese.cli import main

POLICIES = Path(__file__).parents[1] / "policies"

DEPARTMENTS = """\
department(alice, eng).
owner("doc-1", alice).
owner("doc-7", alice).
status(mallory, suspended).

@id("department-read")
allow(?u, read, _) :- department(?u, ?d), input("resource.properties.department", ?d).
@id("owner")
allow(?u, _, ?r) :- owner(?r, ?u).
@id("suspended")
deny(?u, _, _) :- status(?u, suspended).
@id("public-titles")
allow(_, share, _) :- input("resource.properties.title", ?t), regex("^public-", ?t).
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    (tmp_path / "p.rules").write_text(DEPARTMENTS)
    return tmp_path


def test_plan_prints_the_kind_the_condition_and_the_rules(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "plan", str(policy), "--subject", "alice", "--action", "read",
                       "--resource-type", "document")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("KIND_CONDITIONAL alice read document  (revision ")
    assert lines[1] in (
        '  where resource.attr.department == "eng" or resource.id in ["doc-1", "doc-7"]',
        '  where resource.id in ["doc-1", "doc-7"] or resource.attr.department == "eng"',
    )
    assert sorted(lines[2:]) == [
        '  allow department-read (p.rules:7): resource.attr.department == "eng"',
        '  allow owner (p.rules:9): resource.id in ["doc-1", "doc-7"]',
    ]


def test_plan_json_is_the_answer_of_the_http_api_without_an_id(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "plan", str(policy), "--subject", "alice", "--action", "write",
                       "--resource-type", "document", "--json")
    assert code == 0
    assert json.loads(out) == {
        "revision": json.loads(out)["revision"],
        "filter": {"kind": "KIND_CONDITIONAL", "condition": {"expression": {
            "operator": "in",
            "operands": [{"variable": "request.resource.id"}, {"value": ["doc-1", "doc-7"]}],
        }}},
        "explanation": [{"rule": "owner", "location": "p.rules:9", "effect": "allow",
                         "condition": 'resource.id in ["doc-1", "doc-7"]'}],
    }


def test_constant_plans_print_no_condition(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "plan", str(policy), "--subject", "mallory", "--action", "read",
                       "--resource-type", "document")
    assert code == 0
    assert out.startswith("KIND_ALWAYS_DENIED mallory read document")
    assert "where" not in out and "  deny suspended (p.rules:11)" in out
    code, out, _ = run(capsys, "plan", str(policy), "--subject", "nobody", "--action", "read",
                       "--resource-type", "document")
    assert out.splitlines()[0].startswith("KIND_ALWAYS_DENIED nobody read document")
    assert len(out.splitlines()) == 1


def test_the_subjects_properties_and_the_context_are_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "plan", str(POLICIES), "--subject", "frank", "--action", "read",
                       "--resource-type", "document", "--subject-properties",
                       '{"department": "engineering"}', "--json")
    assert code == 0
    rules = {e["rule"] for e in json.loads(out)["explanation"]}
    assert "department-read" in rules  # the department came from --subject-properties
    code, out, _ = run(capsys, "plan", str(POLICIES), "--subject", "frank", "--action", "read",
                       "--resource-type", "document", "--json")
    assert "department-read" not in {e["rule"] for e in json.loads(out)["explanation"]}


def test_a_rule_that_cannot_be_planned_exits_2_naming_it(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "plan", str(policy), "--subject", "alice", "--action",
                         "share", "--resource-type", "document")
    assert code == 2 and out == ""
    assert err.startswith("siamese plan: p.rules:13:")
    assert "public-titles" in err and "regex" in err


def test_a_limit_exits_2_naming_it(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", str(policy), "--subject", "alice", "--action", "read",
                         "--resource-type", "document", "--max-steps", "2")
    assert code == 2 and out == "" and "max_steps" in err


def test_bad_arguments_exit_2(policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", str(policy), "--subject", "alice", "--action", "read",
                       "--resource-type", "document", "--context", "[1]")
    assert code == 2 and "'context' must be an object" in err
    code, _, err = run(capsys, "plan", str(policy), "--subject", "alice", "--action", "read",
                       "--resource-type", "document", "--subject-properties", "{oops")
    assert code == 2 and err.startswith("siamese: ")
    with pytest.raises(SystemExit) as exit_:
        main(["plan", str(policy), "--subject", "alice", "--action", "read"])
    assert exit_.value.code == 2  # --resource-type is required
