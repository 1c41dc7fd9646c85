"""What a session leaves for people and CI, from one real session of two load tests: the JSON
reports (with per-endpoint seconds), the index's charts, the GITHUB_STEP_SUMMARY markdown, the
pytest-html rows, and the ``loadgate`` command on the reports it wrote."""

from __future__ import annotations

import html
import importlib.util
import json

import pytest

from pytest_loadgate.cli import main
from pytest_loadgate.verdict.baseline import BaselineStore

TESTS = """
    import pytest, users

    @pytest.mark.perf(users=2, run_time='2.5s', warmup=0.5, p95_ms=2000,
                      max_regression={'p95': 0.5, 'rps': 0.5})
    def test_compared(loadgate):
        loadgate.run(users.Mixed)

    @pytest.mark.perf(users=2, run_time='2.5s', warmup=0.5,
                      endpoints={'GET /slow': {'p95_ms': 5}})
    def test_breach(loadgate):
        loadgate.run(users.Slow)
"""

INI = """
    [pytest]
    loadgate_app = target_app:app
    loadgate_progress = off
    loadgate_baseline_min_requests = 5
"""

#: A stored baseline far slower than the target app: the comparison passes, with deltas.
BASELINE = {"total": {"p95": 900.0, "rps": 1.0, "error_rate": 0.2, "requests": 500.0},
            "GET /": {"p95": 900.0, "rps": 1.0, "error_rate": 0.0, "requests": 400.0}}


def test_session_outputs_for_people_and_ci(project: pytest.Pytester, run,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("pytest_html") is None:
        pytest.fail("pytest-html is not installed: .venv/bin/pip install -r requirements.lock"
                    " (it is in the test extra)", pytrace=False)
    project.makeini(INI)
    project.makepyfile(test_outputs=TESTS)
    baselines = project.path / ".loadgate" / "baselines"
    BaselineStore(baselines).record("test_outputs.py::test_compared", BASELINE, {},
                                    replace=True)
    step_summary = project.path / "step-summary.md"
    step_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)  # as a top-level session

    result = run("--html=html/report.html")
    result.assert_outcomes(passed=1, failed=1)
    reports = project.path / "reports"

    # -- the JSON report: schema version, per-endpoint seconds -----------------------------
    (compared,) = reports.glob("*_test_compared.json")
    doc = json.loads(compared.read_text())
    assert doc["schema_version"] == 1
    assert {"GET /", "GET /error"} <= set(doc["timeline"][1]["endpoints"])
    assert doc["timeline"][1]["endpoints"]["GET /"]["p95_ms"] > 0
    # the generator's own garbage-collection pauses, per second and in all
    assert all(point["gc_ms"] >= 0 for point in doc["timeline"])
    assert {"gc_ms", "gc_share", "gc_max_pause_ms"} <= set(doc["generator_resources"])

    # -- GITHUB_STEP_SUMMARY: appended markdown ---------------------------------------------
    summary = step_summary.read_text(encoding="utf-8")
    assert summary.startswith("earlier step\n### pytest-loadgate: 1 of 2 load run(s) passed\n")
    assert "| `test_outputs.py::test_compared` | ✅ passed |" in summary
    assert "| `test_outputs.py::test_breach` | ❌ failed |" in summary
    assert "  - GET /slow p95_ms " in summary and "> limit 5.0 ms" in summary
    assert "**Against the baseline**" in summary
    assert "| `test_outputs.py::test_compared` | total | p95 | 900.0 ms |" in summary
    assert "| <= 1350.0 ms | PASS |" in summary
    assert f"Reports: `{reports / 'index.html'}`" in summary

    # -- pytest-html: each load test's row carries its check table and report links --------
    page = html.unescape((project.path / "html" / "report.html").read_text(encoding="utf-8"))
    page = page.replace('\\"', '"')  # the rows' extras sit in a JSON blob
    assert "loadgate: FAILED" in page and "loadgate: PASSED" in page
    assert "<th>baseline</th>" in page and "p95 vs baseline" in page
    assert '<a href="../reports/' in page and '_test_breach.html">html</a>' in page

    # -- index.html: charts with axes, legend, window and the baseline band -----------------
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert index.count('<svg class="chart"') == 4
    assert "time (s)" in index and "latency p95 (ms)" in index
    assert "p95 GET /error" in index and '<ul class="legend">' in index
    assert "total p95: baseline 900.0 ms (allowed &lt;= 1350.0 ms)" in index

    # -- the loadgate command on what the session wrote --------------------------------------
    capsys.readouterr()
    assert main(["summary", str(reports), "--format", "markdown"]) == 0
    assert "1 of 2 load run(s) passed" in capsys.readouterr().out
    assert main(["compare", str(compared), "--baseline-dir", str(baselines)]) == 0
    out = capsys.readouterr().out
    assert "| `total` |" in out and "vs 1.0/s" in out and "vs 900.0 ms" in out


def test_no_step_summary_without_the_variable_or_inside_another_test() -> None:
    from pytest_loadgate.report.ci_summary import step_summary_path

    assert step_summary_path({}) is None
    assert step_summary_path({"GITHUB_STEP_SUMMARY": ""}) is None
    assert step_summary_path({"GITHUB_STEP_SUMMARY": "/s.md",
                              "PYTEST_CURRENT_TEST": "t.py::x (call)"}) is None
    assert str(step_summary_path({"GITHUB_STEP_SUMMARY": "/s.md"})) == "/s.md"
