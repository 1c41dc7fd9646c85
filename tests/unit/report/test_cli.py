"""The ``loadgate`` command: summary, compare and worker; errors are one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sample_runs import files, sample_run

from pytest_loadgate.cli import main
from pytest_loadgate.gate import figures
from pytest_loadgate.report.reports import result_document
from pytest_loadgate.verdict.baseline import BaselineStore

ROOT = Path(__file__).resolve().parents[3]


def write_runs(folder: Path) -> list[Path]:
    """Two run reports: one passing, one failing against a baseline."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (test, kwargs) in enumerate([("tests/t.py::test_ok", {"p95_ms": 100}),
                                        ("tests/t.py::test_bad", {"regression": True,
                                                                  "p95_ms": 30})]):
        paths = files(folder, f"20261130-01020{i}_t_{test.rsplit(':', 1)[-1]}")
        paths["json"].write_text(json.dumps(result_document(test, sample_run(**kwargs), paths)),
                                 encoding="utf-8")
        out.append(paths["json"])
    (folder / "calibration.json").write_text("[]", encoding="utf-8")  # not a run report
    return out


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_as_table_csv_and_markdown(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    write_runs(tmp_path / "reports")
    code, out, err = run_cli(capsys, "summary", str(tmp_path / "reports"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["test", "verdict", "requests", "rps", "p95", "p99", "errors"]
    assert lines[1].startswith("tests/t.py::test_ok   PASSED")
    assert lines[2].startswith("tests/t.py::test_bad  FAILED")
    assert "    total rps 0.33× baseline (30.0/s vs 90.6/s; limit 0.70×)" in lines

    code, out, _ = run_cli(capsys, "summary", str(tmp_path / "reports"), "--format", "csv")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].startswith("test,verdict,mode,users,requests,failures,rps,")
    assert len(rows) == 3 and rows[2].startswith("tests/t.py::test_bad,failed,perf,3,150,")

    code, out, _ = run_cli(capsys, "summary", str(tmp_path / "reports"), "--format",
                           "markdown")
    assert code == 0
    assert out.startswith("### pytest-loadgate: 1 of 2 load run(s) passed")
    assert "**Against the baseline**" in out


@pytest.mark.parametrize(("setup", "message"), [
    (lambda d: None, "no such directory"),
    (lambda d: d.mkdir(), "no run reports (<timestamp>_<test>.json) in it"),
])
def test_summary_errors_are_one_line_and_exit_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str], setup,
                                                message: str) -> None:
    folder = tmp_path / "reports"
    setup(folder)
    code, out, err = run_cli(capsys, "summary", str(folder))
    assert (code, out) == (2, "")
    assert err == f"loadgate summary: error: {folder}: {message}\n"


def test_a_bad_report_is_named_with_its_field(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _, bad = write_runs(tmp_path / "reports")
    doc = json.loads(bad.read_text())
    doc["total"]["rps"] = "fast"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = run_cli(capsys, "summary", str(tmp_path / "reports"))
    assert (code, out) == (2, "")
    assert err.startswith(f"loadgate summary: error: {bad}: field 'total.rps': ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    bad.write_text("{", encoding="utf-8")
    code, _, err = run_cli(capsys, "compare", str(bad))
    assert code == 2 and err.startswith(f"loadgate compare: error: {bad}: not valid JSON")


def test_compare_against_the_stored_baseline(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, report = write_runs(tmp_path / "reports")
    store = BaselineStore(tmp_path / "baselines")
    baseline_run = sample_run(p95_ms=100)
    store.record("tests/t.py::test_bad", figures(baseline_run.result), {}, replace=True)
    code, out, err = run_cli(capsys, "compare", str(report), "--baseline-dir",
                             str(tmp_path / "baselines"))
    assert (code, err) == (0, "")
    assert out.startswith("### `tests/t.py::test_bad` against its baseline")
    assert "| `total` | 30.0/s vs 30.0/s (+0.0%) |" in out
    assert "| `GET /slow` |" in out

    code, out, err = run_cli(capsys, "compare", str(report), "--baseline-dir",
                             str(tmp_path / "elsewhere"))
    assert (code, out) == (2, "")
    assert "elsewhere: no such baseline directory" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "compare", str(report), "--baseline-dir",
                           str(tmp_path / "empty"))
    assert code == 2
    assert err.startswith("loadgate compare: error: no baseline for tests/t.py::test_bad in")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["summary", "x", "--format", "yaml"])
    assert exited.value.code == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_the_console_script_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["loadgate"] == "pytest_loadgate.cli:main"


def test_worker_runs_the_worker_entry_point_and_summary_loads_no_locust(tmp_path: Path) -> None:
    worker = subprocess.run([sys.executable, "-m", "pytest_loadgate.cli", "worker", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert worker.returncode == 0, worker.stderr
    assert "--master-host" in worker.stdout and "--master-port" in worker.stdout
    write_runs(tmp_path / "reports")
    code = ("import sys; from pytest_loadgate.cli import main; "
            f"main(['summary', {str(tmp_path / 'reports')!r}]); "
            "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.splitlines()[-1] == "[]"
