"""Report directories that are full or read-only: a clear failure with the verdict, nothing
half-done hidden, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                                reason="mounting a small tmpfs needs root")

TEST = '''
import pytest
from users import Browse


@pytest.mark.perf(users=2, spawn_rate=2, run_time="2s", p95_ms=5000)
def test_browse(loadgate):
    loadgate.run(Browse)
'''


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted afterwards."""
    point = tmp_path / "mnt"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(point)],
                   check=True)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _run(project: pytest.Pytester, report_dir: Path) -> pytest.RunResult:
    project.makepyfile(test_browse=TEST)
    return project.runpytest_subprocess("-p", "no:cacheprovider",
                                        f"--loadgate-report-dir={report_dir}")


def test_a_full_report_disk_fails_the_test_naming_it_and_the_verdict(
        stdlib_project: pytest.Pytester, small_mount: Path) -> None:
    filler = small_mount / "filler"
    with open(filler, "wb") as fh:  # fill it: the reports get "No space left on device"
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    result = _run(stdlib_project, small_mount / "reports")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "load test passed, but the reports of test_browse.py::test_browse could not be" \
        " written" in out
    assert "No space left on device" in out
    assert "Traceback" not in out


def test_a_read_only_report_dir_stops_the_test_at_setup_naming_it(
        stdlib_project: pytest.Pytester, small_mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    result = _run(stdlib_project, small_mount / "reports")
    result.assert_outcomes(errors=1)  # the server's log goes there too: nothing can start
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        f"*cannot write the server's log {small_mount}/reports/*: Read-only file system;"
        " set --loadgate-report-dir to a writable directory*"])
    assert "Traceback" not in out and "OSError" not in out


def test_a_read_only_baseline_dir_keeps_the_verdict_and_says_why_nothing_was_added(
        stdlib_project: pytest.Pytester, small_mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    stdlib_project.makepyfile(test_browse=TEST)
    result = stdlib_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--loadgate-baseline=add",
        f"--loadgate-baseline-dir={small_mount}/baselines")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"*not added to the baseline: {small_mount}/baselines*: Read-only file system*"])
    assert "Traceback" not in result.stdout.str()
