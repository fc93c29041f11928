"""Reading the decision log newest first, a page at a time (the console's search): every
event once, across rotated files, torn and overlong lines skipped, and the work bounded by
the page rather than by the log."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from siamese.audit import search
from siamese.audit.search import (
    Filter,
    find_event,
    read_events,
    read_events_newest_first,
    search_page,
)


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {"decision_id": f"d{i:05d}", "time": f"2026-01-01T00:00:{i % 60:02d}.000Z",
            "subject": "alice" if i % 2 else "bob", "action": "read", "resource": f"doc{i}",
            "decision": i % 3 != 0, "rule_ids": ["owner"] if i % 3 else [], **extra}


def write(path: Path, events: list[dict[str, Any]], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + tail)


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
def test_lines_backwards_gives_every_line_last_first(block: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "_BLOCK", block)
    for data in [b"", b"a", b"a\n", b"\n\n", b"one\ntwo\nthree", b"one\ntwo\nthree\n",
                 b"x" * 100 + b"\n" + b"y" * 3 + b"\n" + b"z" * 50]:
        got = list(search._lines_backwards(io.BytesIO(data)))
        assert got == list(reversed(data.split(b"\n"))), data


def test_an_overlong_line_is_skipped_not_gathered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "_BLOCK", 8)
    monkeypatch.setattr(search, "MAX_LINE_BYTES", 32)
    data = b"first\n" + b"L" * 500 + b"\nlast\n"
    got = [x for x in search._lines_backwards(io.BytesIO(data)) if x]
    assert got == [b"last", b"first"]
    data = b"L" * 500 + b"\nlast"  # the overlong line first in the file
    assert [x for x in search._lines_backwards(io.BytesIO(data)) if x] == [b"last"]


def test_newest_first_is_oldest_first_reversed_across_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write(tmp_path / "d.jsonl.2", [event(i) for i in range(0, 5)])
    write(tmp_path / "d.jsonl.1", [event(i) for i in range(5, 9)], b"not json\n")
    write(path, [event(i) for i in range(9, 12)], b'{"decision_id": "torn", "dec')
    oldest = [e["decision_id"] for e in read_events(path)]
    newest = [e["decision_id"] for e in read_events_newest_first(path)]
    assert newest == list(reversed(oldest)) == [f"d{i:05d}" for i in reversed(range(12))]


def test_find_event(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write(path, [event(i) for i in range(20)])
    found = find_event(path, "d00003")
    assert found is not None and found["resource"] == "doc3"
    assert find_event(path, "nope") is None
    assert find_event(tmp_path / "missing.jsonl", "d00003") is None


def test_pages_newest_first_with_cursors_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write(tmp_path / "d.jsonl.1", [event(i) for i in range(0, 10)])
    write(path, [event(i) for i in range(10, 25)])
    alice = Filter(subject="alice")  # the odd ones: 12 of them, newest d00023
    expected = [f"d{i:05d}" for i in reversed(range(25)) if i % 2]
    ids = lambda p: [e["decision_id"] for e in p.events]  # noqa: E731
    first = search_page(path, alice, 5)
    assert ids(first) == expected[:5] and not first.newer and first.older
    second = search_page(path, alice, 5, before=ids(first)[-1])
    assert ids(second) == expected[5:10] and second.newer and second.older
    third = search_page(path, alice, 5, before=ids(second)[-1])  # across the rotation
    assert ids(third) == expected[10:] and third.newer and not third.older
    back = search_page(path, alice, 5, after=ids(third)[0])
    assert ids(back) == expected[5:10] and back.newer and back.older
    top = search_page(path, alice, 5, after=ids(back)[0])
    assert ids(top) == expected[:5] and not top.newer
    gone = search_page(path, alice, 5, before="rotated-away")
    assert not gone.found and gone.events == []
    assert not search_page(path, alice, 5, after="rotated-away").found


def test_a_page_of_a_large_log_holds_the_page_only(tmp_path: Path) -> None:
    """About 20 MB of events: the newest page reads a few blocks; a search that matches
    nothing reads all of it, one line at a time; neither holds more than a page."""
    path = tmp_path / "d.jsonl"
    pad = "x" * 1000
    with path.open("wb") as fh:
        for i in range(20_000):
            fh.write(orjson.dumps(event(i, request={"pad": pad})) + b"\n")
    tracemalloc.start()
    try:
        page = search_page(path, Filter(), 50)
        assert len(page.events) == 50 and page.older
        nothing = search_page(path, Filter(subject="nobody"), 50)
        assert nothing.events == [] and not nothing.older
        some = search_page(path, Filter(resource="doc7"), 50)
        assert [e["decision_id"] for e in some.events] == ["d00007"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak  # the log is 20 MB


def test_a_line_of_another_shape_matches_no_rule_rather_than_failing(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write(path, [{"decision_id": "a", "rule_ids": 5, "explanation": ["x"]},
                 {"decision_id": "b", "rule_ids": "owner", "explanation": {"why_not": 3}},
                 {"decision_id": "c", "explanation": {"why_not": [1, {"rule": "owner"}]}},
                 event(1)])
    page = search_page(path, Filter(rule="owner"), 10)
    assert [e["decision_id"] for e in page.events] == ["d00001", "c"]
