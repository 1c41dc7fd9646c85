"""Every threshold kind, passing and breaching, in one pytester session (one server boot)."""

from __future__ import annotations

import json

import pytest

# (test name, user class, marker kwargs, expected outcome)
CASES = [
    ("avg_pass", "Slow", "avg_ms=2000", "passed"),
    ("avg_breach", "Slow", "avg_ms=5", "failed"),
    ("p50_pass", "Slow", "p50_ms=2000", "passed"),
    ("p50_breach", "Slow", "p50_ms=5", "failed"),
    ("p90_pass", "Slow", "p90_ms=2000", "passed"),
    ("p90_breach", "Slow", "p90_ms=5", "failed"),
    ("p95_pass", "Slow", "p95_ms=2000", "passed"),
    ("p95_breach", "Slow", "p95_ms=5", "failed"),
    ("p99_pass", "Slow", "p99_ms=2000", "passed"),
    ("p99_breach", "Slow", "p99_ms=5", "failed"),
    ("max_pass", "Slow", "max_ms=2000", "passed"),
    ("max_breach", "Slow", "max_ms=5", "failed"),
    ("errors_pass", "Mixed", "max_error_rate=0.5", "passed"),
    ("errors_breach", "Mixed", "max_error_rate=0.05", "failed"),
    ("rps_pass", "Fast", "min_rps=5", "passed"),
    ("rps_breach", "Fast", "min_rps=1000000", "failed"),
    ("endpoint_pass", "Mixed", "endpoints={'GET /': {'max_error_rate': 0}}", "passed"),
    ("endpoint_breach", "Mixed", "endpoints={'GET /error': {'max_error_rate': 0.5}}", "failed"),
    ("endpoint_no_requests", "Fast", "endpoints={'GET /never': {'p95_ms': 100}}", "failed"),
    ("httpuser_pass", "Requests", "p95_ms=2000, max_error_rate=0", "passed"),
]




def _module_source() -> str:
    lines = ["import pytest", "import users", ""]
    for name, user, kwargs, _ in CASES:
        lines += [
            f"@pytest.mark.perf(users=4, run_time='1.5s', {kwargs})",
            f"def test_{name}(loadgate):",
            f"    loadgate.run(users.{user})",
            "",
        ]
    return "\n".join(lines)


def test_each_threshold_passes_and_breaches(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_cases=_module_source())
    result = run("-v", "--junitxml=junit.xml")
    for name, _, _, expected in CASES:
        result.stdout.fnmatch_lines([f"*test_{name} {expected.upper()}*"])
    # The failure explains itself with a table naming threshold, limit and measurement.
    result.stdout.fnmatch_lines(["*total  p95_ms     <= 5.0 ms*FAIL*"])
    result.stdout.fnmatch_lines(["*GET /error  max_error_rate  <= 50.00%*100.00%*FAIL*"])
    result.stdout.fnmatch_lines(["*GET /never: p95_ms set but the endpoint received no requests*"])
    # Reports: per test HTML/CSV/JSON and the session index; JUnit properties.
    reports = project.path / "reports"
    assert len(list(reports.glob("*_test_p95_breach.html"))) == 1
    assert len(list(reports.glob("*.csv"))) == len(CASES)
    doc = json.loads(next(reports.glob("*_test_p95_breach.json")).read_text())
    assert doc["verdict"] == "failed"
    assert doc["checks"] == [{"scope": "total", "threshold": "p95_ms", "limit": 5.0,
                              "measured": doc["total"]["p95_ms"], "passed": False}]
    assert doc["total"]["p95_ms"] > 5.0
    index = (reports / "index.html").read_text()
    assert "10 of 20 load tests passed" in index
    junit = (project.path / "junit.xml").read_text()
    assert 'name="loadgate.verdict" value="failed"' in junit
    assert 'name="loadgate.check[total p95_ms]"' in junit
    result.stdout.fnmatch_lines(["*loadgate: 20 load run(s), reports in*"])
