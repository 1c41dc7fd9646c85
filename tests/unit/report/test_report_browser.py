"""The reports as a person sees them: a real headless Chromium opens them and reads the page.

A tiny pytest session (one passing and one failing load test against a trivial ASGI app) writes
a session ``index.html`` and Locust's per-test HTML reports. ``browser_driver.py`` then opens
them in Debian's Chromium through Playwright (never a downloaded browser) and reports what is
rendered; this test checks the verdicts, figures, check tables and colours of the index, and
that Locust's React report rendered its statistics tables and painted its charts. Screenshots
land in the test's tmp dir (``index.png``, ``locust.png``).

Without ``/usr/bin/chromium`` or the ``playwright`` package this test fails and says what to
install: a report nobody has looked at must not count as checked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TARGET_APP = ROOT / "tests" / "unit" / "plugin" / "target_app.py"
DRIVER = HERE / "browser_driver.py"
CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = ("install: apt-get update && apt-get install -y chromium; "
                ".venv/bin/pip install playwright  (the Makefile's test set-up does both; "
                "Playwright must use the system browser, never `playwright install`)")

INI = """
[pytest]
loadgate_app = target_app:app
loadgate_health_path = /health
loadgate_progress = off
loadgate_report_dir = reports
"""

LOAD_TESTS = '''
import pytest
from locust import FastHttpUser, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def root(self):
        self.client.get("/")

    @task(1)
    def slow(self):
        self.client.get("/slow")


@pytest.mark.perf(users=3, run_time="3s", p95_ms=2000, max_error_rate=0.01, min_rps=5)
def test_browse_passes(loadgate):
    loadgate.run(Visitor)


@pytest.mark.perf(users=3, run_time="3s", max_error_rate=0.01,
                  endpoints={"GET /slow": {"p95_ms": 5}})
def test_slow_page_fails(loadgate):
    loadgate.run(Visitor)
'''


def require_browser() -> None:
    """Fail (not skip) with what to install when the browser or Playwright is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"Debian's chromium ({CHROMIUM} not found)")
    if importlib.util.find_spec("playwright") is None:
        missing.append(f"the Python package playwright (not importable by {sys.executable})")
    if missing:
        pytest.fail(f"the report browser test needs {' and '.join(missing)}; {INSTALL_HINT}",
                    pytrace=False)


def session_reports(pytester: pytest.Pytester) -> Path:
    """Run one passing and one failing load test; return the session's ``index.html``."""
    shutil.copy(TARGET_APP, pytester.path / "target_app.py")
    pytester.makeini(INI)
    pytester.makepyfile(test_loads=LOAD_TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1, failed=1)
    index = pytester.path / "reports" / "index.html"
    assert index.exists(), result.stdout.str()
    return index


def look(index: Path, shots: Path) -> dict[str, Any]:
    """What the browser shows (see ``browser_driver.py``)."""
    proc = subprocess.run([sys.executable, str(DRIVER), str(index), str(shots)],
                          capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, f"browser driver failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def rgb(css: str) -> tuple[int, int, int]:
    """``rgb(19, 115, 51)`` → ``(19, 115, 51)``."""
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def is_green(css: str) -> bool:
    r, g, b = rgb(css)
    return g > r + 40 and g > b + 40


def is_red(css: str) -> bool:
    r, g, b = rgb(css)
    return r > g + 80 and r > b + 80


def test_index_and_locust_report_render_in_chromium(pytester: pytest.Pytester) -> None:
    """Verdicts, figures and checks show in index.html; Locust's report draws its charts."""
    require_browser()  # first: a missing browser fails at once, before any load run
    shots = pytester.path / "screenshots"
    seen = look(session_reports(pytester), shots)
    index, locust = seen["index"], seen["locust"]

    # -- index.html ------------------------------------------------------------------------
    assert index["heading"] == "pytest-loadgate"
    assert index["summary"].startswith("1 of 2 load tests passed"), index["summary"]
    header = index["header"]
    assert header[:3] == ["test", "verdict", "mode"], header
    runs = {run["cells"][0].rsplit("::", 1)[-1]: run for run in index["runs"]}
    assert set(runs) == {"test_browse_passes", "test_slow_page_fails"}, index["runs"]
    passed, failed = runs["test_browse_passes"], runs["test_slow_page_fails"]

    assert passed["verdict"] == "PASSED" and passed["verdict_visible"]
    assert failed["verdict"] == "FAILED" and failed["verdict_visible"]
    assert is_green(passed["verdict_color"]), passed["verdict_color"]
    assert is_red(failed["verdict_color"]), failed["verdict_color"]

    for run in (passed, failed):
        cells = dict(zip(header, run["cells"], strict=False))
        assert cells["mode"] == "perf"
        assert cells["users"] == "3"
        assert int(cells["requests"]) > 20, cells
        assert re.fullmatch(r"\d+(\.\d)?/s", cells["rps"]), cells
        assert re.fullmatch(r"\d+(\.\d)? ms", cells["p95"]), cells
        assert re.fullmatch(r"\d+(\.\d+)?%", cells["errors"]), cells
        assert set(run["links"]) >= {"html", "csv", "json"}, run["links"]

    # The checks tables: every check of the passing run PASS; the broken endpoint limit FAIL.
    assert passed["checks"] and all(row[-1] == "PASS" for row in passed["checks"])
    assert {tuple(row[:2]) for row in passed["checks"]} >= {
        ("total", "p95_ms"), ("total", "max_error_rate"), ("total", "min_rps")}
    fails = [row for row in failed["checks"] if row[-1] == "FAIL"]
    assert [row[:3] for row in fails] == [["GET /slow", "p95_ms", "<= 5.0 ms"]], failed["checks"]
    assert float(fails[0][3].split()[0]) > 5.0, fails
    assert all(is_green(c) for t, c in passed["check_colors"] if t == "PASS")
    assert all(is_red(c) for t, c in failed["check_colors"] if t == "FAIL")
    assert any("GET /slow" in note and "p95_ms" in note for note in failed["notes"]), failed

    # The charts: throughput and latency over time, each with labelled axes, round ticks, the
    # verdict window shaded, and a legend naming every line (the total and each endpoint).
    for run in (passed, failed):
        throughput, latency = run["charts"]
        assert throughput["caption"] == "Throughput", run["charts"]
        assert latency["caption"] == "Latency (p95 per second)"
        assert throughput["axis_labels"] == ["time (s)", "requests/s"]
        assert latency["axis_labels"] == ["time (s)", "latency p95 (ms)"]
        for chart in (throughput, latency):
            assert chart["width"] >= 600 and chart["height"] >= 200, chart
            assert chart["x_ticks"][0] == "0" and len(chart["x_ticks"]) >= 3, chart["x_ticks"]
            assert chart["y_ticks"][0] == "0" and len(chart["y_ticks"]) >= 3, chart["y_ticks"]
            assert chart["window_width"] > 100, chart
            assert "verdict window" in chart["legend"], chart["legend"]
            assert all(line["width"] > 100 for line in chart["lines"]), chart["lines"]
        assert [line["label"] for line in latency["lines"]] == [
            "p95, all endpoints", "p95 GET /", "p95 GET /slow"], latency["lines"]
        assert len({line["color"] for line in latency["lines"]}) == 3
        assert {"p95 GET /", "p95 GET /slow"} <= set(latency["legend"]), latency["legend"]

    # -- Locust's report of the failing run, reached through the index's link ---------------
    assert locust["url"] == failed["links"]["html"]
    assert locust["title"] == "Locust"
    assert "Request Statistics" in locust["headings"], locust["headings"]
    assert "Charts" in locust["headings"], locust["headings"]
    stats = next(t for t in locust["tables"] if "# Requests" in t["header"])
    names = {row[1]: row for row in stats["rows"]}
    assert {"/", "/slow", "Aggregated"} <= set(names), stats
    assert int(names["Aggregated"][stats["header"].index("# Requests")]) > 20
    assert len(locust["canvases"]) >= 3, locust["canvases"]  # rps, response times, users
    assert all(w > 100 and h > 100 for w, h in locust["canvases"]), locust["canvases"]
    assert seen["page_errors"] == [], seen["page_errors"]

    for name in ("index.png", "locust.png"):
        assert (shots / name).stat().st_size > 10_000, name
