"""SIGTERM (a cancelled CI job, ``timeout``, ``kill``) ends a session like Ctrl-C does.

By default SIGTERM kills pytest on the spot: no fixture finalizer runs, so a booted server's
process group, a database cluster started by a fixture and temporary directories stay behind.
Turned into ``KeyboardInterrupt``, it interrupts the run (its partial report is written) and
pytest tears every fixture down. A second SIGTERM kills at once, as before.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


def _interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}: tearing down")


def install_sigterm_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt, when nobody else handles it; returns the handler
    to put back (None when nothing was changed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None  # someone (a runner, another plugin) handles it: theirs to decide
    signal.signal(signal.SIGTERM, _interrupt)
    return signal.SIG_DFL


def restore_sigterm(previous: Any) -> None:
    """Undo :func:`install_sigterm_interrupt` (only if our handler is still the one set)."""
    if previous is not None and signal.getsignal(signal.SIGTERM) is _interrupt:
        signal.signal(signal.SIGTERM, previous)
