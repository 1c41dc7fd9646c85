"""One formatter: every figure by its unit, and each metric name mapped to its unit."""

from __future__ import annotations

import math

import pytest

from pytest_loadgate.report.units import (
    format_delta,
    format_figure,
    format_metric,
    plain_figure,
    unit_of,
)
from pytest_loadgate.verdict.checks import format_value


@pytest.mark.parametrize(("value", "unit", "text"), [
    (7.234, "ms", "7.2 ms"),
    (1556.04, "ms", "1556.0 ms"),
    (0.87291, "ms", "0.873 ms"),
    (126.34, "rps", "126.3/s"),
    (0.0123, "percent", "1.23%"),
    (0.0, "percent", "0.00%"),
    (0.87291, "ratio", "0.87×"),
    (2.04, "s", "2.0 s"),
    (1275.0, "count", "1275"),
    (12.04, "mb", "12.0 MB"),
    (None, "ms", "-"),
    (math.nan, "rps", "-"),
])
def test_each_unit_has_one_format(value: float | None, unit: str, text: str) -> None:
    assert format_figure(value, unit) == text


def test_p50_ref_reads_as_milliseconds_above_the_reference_never_as_a_ratio() -> None:
    assert format_figure(6.3, "ref", reference_p50_ms=2.0) == "12.6 ms above ref"
    assert format_figure(6.3, "ref") == "6.30 ref"  # no reference known: in its units
    assert "×" not in format_metric("p50_ref vs baseline", 6.3, reference_p50_ms=2.0)


@pytest.mark.parametrize(("metric", "unit"), [
    ("p95_ms", "ms"), ("avg_ms", "ms"), ("max_error_rate", "percent"),
    ("error_rate", "percent"), ("max_dropped_rate", "percent"), ("min_rps", "rps"),
    ("rps", "rps"), ("max_rss_growth_mb", "mb"), ("max_stall", "s"), ("duration_s", "s"),
    ("requests", "count"), ("p95 vs baseline", "ms"), ("rps vs baseline", "rps"),
    ("error_rate vs baseline", "percent"), ("p50_rel vs baseline", "ratio"),
    ("p50_ref vs baseline", "ref"),
])
def test_units_follow_metric_names(metric: str, unit: str) -> None:
    assert unit_of(metric) == unit


def test_the_regression_rows_of_the_bug_report_read_in_their_units() -> None:
    """index.html once showed ``rps vs baseline 63.4 ms / 86.6 ms`` and ``p50_rel 0.87291 ms``."""
    assert format_value("rps vs baseline", 63.4) == "63.4/s"
    assert format_value("p50_rel vs baseline", 0.87291) == "0.87×"
    assert format_value("p95 vs baseline", 86.6) == "86.6 ms"


@pytest.mark.parametrize(("measured", "baseline", "unit", "text"), [
    (110.0, 100.0, "ms", "+10.0%"),
    (63.4, 90.6, "rps", "-30.0%"),
    (0.015, 0.01, "percent", "+0.50 pts"),
    (5.0, 0.0, "ms", "new"),
    (None, 1.0, "ms", "-"),
])
def test_deltas_against_a_baseline(measured: float | None, baseline: float, unit: str,
                                   text: str) -> None:
    assert format_delta(measured, baseline, unit) == text


def test_plain_figures_for_csv_are_bare_numbers_in_the_column_unit() -> None:
    assert plain_figure(40.91234, "ms") == "40.912"
    assert plain_figure(0.01234567, "percent") == "0.012346"  # a fraction, as error_rate is
    assert plain_figure(30.0, "rps") == "30.0"
    assert plain_figure(150.0, "count") == "150"
    assert plain_figure(None, "ms") == ""
