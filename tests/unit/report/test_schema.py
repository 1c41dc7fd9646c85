"""The typed report schema: what a run writes reads back unchanged, a bad file says where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_runs import files, sample_run

from pytest_loadgate.report.reports import build_run_report, result_document, summary_row
from pytest_loadgate.report.rows import MAX_CHART_POINTS, chart_points, summary_row_of
from pytest_loadgate.report.schema import (
    SCHEMA_VERSION,
    ReportError,
    RunReport,
    TimelinePoint,
    dump,
    load_run_report,
    parse_run_report,
    parse_summary_row,
)

TEST_ID = "tests/perf/test_x.py::test_a"

#: Keys that tests, benches and users read from a run's JSON report (never renamed).
READ_KEYS = {"test", "verdict", "total", "endpoints", "checks", "duration_s", "stalls",
             "unreliable", "unreliable_reasons", "pace", "open", "attempts", "reference",
             "timeline", "files", "spec", "window_s", "censored", "notes", "problems"}


def write_report(folder: Path, **kwargs: object) -> Path:
    paths = files(folder)
    paths["json"].write_text(json.dumps(result_document(
        TEST_ID, sample_run(**kwargs), paths), indent=2), encoding="utf-8")
    return paths["json"]


def test_a_run_report_round_trips_through_its_json_file(tmp_path: Path) -> None:
    run = sample_run(regression=True, p95_ms=30)
    report = build_run_report(TEST_ID, run, files(tmp_path))
    path = tmp_path / "r.json"
    path.write_text(json.dumps(dump(report)), encoding="utf-8")
    again = load_run_report(path)
    assert again == report
    assert dump(again) == dump(report)
    assert again.schema_version == SCHEMA_VERSION
    assert again.timeline[0].endpoints["GET /slow"].p95_ms == pytest.approx(40.0)


def test_the_document_keeps_its_field_names_and_compact_checks(tmp_path: Path) -> None:
    doc = result_document(TEST_ID, sample_run(regression=True, p95_ms=30),
                          files(tmp_path))
    assert set(doc) >= READ_KEYS
    assert doc["schema_version"] == SCHEMA_VERSION
    plain = next(c for c in doc["checks"] if c["threshold"] == "p95_ms")
    assert set(plain) == {"scope", "threshold", "limit", "measured", "passed"}
    regression = next(c for c in doc["checks"] if c["threshold"] == "rps vs baseline")
    assert regression["baseline"] == 90.6 and regression["allowed"] == 0.3
    assert doc["files"] == {"html": "20261130-010203_test_x_test_a.html",
                            "csv": "20261130-010203_test_x_test_a.csv",
                            "json": "20261130-010203_test_x_test_a.json"}


def test_the_session_row_is_the_row_built_from_the_json_report(tmp_path: Path) -> None:
    run = sample_run(regression=True, p95_ms=30)
    row = parse_summary_row(summary_row(TEST_ID, run, files(tmp_path)))
    from_file = summary_row_of(load_run_report(write_report(tmp_path, regression=True,
                                                            p95_ms=30)))
    assert row == from_file
    assert row.verdict == "failed" and row.requests == 150
    assert row.failed_checks[0] == "total p95_ms 40.9 ms > limit 30.0 ms"
    assert row.timeline[0].endpoints == {"GET /": 4.0, "GET /slow": 40.0}


def test_a_document_without_schema_version_reads_as_version_1(tmp_path: Path) -> None:
    doc = json.loads(write_report(tmp_path).read_text())
    del doc["schema_version"]
    assert parse_run_report(doc).schema_version == 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("verdict"), "field 'verdict': Field required"),
    (lambda d: d["total"].update(requests="many"), "field 'total.requests': Input should be"),
    (lambda d: d["checks"][0].update(passed="perhaps"), "field 'checks.0.passed'"),
    (lambda d: d.update(verdict="maybe"), "field 'verdict': Input should be 'passed'"),
    (lambda d: d.update(schema_version=99), "field 'schema_version': 99 is newer"),
    (lambda d: d.update(capacity={"bound": "found", "probes": [{"rate": "fast"}]}),
     "field 'capacity.probes.0.rate'"),
])
def test_a_bad_report_names_the_file_and_the_field(tmp_path: Path, change, message: str) -> None:
    path = write_report(tmp_path, p95_ms=30)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReportError) as caught:
        load_run_report(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_unreadable_files_are_report_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match=r"broken\.json: not valid JSON"):
        load_run_report(broken)
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ReportError, match="not a loadgate run report"):
        load_run_report(tmp_path / "list.json")
    with pytest.raises(ReportError, match="cannot read it"):
        load_run_report(tmp_path / "missing.json")


def test_long_runs_are_binned_for_the_charts_keeping_spikes() -> None:
    points = [TimelinePoint(start_s=float(s), requests=10, rps=10.0 + s % 2,
                            p95_ms=500.0 if s == 777 else 5.0, failures=0)
              for s in range(1000)]
    binned = chart_points(points)
    assert len(binned) <= MAX_CHART_POINTS
    assert max(p.p95 or 0.0 for p in binned) == 500.0
    assert binned[1].t == 4.0 and binned[0].rps == 10.5


def test_run_report_model_accepts_what_newer_writers_add(tmp_path: Path) -> None:
    doc = json.loads(write_report(tmp_path).read_text())
    doc["total"]["p999_ms"] = 12.0
    doc["something_new"] = {"a": 1}
    report = RunReport.model_validate(doc)
    assert dump(report)["something_new"] == {"a": 1}
