"""Stopping a benchmark's child processes with all their descendants (shared by bench/)."""

from __future__ import annotations

import contextlib
import signal

import psutil


def kill_tree(pid: int, timeout_s: float = 10.0) -> None:
    """Terminate a process and all its descendants (a stopped one is resumed first, and the
    plugin starts its server in a new session, so a process group alone would orphan it);
    kill what lingers."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        procs = [root]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
