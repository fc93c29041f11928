from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from siamese.pip import HttpData
from siamese.policy.loader import PolicySet, load_policy_set


def owners_policy(base: str) -> str:
    """A policy that reads who owns a document from the upstream at ``base``."""
    return f"""
@id("owner-reads")
allow(?u, read, ?doc) :-
    concat("{base}/docs/", ?doc, ?url),
    http_get_json(?url, ?meta),
    json_path(?meta, "owners", ?owners),
    ?u in ?owners.
"""


class Clock:
    """A fake monotonic clock for the data cache and the breakers."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_http(clock: Clock) -> AsyncIterator[Callable[..., HttpData]]:
    """Build HttpData objects (on the fake clock unless told otherwise); all closed after."""
    made: list[HttpData] = []

    def make(allow: list[str], **kw: Any) -> HttpData:
        kw.setdefault("clock", clock)
        kw.setdefault("timeout", 2.0)
        h = HttpData(allow, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        await h.aclose()


def write_policy(root: Path, text: str, builtins: dict[str, Any]) -> PolicySet:
    (root / "p.rules").write_text(text)
    return load_policy_set(root, builtins=builtins)
