"""Loading policy directories and swapping policy sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from siamese.engine.errors import PolicyErrors, PolicySyntaxError
from siamese.policy.loader import load_policy_set, scan
from siamese.policy.store import PolicyStore


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_directory_loads_recursively_all_formats_and_skips_tests_and_temp_files(
    tmp_path: Path,
) -> None:
    write(tmp_path, "a.rules", "p(1).")
    write(tmp_path, "sub/b.yaml", "facts:\n  - [p, 2]\n")
    write(tmp_path, "sub/deeper/c.json", '{"facts": [["p", 3]]}')
    write(tmp_path, "a.test.yaml", "tests: []\n")
    for junk in (".hidden.rules", "a.rules~", "a.rules.swp", "x.rules.tmp", "notes.txt"):
        write(tmp_path, junk, "this is not a policy (")
    ps = load_policy_set(tmp_path)
    assert ps.files == ["a.rules", "sub/b.yaml", "sub/deeper/c.json"]
    assert ps.tests == ["a.test.yaml"]
    assert len(ps.program.predicate("p", 1).rows) == 3


def test_the_revision_is_a_content_hash(tmp_path: Path) -> None:
    write(tmp_path, "a.rules", "p(1).")
    r1 = load_policy_set(tmp_path).revision
    assert load_policy_set(tmp_path).revision == r1
    write(tmp_path, "a.rules", "p(2).")
    r2 = load_policy_set(tmp_path).revision
    assert r2 != r1 and len(r2) == 12
    write(tmp_path, "a.rules", "p(1).")
    assert load_policy_set(tmp_path).revision == r1


def test_every_syntax_error_of_every_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.rules", "p(1).\nq(.\n")
    write(tmp_path, "b.yaml", "facts: 3\n")
    with pytest.raises(PolicyErrors) as err:
        load_policy_set(tmp_path)
    text = str(err.value)
    assert "a.rules:2:3:" in text
    assert "b.yaml:1:" in text


async def test_a_broken_set_leaves_the_last_good_one_serving(tmp_path: Path) -> None:
    write(tmp_path, "a.rules", "allow(alice, read, doc).")
    store = PolicyStore(tmp_path)
    first = store.load_sync()
    assert first.ok and first.changed and store.reloads == 1
    good = store.revision
    write(tmp_path, "a.rules", "allow(alice, read, doc).\nallow(bob read, doc).\n")
    result = await store.reload()
    assert not result.ok and not result.changed
    assert store.revision == good
    assert store.last_error is not None and store.last_error.startswith("a.rules:2:")
    assert store.failures == 1
    write(tmp_path, "a.rules", "allow(alice, read, doc).\nallow(bob, read, doc).\n")
    fixed = await store.reload()
    assert fixed.ok and fixed.changed and store.revision != good
    assert store.last_error is None
    again = await store.reload()
    assert again.ok and not again.changed  # same content: no new revision


async def test_a_gate_can_refuse_a_new_set(tmp_path: Path) -> None:
    write(tmp_path, "a.rules", "p(1).")
    store = PolicyStore(tmp_path, gate=lambda ps: None if ps.program.predicate("p", 1).rows
                        else "no p facts")
    assert store.load_sync().ok
    write(tmp_path, "a.rules", "q(1).")
    result = await store.reload()
    assert not result.ok and "policy tests failed" in (result.error or "")


def test_load_sync_of_a_missing_directory_reports_the_error(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "missing")
    result = store.load_sync()
    assert not result.ok and store.get() is None and "not a directory" in (result.error or "")


def test_scan_follows_symlinked_files(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    write(tmp_path, "real/x.rules", "p(1).")
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "x.rules").symlink_to(tmp_path / "real" / "x.rules")
    files, _ = scan(tmp_path / "pol")
    assert [f.path for f in files] == ["x.rules"]


def test_defining_a_builtin_is_an_error_with_a_location(tmp_path: Path) -> None:
    write(tmp_path, "a.rules", "p(1).\nmember(a, b).\n")
    with pytest.raises(PolicySyntaxError) as err:
        load_policy_set(tmp_path)
    assert str(err.value).startswith("a.rules:2:1: cannot define built-in predicate 'member'")
