"""SIGINT and SIGKILL of pytest mid-run (SIGTERM: test_run_faults.py).

SIGINT interrupts the run like Ctrl-C: exit code 2, a partial report, every fixture torn down,
no process left. SIGKILL runs no code of ours at all: the booted server and the load workers
get SIGTERM from the kernel (their parent-death signal) and must not outlive pytest.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from fault_checks import Leftovers, start_pytest, traceback_of_ours, wait_for, wait_gone

#: A long run that says when it is under load: after 3 s with all its workers alive (their
#: pids in workers.pid) it writes ``running``. A session fixture writes ``finalized``.
LONG_RUN = '''
import time
from pathlib import Path

import psutil
import pytest
from users import Browse

WORKERS = {workers}
SEEN = []


@pytest.fixture(scope="session")
def session_resource():
    yield
    Path("finalized").write_text("yes")


def workers():
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "pytest_loadgate.run.worker" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            pass
    return found


def under_load():
    live = workers()
    if len(live) < WORKERS or Path("running").exists():
        return True
    SEEN.append(time.monotonic())
    if SEEN[-1] - SEEN[0] >= 3:
        Path("workers.pid").write_text(" ".join(map(str, live)))
        Path("running").write_text("yes")
    return True


@pytest.mark.perf(users=4, spawn_rate=4, run_time="120s")
def test_long(loadgate, session_resource):
    loadgate.invariant("under load", under_load, interval=0.5)
    loadgate.run(Browse)
'''

#: A server command whose process starts the real server as its child, as a shell script, a
#: reloader or a supervisor does: server.py (which writes server.pid) is a grandchild of pytest.
SPAWNER = '''
import subprocess
import sys

sys.exit(subprocess.call([sys.executable, "server.py", sys.argv[1]]))
'''

SPAWNER_INI = """
[pytest]
loadgate_server_command = {python} spawner.py {port}
loadgate_health_path = /
loadgate_progress = off
loadgate_baseline = off
"""


def _pids(root: Path) -> list[int]:
    return ([int(p) for p in (root / "workers.pid").read_text().split()]
            + [int((root / "server.pid").read_text())])


@pytest.mark.parametrize("workers", [0, 2])
def test_sigint_interrupts_with_a_partial_report_and_tears_everything_down(
        stdlib_project: pytest.Pytester, workers: int) -> None:
    project = stdlib_project
    project.makepyfile(test_long=LONG_RUN.format(workers=workers))
    root = Path(project.path)
    left = Leftovers(root)
    proc = start_pytest(root, f"--loadgate-workers={workers}", "test_long.py")
    try:
        wait_for(root / "running", proc, 90)
        pids = _pids(root)
        assert len(pids) == workers + 1
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        took = time.monotonic() - sent
        print(f"SIGINT with {workers} workers: exit {proc.returncode} after {took:.1f} s")
        out = (root / "out.txt").read_text(errors="replace")
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
        assert took < 60  # a verdict within seconds, not the run's 120 s
        assert "load run interrupted; partial report: " in out
        assert not traceback_of_ours(out), traceback_of_ours(out)
        assert (root / "finalized").read_text() == "yes"  # session finalizers ran
        (report,) = [r for r in (root / "reports").glob("*.json")
                     if "verdict" in json.loads(r.read_text())]
        assert json.loads(report.read_text())["verdict"] == "interrupted"
        assert wait_gone(pids, 5) == []
        assert left.processes_after(5) == []
        assert left.temp_entries() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left.kill_all()


@pytest.mark.parametrize(("server", "workers"), [
    ("server.py", 2),
    pytest.param("spawner.py", 0, id="server-with-a-child"),
])
def test_sigkill_of_pytest_leaves_no_server_or_worker_behind(
        stdlib_project: pytest.Pytester, server: str, workers: int) -> None:
    project = stdlib_project
    project.makepyfile(test_long=LONG_RUN.format(workers=workers))
    if server == "spawner.py":
        project.makepyfile(spawner=SPAWNER)
        project.makeini(SPAWNER_INI)
    root = Path(project.path)
    left = Leftovers(root)
    proc = start_pytest(root, f"--loadgate-workers={workers}", "test_long.py")
    try:
        wait_for(root / "running", proc, 90)
        pids = _pids(root)
        sent = time.monotonic()
        proc.kill()
        proc.wait(10)
        alive = wait_gone(pids, 10)
        took = time.monotonic() - sent
        print(f"SIGKILL ({server}, {workers} workers): {len(pids) - len(alive)} of {len(pids)}"
              f" processes gone after {took:.1f} s; left: {left.processes()}")
        assert alive == [], left.processes()
        assert left.processes_after(5) == []
        assert left.temp_entries() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left.kill_all()
