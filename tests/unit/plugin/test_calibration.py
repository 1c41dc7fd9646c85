"""Calibration: spread per metric and limits suggested from N unchanged runs."""

from __future__ import annotations

import json

import pytest

from pytest_loadgate.target.calibration import calibrate, format_rows, suggest


def run_figures(p95: float, rps: float) -> dict:
    row = {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.4, "rps": rps, "error_rate": 0.0}
    return {"total": row, "GET /x": row}


def test_spread_and_suggestions() -> None:
    runs = [run_figures(p95, rps) for p95, rps in ((10, 500), (11, 480), (12, 520), (10.5, 510))]
    rows = calibrate("t", runs, {"total": {"p95_ms": 11.0, "min_rps": 300}})
    p95 = next(r for r in rows if r["scope"] == "total" and r["metric"] == "p95")
    assert (p95["median"], p95["min"], p95["max"], p95["runs"]) == (10.75, 10, 12, 4)
    assert p95["suggested"] == 16.1 and p95["suggested_false_alarms"] == 0
    assert p95["configured"] == 11.0 and p95["configured_false_alarms"] == 1
    rps = next(r for r in rows if r["scope"] == "total" and r["metric"] == "rps")
    assert rps["suggested"] == 353.5 and rps["configured_false_alarms"] == 0
    assert format_rows(rows)[0].split() == ["scope", "metric", "median", "cv", "min", "max",
                                            "suggest", "alarms", "marker", "alarms"]


def test_suggestion_covers_an_outlier_run() -> None:
    assert suggest("p95", [10, 10, 10, 30]) == 33.0  # 1.1x the worst, not 1.5x the median
    assert suggest("rps", [500, 500, 100]) == 90.9


def test_calibrate_option_runs_n_times_and_prints_the_table(project: pytest.Pytester,
                                                           run) -> None:
    project.makepyfile(test_cal="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='1s', p95_ms=0.001)
        def test_cal(loadgate):
            loadgate.run(users.Fast)
    """)
    result = run("--loadgate-calibrate=3")
    result.assert_outcomes(passed=1)  # thresholds are reported, not enforced
    result.stdout.fnmatch_lines(["*loadgate calibration: 3 runs per test*",
                                 "test_cal.py::test_cal",
                                 "*scope*metric*median*cv*suggest*alarms*marker*alarms*",
                                 "*total*p95*0.001*3/3*"])
    rows = json.loads((project.path / "reports" / "calibration.json").read_text())
    assert {r["runs"] for r in rows} == {3}
    assert len(list((project.path / "reports").glob("*_test_cal-calibration*.json"))) == 3
