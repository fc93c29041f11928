"""The README's query-plan example runs as written and prints what the README says."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_filtering_example() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    (code,) = [b for b in blocks if b.startswith("# filtering a list")]
    start = readme.index(code) + len(code)
    printed = re.search(r"prints\n\n```\n(.*?)```", readme[start:], re.S)
    assert printed is not None
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    assert out.getvalue() == printed.group(1)


def test_the_readme_plan_command() -> None:
    import shlex
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ (siamese plan [^\n]*)\n(.*?)```", readme, re.S)
    assert block is not None
    args = shlex.split(block.group(1))[1:]
    out = subprocess.run([sys.executable, "-m", "siamese", *args], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert out == block.group(2)
