"""The lock that keeps xdist workers' load runs apart never turns into an endless wait."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_loadgate.locking import RunLockTimeout, exclusive_run, read_holder

HOLD = """
import fcntl, json, os, sys, time
fh = open(sys.argv[1], "a+b")
fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
os.ftruncate(fh.fileno(), 0)
until = None if sys.argv[2] == "unknown" else time.time() + float(sys.argv[2])
if until is not None:
    fh.write(json.dumps({"pid": os.getpid(), "test": "t::stuck", "until_unix": until}).encode())
    fh.flush()
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


def _holder(path: Path, budget: str, hold_s: float = 600) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), budget, str(hold_s)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize(("budget", "names"), [("-100", "t::stuck"), ("unknown", "unknown")])
def test_a_holder_past_its_budget_is_named_instead_of_waited_for(
        tmp_path: Path, budget: str, names: str) -> None:
    lock = tmp_path / "run.lock"
    holder = _holder(lock, budget)
    try:
        started = time.monotonic()
        with pytest.raises(RunLockTimeout) as info, \
                exclusive_run(lock, holder="t::waiting", budget_s=1.0):
            pass
        assert time.monotonic() - started < 60
        assert names in str(info.value) and str(lock) in str(info.value)
    finally:
        holder.kill()
        holder.wait()


def test_a_holder_within_its_budget_is_waited_for_then_the_lock_is_ours(
        tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    holder = _holder(lock, "300", hold_s=1.5)
    try:
        info = read_holder(lock)
        assert info is not None and info["test"] == "t::stuck"
        with exclusive_run(lock, holder="t::next", budget_s=0.5):  # its own budget is short,
            assert holder.poll() is not None  # but the holder's is not: it waited it out
            mine = json.loads(lock.read_text())
            assert mine["test"] == "t::next" and mine["until_unix"] > time.time()
        assert lock.read_text() == ""  # released and cleared
    finally:
        holder.kill()
        holder.wait()
