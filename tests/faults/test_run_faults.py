"""Faults during a run: SIGTERM to pytest, an invariant check that never answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SIGTERM_TEST = '''
from pathlib import Path

import pytest
from users import Browse


@pytest.fixture(scope="session")
def session_resource():
    yield
    Path("finalized").write_text("yes")


@pytest.mark.perf(users=5, spawn_rate=5, run_time="120s")
def test_long(loadgate, session_resource):
    loadgate.invariant("started", lambda: Path("running").write_text("yes") or True)
    loadgate.run(Browse)
'''


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, f"pytest ended early ({proc.returncode})"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_sigterm_interrupts_the_run_and_tears_everything_down(
        stdlib_project: pytest.Pytester) -> None:
    project = stdlib_project
    project.makepyfile(test_long=SIGTERM_TEST)
    root = Path(project.path)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             "test_long.py"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        _wait_for(root / "running", proc, 60)  # the run is under load
        server_pid = int((root / "server.pid").read_text())
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text
    assert time.monotonic() - sent < 30  # a verdict within seconds, not the run's 120 s
    assert (root / "finalized").read_text() == "yes"  # session finalizers ran
    assert not psutil.pid_exists(server_pid) or psutil.Process(server_pid).status() == "zombie"
    (report,) = (root / "reports").glob("*.json")
    assert json.loads(report.read_text())["verdict"] == "interrupted"
    assert "load run interrupted" in text


HANGING_INVARIANT = '''
import urllib.request

import pytest
from users import Browse


@pytest.mark.perf(users=2, spawn_rate=2, run_time="4s")
def test_invariant_waits_on_a_hung_endpoint(loadgate, loadgate_server):
    def stock_ok():
        urllib.request.urlopen(loadgate_server.url + "/hang", timeout=3600).read()
        return True

    loadgate.invariant("stock", stock_ok, interval=1, timeout=1)
    loadgate.run(Browse)
'''


def test_an_invariant_that_never_answers_breaks_the_invariant_not_the_run(
        stdlib_project: pytest.Pytester) -> None:
    stdlib_project.makepyfile(test_hang=HANGING_INVARIANT)
    started = time.monotonic()
    result = stdlib_project.runpytest_subprocess("-p", "no:cacheprovider")
    assert time.monotonic() - started < 90
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*invariant 'stock' violated during the run*no answer within timeout=1s*"])


def test_a_bad_invariant_timeout_is_named(stdlib_project: pytest.Pytester) -> None:
    stdlib_project.makepyfile(test_bad='''
import pytest


@pytest.mark.perf(run_time="1s")
def test_bad(loadgate):
    loadgate.invariant("stock", lambda: True, timeout=0)
''')
    result = stdlib_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invariant 'stock': timeout=0 must be > 0*"])
