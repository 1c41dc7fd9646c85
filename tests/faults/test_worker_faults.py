"""A load worker killed mid-run: the run fails within seconds naming the lost worker, and no
worker (nor the server) outlives the session."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_checks import Leftovers, traceback_of_ours, wait_gone

#: An invariant of the inner test kills one of the two workers once both have been generating
#: load for a few seconds (workers are children of pytest running pytest_loadgate.run.worker).
KILL_A_WORKER = '''
import signal
import time
from pathlib import Path

import psutil
import pytest
from users import Browse

BOTH_SEEN = []


def workers():
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "pytest_loadgate.run.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def kill_one_under_load():
    live = workers()
    if len(live) < 2 or Path("killed").exists():
        return True
    BOTH_SEEN.append(time.monotonic())
    if BOTH_SEEN[-1] - BOTH_SEEN[0] < 4:
        return True
    Path("workers.pid").write_text(" ".join(str(w.pid) for w in live))
    live[0].send_signal(signal.SIGKILL)
    Path("killed").write_text(f"{live[0].pid} {time.time()}")
    return True


@pytest.mark.perf(users=4, spawn_rate=4, run_time="120s")
def test_two_workers(loadgate):
    loadgate.invariant("kill a worker", kill_one_under_load, interval=0.5)
    loadgate.run(Browse)
'''


def test_a_worker_killed_mid_run_fails_the_run_naming_it(
        stdlib_project: pytest.Pytester) -> None:
    project = stdlib_project
    project.makepyfile(test_workers=KILL_A_WORKER)
    root = Path(project.path)
    left = Leftovers(root)
    try:
        result = project.runpytest_subprocess("-p", "no:cacheprovider",
                                              "--loadgate-workers=2", timeout=120)
        ended = time.time()
        out = result.stdout.str()
        assert (root / "killed").exists(), out
        victim, killed_at = (root / "killed").read_text().split()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*load worker ? exited with code -9*"])
        print(f"worker killed: verdict after {ended - float(killed_at):.1f} s")
        assert ended - float(killed_at) < 60  # the verdict within seconds, not the 120 s run
        assert not traceback_of_ours(out), traceback_of_ours(out)
        pids = [int(p) for p in (root / "workers.pid").read_text().split()]
        assert int(victim) in pids
        pids.append(int((root / "server.pid").read_text()))
        assert wait_gone(pids, 5) == []
        assert left.processes_after(5) == []
        assert left.temp_entries() == []
    finally:
        left.kill_all()
