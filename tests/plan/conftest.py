"""Real databases for the query-plan filters: a PostgreSQL started from Debian's
``postgresql`` in a temporary directory (once a session), and SQLite files that allow
only 999 bound parameters a statement, as SQLite builds before 3.32 do."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event

from tests.e2e.helpers import free_port

SQLITE_MAX_VARIABLES = 999
PG_DEADLINE = 60  # seconds: pg_ctl -w waits for the server to accept connections, no longer


def postgres_bindir() -> Path:
    """The directory of the newest installed PostgreSQL's initdb and pg_ctl; a skip
    without it (an error in CI, which installs it)."""
    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path))

    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        if os.environ.get("CI"):
            raise RuntimeError("postgresql is missing: .ci/run installs it with apt-get")
        pytest.skip("postgresql is not installed (apt-get install postgresql)")
    return Path(initdb).parent


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=PG_DEADLINE)
    if done.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr}{server_log}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Engine]:
    """An empty PostgreSQL reached over a unix socket in its own temporary directory
    (no TCP listener), stopped and removed after the session. PostgreSQL refuses to run
    as root: as root, its commands run as the ``postgres`` user, which owns the directory."""
    bindir = postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="siamese-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = root / "data", root / "server.log", free_port()
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"], "initdb")
        _run([*pg_ctl, "-l", str(log), "-w", "-t", str(PG_DEADLINE),
              "-o", f"-p {port} -k {root} -h '' -c fsync=off", "start"], "pg_ctl start", log)
        engine = create_engine(f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}")
        try:
            yield engine
        finally:
            engine.dispose()
            _run([*pg_ctl, "-m", "immediate", "-w", "stop"], "pg_ctl stop", log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sqlite_engine(path: Path) -> Engine:
    """A SQLite database in ``path`` whose statements may bind at most 999 parameters."""
    engine = create_engine(f"sqlite+pysqlite:///{path}")

    @event.listens_for(engine, "connect")
    def cap(connection: Any, _record: Any) -> None:
        connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_MAX_VARIABLES)

    return engine


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path_factory.mktemp("sqlite") / "plan.db")
    yield engine
    engine.dispose()


def postgres_database(admin: Engine, name: str) -> Iterator[Engine]:
    """A new, empty database ``name`` on the server of ``admin``, dropped after."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = create_engine(admin.url.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f'DROP DATABASE "{name}"')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each database in turn, empty and the test module's own."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite")
    else:
        name = request.module.__name__.rpartition(".")[2]
        yield from postgres_database(request.getfixturevalue("postgres"), name)
