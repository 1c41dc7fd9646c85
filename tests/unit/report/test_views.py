"""The views of a summary row: check tables, terminal table, markdown, CSV, index.html charts."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from sample_runs import CAPACITY, CAPACITY_AT_LEAST, CAPACITY_DESCRIBE, files, sample_run

from pytest_loadgate.report.charts import nice_step, run_charts, ticks
from pytest_loadgate.report.check_table import check_rows
from pytest_loadgate.report.compare import compare_markdown
from pytest_loadgate.report.csv_summary import COLUMNS, summary_csv
from pytest_loadgate.report.html_extras import extras_fragment
from pytest_loadgate.report.index_report import render_index
from pytest_loadgate.report.markdown import summary_markdown
from pytest_loadgate.report.reports import build_run_report
from pytest_loadgate.report.rows import summary_row_of
from pytest_loadgate.report.schema import CapacityRecord, RunReport, SummaryRow, dump
from pytest_loadgate.report.terminal import format_summary
from pytest_loadgate.verdict.baseline import Baseline
from pytest_loadgate.verdict.checks import format_table


def report(test: str = "tests/t.py::test_a", **kwargs: object) -> RunReport:
    return build_run_report(test, sample_run(**kwargs), files(Path("reports")))


def row(test: str = "tests/t.py::test_a", **kwargs: object) -> SummaryRow:
    return summary_row_of(report(test, **kwargs))


def capacity_row(capacity: dict[str, Any] = CAPACITY) -> SummaryRow:
    """The row of a capacity test's run at its capacity, read back as from its JSON report."""
    doc = {**dump(report("tests/t.py::test_capacity")), "capacity": capacity,
           "notes": [str(capacity["describe"])]}
    return summary_row_of(RunReport.model_validate(doc))


def test_regression_checks_show_rps_as_rps_ratios_as_x_and_p50_ref_in_ms() -> None:
    run = sample_run(regression=True)
    table = format_table(run.result.checks, reference_p50_ms=2.0)
    rps = next(line for line in table.splitlines() if "rps vs baseline" in line)
    assert re.search(r">= 63\.4/s\s+30\.0/s\s+90\.6/s\s+FAIL", rps), rps
    p50_rel = next(line for line in table.splitlines() if "p50_rel vs baseline" in line)
    assert re.search(r"<= 1\.20×\s+0\.87×\s+1\.00×\s+PASS", p50_rel), p50_rel
    p50_ref = next(line for line in table.splitlines() if "p50_ref vs baseline" in line)
    assert "×" not in p50_ref and " ms" not in p50_ref.split("p50_ref vs baseline")[0]
    assert re.search(r"<= 15\.1 ms above ref\s+18\.0 ms above ref\s+11\.6 ms above ref",
                     p50_ref), p50_ref
    assert table.splitlines()[0].split() == ["scope", "threshold", "limit", "measured",
                                             "baseline", "verdict"]


def test_a_table_without_regression_checks_has_no_baseline_column() -> None:
    rows = check_rows(sample_run(p95_ms=100).result.checks)
    assert rows[0] == ("scope", "threshold", "limit", "measured", "verdict")
    assert rows[1][:3] == ("total", "p95_ms", "<= 100.0 ms")


def test_terminal_summary_lines() -> None:
    lines = format_summary([row(p95_ms=100), row("tests/t.py::test_b", regression=True,
                                                  p95_ms=30)])
    assert lines[0].split() == ["test", "verdict", "requests", "rps", "p95", "p99", "errors"]
    assert re.fullmatch(r"tests/t\.py::test_a\s+PASSED\s+150\s+30\.0/s\s+40\.9 ms\s+40\.9 ms"
                        r"\s+0\.00%", lines[1]), lines[1]
    assert lines[2].startswith("tests/t.py::test_b  FAILED")
    assert "    total p95_ms 40.9 ms > limit 30.0 ms" in lines
    assert ("    GET /slow p50_ref 1.55× baseline (18.0 ms above ref vs 11.6 ms above ref;"
            " limit 1.30×)") in lines


def test_markdown_summary_has_verdicts_failures_and_deltas() -> None:
    text = summary_markdown([row(p95_ms=100), row("tests/t.py::te|st_b", regression=True,
                                                   p95_ms=30)])
    assert text.startswith("### pytest-loadgate: 1 of 2 load run(s) passed\n")
    assert "| `tests/t.py::test_a` | ✅ passed | 150 | 30.0/s | 40.9 ms | 40.9 ms | 0.00% |" \
        in text
    assert "`tests/t.py::te\\|st_b` | ❌ failed" in text  # a pipe in an id stays in its cell
    assert "  - total p95_ms 40.9 ms > limit 30.0 ms" in text
    assert "**Against the baseline**" in text
    assert "| total | rps | 90.6/s | 30.0/s | -66.9% | >= 63.4/s | FAIL |" in text
    assert "| GET /slow | p50_rel | 1.00× | 0.87× | -12.7% | <= 1.20× | PASS |" in text


def test_markdown_of_runs_without_baseline_or_failures_is_only_the_table() -> None:
    text = summary_markdown([row(p95_ms=100)])
    assert "What failed" not in text and "Against the baseline" not in text


def test_csv_has_one_line_per_run_with_bare_numbers() -> None:
    text = summary_csv([row(p95_ms=100), row("tests/t.py::test_b", p95_ms=30)],
                       ["r/a.json", "r/b.json"])
    lines = list(csv.DictReader(io.StringIO(text)))
    assert tuple(lines[0]) == COLUMNS
    assert lines[0]["verdict"] == "passed" and lines[0]["p95_ms"] == "40.9"
    assert lines[0]["error_rate"] == "0.0" and lines[0]["requests"] == "150"
    assert lines[1]["failed_checks"] == "total p95_ms 40.9 ms > limit 30.0 ms"
    assert lines[1]["html_report"] == "r/20261130-010203_test_x_test_a.html"


def test_index_has_charts_with_axes_window_legend_and_baseline_bands() -> None:
    page = render_index([row(p95_ms=100), row("tests/t.py::test_b", regression=True)])
    assert page.count('<svg class="chart"') == 4
    assert page.count("time (s)") == 4 and "latency p95 (ms)" in page
    assert "requests/s" in page
    assert page.count('<rect class="window"') == 4
    assert "p95 GET /slow" in page and "p95 GET /" in page
    assert '<ul class="legend">' in page
    assert page.count('class="baseline-band"') == 2  # total rps and total p95 of test_b
    assert "total rps: baseline 90.6/s (allowed &gt;= 63.4/s)" in page
    assert "<script" not in page and "http://" not in page.replace("http://127.0.0.1", "")
    # the regression rows in the checks table, in their units
    assert "<td>&gt;= 63.4/s</td><td>30.0/s</td><td>90.6/s</td>" in page
    assert "<td>&lt;= 1.20×</td><td>0.87×</td><td>1.00×</td>" in page


def test_short_runs_have_no_chart() -> None:
    assert run_charts(row(seconds=1)) == ""


@pytest.mark.parametrize(("top", "expected"), [
    (9.3, [0, 2, 4, 6, 8, 10]), (42.0, [0, 10, 20, 30, 40, 50]), (0.8, [0, 0.2, 0.4, 0.6, 0.8]),
    (230.0, [0, 50, 100, 150, 200, 250]),
])
def test_axis_ticks_are_round(top: float, expected: list[float]) -> None:
    assert ticks(top) == expected
    assert nice_step(1000, 4) == 250


def test_compare_markdown_per_endpoint_against_the_baseline() -> None:
    figures = {"total": {"rps": 60.0, "p50": 20.0, "p95": 40.0, "p99": 41.0, "error_rate": 0.0,
                         "requests": 600.0},
               "GET /": {"rps": 30.0, "p50": 4.0, "p95": 4.0, "p99": 5.0, "error_rate": 0.0,
                         "requests": 300.0},
               "GET /gone": {"rps": 1.0, "p50": 1.0, "p95": 1.0, "p99": 1.0, "error_rate": 0.0,
                             "requests": 10.0}}
    baseline = Baseline("tests/t.py::test_a", [{"created": time.time(), "fingerprint": {},
                                                "figures": figures}])
    text = compare_markdown(report(regression=True), baseline, Path("b/x.json"),
                            Path("r/run.json"))
    assert text.startswith("### `tests/t.py::test_a` against its baseline\n")
    assert "This run (`run.json`): ❌ failed, 150 requests in the 5.0 s verdict window." in text
    assert "| `total` | 30.0/s vs 60.0/s (-50.0%) |" in text
    assert "| `GET /slow` | 15.0/s (not in the baseline) |" in text
    assert "| `GET /gone` | - vs 1.0/s (not in this run) |" in text
    assert "| total | rps | >= 63.4/s | 30.0/s | 90.6/s | FAIL |" in text


def test_pytest_html_fragment_has_the_check_table_and_relative_links(tmp_path: Path) -> None:
    fragment = extras_fragment(row(regression=True), tmp_path / "reports", tmp_path / "html")
    assert "<th>baseline</th>" in fragment and "<td>90.6/s</td>" in fragment
    assert '<a href="../reports/20261130-010203_test_x_test_a.html">html</a>' in fragment


def test_a_capacity_row_carries_the_search_and_other_rows_none() -> None:
    cap = capacity_row().capacity
    assert cap is not None and cap.capacity_rps == 300.0 and cap.bound == "found"
    assert [p.rate for p in cap.probes] == [50, 100, 200, 400, 300, 350, 300]
    assert cap.validations() == [False] * 6 + [True]
    assert SummaryRow.model_validate(dump(capacity_row())).capacity == cap
    assert row().capacity is None


def test_terminal_lists_every_probe_in_search_order_after_the_notes() -> None:
    lines = format_summary([capacity_row(), row("tests/t.py::test_b")])
    probes = "    probes: 50 ✓  100 ✓  200 ✓  400 ✗  300 ✓  350 ✗  300 ✓ (validation)"
    assert lines.index(f"    note: {CAPACITY_DESCRIBE}") + 1 == lines.index(probes)
    assert lines[lines.index(probes) + 1].split()[:2] == ["tests/t.py::test_b", "PASSED"]
    assert not any("probes:" in line for line in format_summary([row()]))
    at_least = format_summary([capacity_row(CAPACITY_AT_LEAST)])
    assert ("    probes: 50 ✓  100 ✓  200 ✓  400 ⚠  200 ✓ (validation)  (⚠ generator-bound)"
            in at_least)


def test_a_repeated_probe_is_marked_and_no_validation() -> None:
    """A failed probe tried again at the same rate reads ``(repeat)``, in the terminal and
    the index's probe table, and is no validation."""
    probes = [{**p, "validation": False} for p in CAPACITY["probes"]]
    probes[-1]["validation"] = True
    hiccup = {**probes[1], "slo_passed": False, "p95_ms": 900.0,
              "failure_reasons": ["p95 900 ms > 200 ms"]}
    probes[1:2] = [hiccup, {**probes[1], "repeat": True}]
    cap_row = capacity_row({**CAPACITY, "probes": probes})
    assert cap_row.capacity is not None
    assert cap_row.capacity.validations() == [False] * 7 + [True]
    assert ("    probes: 50 ✓  100 ✗  100 ✓ (repeat)  200 ✓  400 ✗  300 ✓  350 ✗  300 ✓"
            " (validation)") in format_summary([cap_row])
    table = render_index([cap_row]).split('<table class="probes">')[1]
    assert "<td>repeat</td>" in table and table.count("repeat") == 1


def test_index_draws_the_capacity_search_and_its_probe_table() -> None:
    page = render_index([capacity_row(), row("tests/t.py::test_b")])
    section = page.split("tests/t.py::test_b")[0]
    assert page.count('<svg class="chart capacity"') == 2
    assert page.count('<svg class="chart"') == 4  # each run's time charts, as before
    assert f'<p class="capacity-headline">{html.escape(CAPACITY_DESCRIBE)}</p>' in section
    assert section.count(html.escape(CAPACITY_DESCRIBE)) == 1  # the note is the headline
    assert "offered rate (rps)" in section and "achieved rate (rps)" in section
    assert section.count('<line class="ideal"') == 1
    # the capacity found, on both charts; the SLO's p95 on the latency chart
    assert section.count('<g class="capacity-line">') == 2
    assert re.search(r'<g class="capacity-line"><line x1="([\d.]+)" y1="\d+" x2="\1".*?'
                     r">capacity 300 rps</text></g>", section)
    assert section.count('<g class="slo-line">') == 1 and ">SLO p95 ≤ 200 ms</text>" in section
    # a marker per probe on each chart: failed ones hollow, each with its figures
    assert section.count('<circle class="probe ') == 2 * 7
    assert section.count('<circle class="probe fail"') == 2 * 2
    assert section.count('fill="#fff"') == 2 * 2
    assert "<title>350 rps offered: 300.4/s achieved, p95 420.0 ms, errors 0.00%; failed the" \
        " SLO (p95 420 ms &gt; 200 ms)</title>" in section
    assert "<title>300 rps offered (validation): " in section
    assert '<p class="knee">knee at 200 rps (latency bent after 200 rps)</p>' in section
    # the probe table, in search order
    table = section.split('<table class="probes">')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(\d)</td><td>([^<]+)</td><td>[^<]+</td><td>([^<]+)</td>"
                      r'<td>[^<]+</td><td class="(pass|fail)">(\w+)</td><td>([^<]*)</td></tr>',
                      table)
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("1", "50.0/s", "PASS"), ("2", "100.0/s", "PASS"), ("3", "200.0/s", "PASS"),
        ("4", "400.0/s", "FAIL"), ("5", "300.0/s", "PASS"), ("6", "350.0/s", "FAIL"),
        ("7", "300.0/s", "PASS")], table
    assert rows[3][2] == "950.0 ms" and rows[3][5] == "p95 950 ms &gt; 200 ms"
    assert rows[6][5] == "validation"
    assert "<script" not in page


def test_index_marks_a_lower_bound_and_generator_bound_probes() -> None:
    page = render_index([capacity_row(CAPACITY_AT_LEAST)])
    assert ">capacity ≥ 200 rps</text>" in page
    assert page.count('<path class="probe pass generator-bound"') == 2
    assert "generator-bound probe (says nothing about the server)" in page
    assert '<td class="fail">GENERATOR-BOUND</td>' in page
    assert '<p class="knee">' not in page


def test_a_search_below_its_start_rate_has_no_capacity_line() -> None:
    below = {**CAPACITY, "capacity_rps": None, "bound": "below", "failed_at_rps": 50.0,
             "probes": [{**CAPACITY["probes"][0], "slo_passed": False}]}
    section = render_index([capacity_row(below)])
    assert section.count('<svg class="chart capacity"') == 2
    assert 'class="capacity-line"' not in section
    assert section.count('<circle class="probe fail"') == 2


def test_a_run_without_capacity_renders_as_before() -> None:
    body = render_index([row(p95_ms=100)]).split("</style>")[1]
    assert "capacity" not in body and "probe" not in body


def test_the_capacity_record_reads_what_newer_writers_add() -> None:
    record = CapacityRecord.model_validate(
        {**CAPACITY, "bound": "something_new", "extra": 1,
         "probes": [{**CAPACITY["probes"][0], "latency_p99_ms": 3.0}]})
    assert record.bound == "something_new"
    assert dump(record)["extra"] == 1 and dump(record)["probes"][0]["latency_p99_ms"] == 3.0
