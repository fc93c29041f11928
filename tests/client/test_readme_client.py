"""The README's HTTP client example runs as written against a real server on the shipped
policies and prints what the README says."""

from __future__ import annotations

import contextlib
import io
import re

from .conftest import REPO, Served


def test_the_readme_client_example(server: Served) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    (code,) = [b for b in blocks if b.startswith("# the HTTP client")]
    start = readme.index(code) + len(code)
    printed = re.search(r"prints\n\n```\n(.*?)```", readme[start:], re.S)
    assert printed is not None
    assert "http://127.0.0.1:8000" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("http://127.0.0.1:8000", server.url), "README.md", "exec"),
             {"__name__": "readme"})
    assert out.getvalue() == printed.group(1)
