"""Fixtures shared by the test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pip.upstream import Server


@pytest.fixture
def upstream() -> Iterator[Server]:
    """A local HTTP server to fetch external data from (see tests/pip/upstream.py)."""
    server = Server().start()
    try:
        yield server
    finally:
        server.close()
