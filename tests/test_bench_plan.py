"""bench/plan.py measures the right thing: on its quick run every subject's filtered rows
are exactly the rows that one-by-one decisions allow (here every row is decided), and its
figures add up. Behaviour only: no timing is asserted."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from siamese.engine import Limits
from siamese.plan import ALWAYS_DENIED, CONDITIONAL
from tests.benchmod import load_bench

plan_bench = load_bench("plan")


def test_the_quick_run_prints_each_subject_and_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_bench.main(["--quick"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# 3,000 documents; one by one: 3,000 rows decided")
    rows = [line for line in out if line.startswith("user-")]
    assert len(rows) == 4
    assert all("  yes  " in line for line in rows), rows


def test_the_filtered_ids_are_the_one_by_one_ids_on_the_sample() -> None:
    data = plan_bench.generate(2_000, seed=5)
    engine = create_engine("sqlite://")
    try:
        figures = plan_bench.run(data, {"sqlite": engine}, 2_000, 1, Limits())
    finally:
        engine.dispose()
    assert {f.kind for f in figures} == {CONDITIONAL, ALWAYS_DENIED}
    for f in figures:
        assert f.sampled == f.total_rows == 2_000  # every row decided one by one
        assert f.sample_filtered["sqlite"] == f.sample_allowed, f.subject
        assert f.matched == len(f.sample_allowed)
    assert all(f.sample_allowed for f in figures if f.kind == CONDITIONAL)


def test_a_sample_is_every_kth_row_and_is_extrapolated() -> None:
    data = plan_bench.generate(1_000, seed=3)
    engine = create_engine("sqlite://")
    try:
        [f, *_] = plan_bench.run(data, {"sqlite": engine}, 100, 1, Limits())
    finally:
        engine.dispose()
    assert f.sampled == 100 and f.total_rows == 1_000
    assert f.one_by_one_s == pytest.approx(f.sample_s * 10)
    assert f.agrees and len(f.sample_filtered["sqlite"]) <= 100
