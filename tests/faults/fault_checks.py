"""What every fault must leave behind (nothing) and show the user (no traceback of ours)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

#: Temp entries the plugin or the shop's helpers could leave in /tmp. The xdist run lock
#: (``pytest-loadgate-<run>.lock``) outlives runs on purpose; ``loadgate-pg-*`` clusters come
#: and go with PostgreSQL tests on other xdist workers, so the PostgreSQL faults give their
#: servers a base dir of their own and check that instead.
TEMP_PREFIXES = ("pytest-loadgate-", "loadgate-")
#: A frame of our code in a traceback: ``File ".../pytest_loadgate/x.py", line 3`` or
#: pytest's ``.../pytest_loadgate/x.py:3: in f``.
OUR_FRAME = re.compile(r"pytest_loadgate/[\w/]+\.py(\", line |:\d+: in )")


def temp_entries() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()
            if p.name.startswith(TEMP_PREFIXES) and not p.name.endswith(".lock")
            # Other tests running beside this one (xdist) make these and remove their own.
            and not p.name.startswith(("loadgate-pg-", "loadgate-interactive."))}


def traceback_of_ours(text: str) -> list[str]:
    """The lines of ``text`` that show a traceback or a frame of the plugin's code."""
    return [line for line in text.splitlines()
            if "Traceback (most recent call last)" in line or OUR_FRAME.search(line)]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """The pids still alive once ``timeout_s`` has passed (or none are left)."""
    deadline = time.monotonic() + timeout_s
    while (alive := [p for p in pids if not gone(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


class Leftovers:
    """A snapshot taken before a scratch run: afterwards, live processes working in the
    project (a booted server and load workers inherit its cwd, so they are found even once
    orphaned), new children of this process, and new temp entries."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.children = {p.pid for p in psutil.Process().children(recursive=True)}
        self.temp = temp_entries()

    def processes(self) -> list[str]:
        found = []
        new_children = {p.pid for p in psutil.Process().children(recursive=True)}
        new_children -= self.children
        for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
            info = proc.info
            if info["pid"] == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cwd = info["cwd"] or ""
            if (info["pid"] in new_children
                    or cwd == self.root or cwd.startswith(self.root + os.sep)):
                found.append(f"pid {info['pid']}: {' '.join(info['cmdline'] or [])}")
        return found

    def processes_after(self, timeout_s: float = 10.0) -> list[str]:
        """The processes still there once ``timeout_s`` has passed (or none are left)."""
        deadline = time.monotonic() + timeout_s
        while (found := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return found

    def temp_entries(self) -> list[str]:
        return sorted(temp_entries() - self.temp)

    def kill_all(self) -> None:
        """Clean up after a failed check, so one fault does not leak into the next test."""
        for line in self.processes():
            pid = int(line.split(":")[0].split()[1])
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def start_pytest(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """pytest in ``root`` as a process of its own (to signal it), output in ``root/out.txt``
    (a file, not a pipe: a full pipe must not stall the run)."""
    with open(root / "out.txt", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=root,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(root)})


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Until ``path`` exists; fail with pytest's output if it ends first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"pytest ended early ({proc.returncode}):\n"
                                 + (path.parent / "out.txt").read_text(errors="replace"))
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.05)
