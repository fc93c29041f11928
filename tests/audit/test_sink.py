"""The JSON-lines sink: whole lines, rotation, several processes on one file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from siamese.audit.search import log_files, read_events
from siamese.audit.sink import JsonlSink


def test_rotation_by_size_keeps_the_configured_number_of_files(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "d.jsonl", max_bytes=1000, backups=3)
    for i in range(100):
        sink.write(json.dumps({"decision_id": f"{i:098}"}).encode() + b"\n")
    sink.close()
    files = log_files(tmp_path / "d.jsonl")
    assert [f.name for f in files] == ["d.jsonl.3", "d.jsonl.2", "d.jsonl.1", "d.jsonl"]
    assert all(f.stat().st_size <= 1000 for f in files)
    ids = [int(e["decision_id"]) for e in read_events(tmp_path / "d.jsonl")]
    assert ids == sorted(ids) and ids[-1] == 99  # oldest first, the newest kept


def _writer(path: str, tag: str, n: int) -> None:
    sink = JsonlSink(path, max_bytes=64 * 1024, backups=50)
    for i in range(n):
        batch = b"".join(
            json.dumps({"decision_id": f"{tag}-{i}-{j}", "pad": "p" * 200}).encode() + b"\n"
            for j in range(5)
        )
        sink.write(batch)
    sink.close()


def test_two_processes_appending_and_rotating_never_tear_a_line(tmp_path: Path) -> None:
    path = str(tmp_path / "d.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, tag, 400)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = []
    for f in log_files(path):
        lines.extend(f.read_bytes().splitlines())
    events = [json.loads(line) for line in lines]  # every line parses: none torn
    ids = {e["decision_id"] for e in events}
    assert len(events) == len(ids) == 2 * 400 * 5
    assert len(log_files(path)) > 2  # it did rotate, from both processes


def test_a_log_rotated_by_someone_else_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    sink = JsonlSink(path, max_bytes=0)
    sink.write(b'{"decision_id": "1"}\n')
    path.rename(tmp_path / "d.jsonl.1")  # logrotate
    sink.write(b'{"decision_id": "2"}\n')
    sink.close()
    assert [e["decision_id"] for e in read_events(path)] == ["1", "2"]
    assert path.read_text() == '{"decision_id": "2"}\n'
