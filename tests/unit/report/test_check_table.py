"""The check table's words: a check with nothing measured but a stated reason is a failure."""

from __future__ import annotations

from pytest_loadgate.report.check_table import check_cells, describe_check
from pytest_loadgate.verdict.checks import Check


def test_a_capacity_below_the_search_reads_as_a_failure_with_its_reason() -> None:
    below = Check("capacity", "min_capacity_rps", 900.0, None, False,
                  detail="capacity < 60 rps (p95 ≤ 60 ms)")
    assert check_cells(below)[-1] == "FAIL"
    assert describe_check(below) == ("capacity min_capacity_rps: capacity < 60 rps"
                                     " (p95 ≤ 60 ms)")


def test_a_threshold_on_an_endpoint_without_requests_has_no_data() -> None:
    never = Check("GET /never", "p95_ms", 500.0, None, False)
    assert check_cells(never)[-1] == "NO DATA"
    assert describe_check(never) == ("GET /never: p95_ms set but the endpoint received no"
                                     " requests")
