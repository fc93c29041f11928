"""Benchmark query plans against checking rows one by one: for a few subjects, the time to
plan "which documents may this subject read?", the time of the filtered query on 100,000
rows, and the time to decide every row in turn through ``Authorizer.evaluate`` — side by
side, with the ratio, in one run.

    python bench/plan.py [--quick] [--rows N] [--sample N] [--postgres DSN] [--seed N]

The documents are rows of a SQLite table (in memory; also of PostgreSQL with ``--postgres``)
with an owner, a department (missing on some rows), a sensitivity from 1 to 5, a folder in
a tree of folders, and an archived flag. The policy allows the owner, the subject's
department up to the subject's clearance, and the readers granted a folder or a folder
above it (a tabled ancestry); it denies suspended subjects, archived documents' writes, and
sensitivity 5 to those without clearance 5.

One-by-one checking is timed on a sample of the rows (every k-th row, ``--sample`` of them)
and extrapolated to all of them: the output says so. The sample is also the check that the
benchmark measures the right thing: the rows of the sample that the filtered query returns
are exactly those that one-by-one decisions allow, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from sqlalchemy import (  # noqa: E402
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)

from siamese.decision.authorizer import Authorizer  # noqa: E402
from siamese.decision.models import Request  # noqa: E402
from siamese.engine import Limits  # noqa: E402
from siamese.plan import Plan, PlanRequest, plan_resources  # noqa: E402
from siamese.plan.sqlalchemy import where  # noqa: E402
from siamese.policy.loader import PolicySet, load_policy_set  # noqa: E402

DEPARTMENTS = ("eng", "sales", "hr", "legal", "ops", "design", "finance", "support")
RULES = """\
under(?f, ?g) :- parent(?f, ?g).
under(?f, ?g) :- parent(?f, ?p), under(?p, ?g).

shared_with(?f, ?u) :- grant(?u, ?f).
shared_with(?f, ?u) :- under(?f, ?g), grant(?u, ?g).

@id("owner")
allow(?u, _, _) :- input("resource.properties.owner", ?u).
@id("department-read")
allow(?u, read, _) :-
    department(?u, ?d), input("resource.properties.department", ?d),
    clearance(?u, ?c), input("resource.properties.sensitivity", ?s), ?s <= ?c.
@id("folder-grant")
allow(?u, read, _) :- input("resource.properties.folder", ?f), shared_with(?f, ?u).

@id("suspended")
deny(?u, _, _) :- suspended(?u).
@id("archived-read-only")
deny(_, write, _) :- input("resource.properties.archived", true).
@id("top-secret")
deny(?u, _, _) :- input("resource.properties.sensitivity", 5), not clearance(?u, 5).
"""
# the plan's variables and the table's columns
COLUMNS = ("owner", "department", "sensitivity", "folder", "archived")


@dataclass
class Data:
    """The generated policy text and rows, and the subjects the benchmark plans for."""

    rules: str
    rows: list[dict[str, Any]]
    subjects: list[tuple[str, str, str]]  # (subject, action, what it shows)


def _q(s: str) -> str:
    return f'"{s}"'


def generate(n_rows: int, seed: int = 11, n_users: int = 400, n_folders: int = 600) -> Data:
    """Documents, users and folders, the same for the same arguments."""
    rnd = random.Random(seed)
    users = [f"user-{i:04d}" for i in range(n_users)]
    folders = [f"folder-{i:04d}" for i in range(n_folders)]
    lines = [RULES]
    for i, f in enumerate(folders[1:], 1):  # a tree: each folder's parent comes before it
        lines.append(f"parent({_q(f)}, {_q(folders[rnd.randrange(i // 2, i)])}).")
    for u in users:
        lines.append(f"department({_q(u)}, {_q(rnd.choice(DEPARTMENTS))}).")
        lines.append(f"clearance({_q(u)}, {rnd.randint(1, 5)}).")
        for f in rnd.sample(folders, rnd.randint(0, 3)):
            lines.append(f"grant({_q(u)}, {_q(f)}).")
    # the subjects shown: a grant near the root (many rows), an ordinary reader, a writer,
    # one suspended (every row denied)
    lines.append(f"grant({_q(users[0])}, {_q(folders[1])}).")
    lines.append(f"suspended({_q(users[3])}).")
    rows = []
    for i in range(n_rows):
        rows.append({
            "id": f"doc-{i:06d}",
            "owner": rnd.choice(users),
            "department": None if rnd.random() < 0.03 else rnd.choice(DEPARTMENTS),
            "sensitivity": rnd.choice((1, 1, 2, 2, 3, 3, 4, 5)),
            "folder": rnd.choice(folders),
            "archived": rnd.random() < 0.1,
        })
    subjects = [
        (users[0], "read", "a grant near the root"),
        (users[1], "read", "department, clearance, grants"),
        (users[2], "write", "owner, minus archived"),
        (users[3], "read", "suspended: always denied"),
    ]
    return Data("\n".join(lines) + "\n", rows, subjects)


def documents_table(metadata: MetaData) -> Table:
    return Table(
        "documents", metadata,
        Column("id", String, primary_key=True),
        Column("owner", String, nullable=False, index=True),
        Column("department", String, index=True),
        Column("sensitivity", Integer, nullable=False),
        Column("folder", String, nullable=False, index=True),
        Column("archived", Boolean, nullable=False),
    )


def load_rows(engine: Engine, rows: Sequence[dict[str, Any]]) -> Table:
    metadata = MetaData()
    table = documents_table(metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for i in range(0, len(rows), 10_000):
            conn.execute(table.insert(), list(rows[i : i + 10_000]))
    return table


def plan_request(subject: str, action: str) -> PlanRequest:
    return PlanRequest.from_authzen({
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document"},
    })


def row_request(subject: str, action: str, row: dict[str, Any]) -> Request:
    """The decision request of one row: its id, and its columns as the resource's
    properties (a NULL column is a property the resource does not have)."""
    props = {c: row[c] for c in COLUMNS if row[c] is not None}
    return Request.from_authzen({
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document", "id": row["id"], "properties": props},
    })


def _median_ms(fn: Any, rounds: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


@dataclass
class Figures:
    """One subject's run: the plan, the filtered query, and one-by-one checking."""

    subject: str
    action: str
    shows: str
    kind: str
    plan_ms: float
    query_ms: dict[str, float]  # by database
    matched: int  # rows the filtered query returns
    sampled: int
    sample_s: float  # seconds to decide the sample one by one
    total_rows: int
    # the sample's rows that the filtered query returned, by database; and those that
    # one-by-one decisions allowed
    sample_filtered: dict[str, list[str]] = field(default_factory=dict)
    sample_allowed: list[str] = field(default_factory=list)

    @property
    def one_by_one_s(self) -> float:
        """Every row decided in turn, extrapolated from the sample."""
        return self.sample_s / self.sampled * self.total_rows

    @property
    def agrees(self) -> bool:
        return all(ids == self.sample_allowed for ids in self.sample_filtered.values())


def filtered_ids(engine: Engine, table: Table, plan: Plan) -> list[str]:
    columns = {"request.resource.id": table.c.id,
               **{f"request.resource.attr.{c}": table.c[c] for c in COLUMNS}}
    query = select(table.c.id).where(where(plan, columns)).order_by(table.c.id)
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(query)]


async def decide_sample(
    policy: PolicySet, subject: str, action: str, sample: Sequence[dict[str, Any]],
    limits: Limits,
) -> tuple[float, list[str]]:
    """Seconds to decide each row of ``sample`` in turn, and the ids allowed."""
    authorizer = Authorizer(limits=limits, explain_denials=False)
    allowed = []
    t0 = time.perf_counter()
    for row in sample:
        outcome = await authorizer.evaluate(policy, row_request(subject, action, row))
        if outcome.allowed:
            allowed.append(row["id"])
    return time.perf_counter() - t0, allowed


def run(data: Data, engines: dict[str, Engine], sample_size: int, rounds: int,
        limits: Limits) -> list[Figures]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "documents.rules").write_text(data.rules)
        policy = load_policy_set(tmp)
    tables = {name: load_rows(engine, data.rows) for name, engine in engines.items()}
    step = max(1, len(data.rows) // sample_size)
    sample = data.rows[::step][:sample_size]
    sample_ids = {r["id"] for r in sample}
    out = []
    for subject, action, shows in data.subjects:
        request = plan_request(subject, action)
        plan_ms, plan = _median_ms(
            functools.partial(plan_resources, policy, request, limits), rounds)
        query_ms: dict[str, float] = {}
        matched: set[int] = set()
        filtered: dict[str, list[str]] = {}
        for name, engine in engines.items():
            query_ms[name], ids = _median_ms(
                functools.partial(filtered_ids, engine, tables[name], plan), rounds)
            matched.add(len(ids))
            filtered[name] = [i for i in ids if i in sample_ids]
        assert len(matched) == 1, f"the databases return different rows for {subject}"
        sample_s, allowed = asyncio.run(decide_sample(policy, subject, action, sample, limits))
        out.append(Figures(
            subject, action, shows, plan.kind, plan_ms, query_ms, matched.pop(), len(sample),
            sample_s, len(data.rows), sample_filtered=filtered, sample_allowed=allowed,
        ))
    return out


def report(figures: list[Figures], rows: int) -> list[str]:
    names = list(figures[0].query_ms) if figures else []
    head = (f"{'subject':<10} {'action':<6} {'kind':<20} {'plan':>9} "
            + " ".join(f"{'query ' + n:>17}" for n in names)
            + f" {'rows':>8} {'one by one':>12} {'ratio':>8}  agrees")
    lines = [f"# {rows:,} documents; one by one: {figures[0].sampled:,} rows decided in-process "
             "through Authorizer.evaluate (no HTTP round trip), extrapolated to all rows"
             if figures else "# no subject", head]
    for f in figures:
        filtered = f.plan_ms + f.query_ms[names[0]]
        one_by_one_ms = f.one_by_one_s * 1000
        lines.append(
            f"{f.subject:<10} {f.action:<6} {f.kind.removeprefix('KIND_'):<20} "
            f"{f.plan_ms:7.1f}ms "
            + " ".join(f"{f.query_ms[n]:15.1f}ms" for n in names)
            + f" {f.matched:8,} {one_by_one_ms / 1000:11.2f}s "
            f"{one_by_one_ms / filtered:7,.0f}×  {'yes' if f.agrees else 'NO'}"
            f"   ({f.shows})")
    lines.append("ratio: one-by-one checking (extrapolated) over plan + filtered query on "
                 f"{names[0] if names else '-'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test: 3,000 rows, every one of them decided one by one")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=5_000,
                    help="rows decided one by one (every k-th row); the rest extrapolated")
    ap.add_argument("--postgres", metavar="DSN",
                    help="also run the filtered query on PostgreSQL, e.g. "
                         "postgresql+psycopg://user@localhost/db (its documents table is "
                         "dropped and made again)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    rows, sample, rounds = (3_000, 3_000, 1) if args.quick else (args.rows, args.sample, 5)
    engines = {"sqlite": create_engine("sqlite://")}
    if args.postgres:
        engines["postgres"] = create_engine(args.postgres)
    data = generate(rows, args.seed)
    figures = run(data, engines, sample, rounds, Limits())
    for line in report(figures, rows):
        print(line)
    for engine in engines.values():
        engine.dispose()
    if not all(f.agrees for f in figures):
        print("the filtered rows and the one-by-one decisions disagree on the sample",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
