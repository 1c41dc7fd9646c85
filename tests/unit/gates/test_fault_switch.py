"""The scenarios' thresholds are not decoration: the shop's fault switch makes them fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

FAULTS = "GET /products/{product_id}:latency_ms=150;POST /orders/:error_rate=0.3"


def _checks(report_dir: Path, test: str) -> dict[tuple[str, str], dict]:
    (path,) = report_dir.glob(f"*_{test}.json")
    doc = json.loads(path.read_text())
    assert doc["verdict"] == "failed", doc["verdict"]
    return {(c["scope"], c["threshold"]): c for c in doc["checks"]}


def test_faults_make_the_matching_scenarios_fail(tmp_path: Path) -> None:
    env = {**os.environ, "DEMO_API_FAULTS": FAULTS}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--loadgate-progress=off", f"--loadgate-report-dir={tmp_path}",
         "tests/perf/test_smoke.py::test_smoke", "tests/perf/test_load.py::test_standard",
         "tests/perf/test_race.py::test_last_item_race[sqlite]"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 failed" in proc.stdout, proc.stdout[-3000:]

    smoke = _checks(tmp_path, "test_smoke")
    slow = smoke[("GET /products/{id}", "p95_ms")]
    assert not slow["passed"] and slow["measured"] >= 150

    standard = _checks(tmp_path, "test_standard")
    errors = standard[("total", "max_error_rate")]
    assert not errors["passed"] and errors["measured"] > 0.01

    race = _checks(tmp_path, "test_last_item_race_sqlite")
    assert not race[("total", "max_error_rate")]["passed"]
