"""bench/compare.py: it reads what the benchmarks print, and knows which way is worse."""

from __future__ import annotations

from tests.benchmod import load_bench

cmp = load_bench("compare")

DECIDE_OUTPUT = """\
cache hit            6.91 µs per decision (in-process, service.decide)
uncached (RBAC)     39.51 µs per decision (compiled clause bodies)
  interpreted      147.04 µs per decision (Program.compiled = False)
ratio                 5.7× faster on a hit; compiled 3.7× faster than interpreted
reload of 10,000 facts served 284 ms after the save (median of 5; max 307 ms)

# targets
cache hit < 3 µs:                 6.91 µs  FAIL
10,000-fact reload served < 1 s:  307 ms (worst)  PASS
"""


def test_reads_every_number_of_bench_decide() -> None:
    got = {m.name: v for m, v in cmp.decide_metrics(DECIDE_OUTPUT).items()}
    assert got == {
        "decide: cache hit": 6.91,
        "decide: uncached (RBAC, compiled)": 39.51,
        "decide: uncached (RBAC, interpreted)": 147.04,
        "decide: 10,000-fact reload served": 284.0,
    }


def test_reads_the_json_of_bench_engine() -> None:
    timing = {"per_second": 1000.0, "median_us": 20.0, "p99_us": 90.0, "load_seconds": 0.5}
    data = {
        "quick": False,
        "workloads": {"rbac": {"siamese": timing, "pycasbin": timing}},
        "scale": {"1000000": {"median_us": 16.0, "p99_us": 40.0, "load_seconds": 7.0,
                              "peak_rss_mb": 270.0}},
    }
    got = {m.name: (v, m.higher_is_better, m.gated)
           for m, v in cmp.engine_metrics(data).items()}
    assert got["rbac siamese decisions/s"] == (1000.0, True, True)
    assert got["rbac siamese median"] == (20.0, False, True)
    assert got["rbac siamese p99"] == (90.0, False, False)
    assert got["rbac pycasbin decisions/s (control)"] == (1000.0, True, False)
    assert got["scale 1,000,000 facts load"] == (7.0, False, True)


def test_worse_is_a_drop_of_a_rate_and_a_rise_of_a_time() -> None:
    rate = cmp.Metric("decisions/s", "/s", True)
    time = cmp.Metric("median", "µs", False)
    assert cmp.worse_by(rate, 100.0, 90.0) == 10.0
    assert cmp.worse_by(rate, 100.0, 110.0) == -10.0
    assert cmp.worse_by(time, 100.0, 110.0) == 10.0
    assert cmp.summary(rate, [1.0, 3.0, 2.0], "best") == 3.0
    assert cmp.summary(time, [1.0, 3.0, 2.0], "best") == 1.0
