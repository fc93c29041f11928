"""The README's example of the engine's decision API runs as written, and says what its
comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_decision_api_example() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if b.startswith("# the engine's decision API")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert lines[0] == "allow ('inline.rules:2',) allow(ann, read, doc1)"
    assert lines[1] == "deny"
    assert lines[2].startswith("[WhyNot(rule='inline.rules:2'")
    assert lines[3] == "(('X-Team', 'staff'),)"
    assert lines[4] == "inline.rules:2 3 0"  # three decisions, all by compiled code
