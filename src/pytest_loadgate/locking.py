"""Keep load runs of parallel pytest-xdist workers from overlapping (they would skew each other).

The worker holding the lock writes who it is and until when its run may last into the lock
file; a waiting worker gives up, naming the holder, once that time has passed, so a stuck run
elsewhere never turns into a silent, endless wait here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_loadgate.errors import LoadgateServerError

XDIST_RUN_ENV = "PYTEST_XDIST_TESTRUNUID"
LOCK_POLL_SEC = 0.2
#: Past the holder's own budget, how long a waiter still waits before it gives up.
HOLDER_GRACE_SEC = 30.0


class RunLockTimeout(LoadgateServerError):
    """Another worker's run held the lock past its budget."""


def lock_path(shared_tmp: Path | None = None) -> Path | None:
    """The lock file shared by the workers of this xdist run (None outside xdist): in the
    session's shared pytest temp directory when given (pytest removes old ones), else in the
    system temp directory."""
    uid = os.environ.get(XDIST_RUN_ENV)
    if not uid:
        return None
    if shared_tmp is not None:
        return shared_tmp / "loadgate-run.lock"
    return Path(tempfile.gettempdir()) / f"pytest-loadgate-{uid}.lock"


def read_holder(path: Path) -> dict[str, Any] | None:
    """Who holds the lock (pid, test, until_unix), when the file says so."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "until_unix" in data else None


@contextlib.contextmanager
def exclusive_run(path: Path | None, *, holder: str = "", budget_s: float = 3600.0,
                  clock: Any = time.time) -> Iterator[None]:
    """Hold an exclusive file lock while a load run executes (no-op when ``path`` is None).

    Waits while another worker's run holds it, but not past that run's own budget (as its
    holder wrote it) plus ``HOLDER_GRACE_SEC``, nor, when the holder is unknown, past this
    run's ``budget_s``; then raises :class:`RunLockTimeout` naming the holder.
    """
    if path is None:
        yield
        return
    with open(path, "a+b") as fh:
        started = clock()
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                info = read_holder(path)
                now = clock()
                limit = (float(info["until_unix"]) + HOLDER_GRACE_SEC if info
                         else started + budget_s)
                if now > limit:
                    who = (f"pid {info.get('pid')} running {info.get('test')!r}" if info
                           else "an unknown process")
                    raise RunLockTimeout(
                        f"waited {now - started:.0f} s for the load-run lock {path}: it is held"
                        f" by {who}, past that run's time budget; that worker is stuck (see"
                        " its log) or was suspended") from None
                time.sleep(LOCK_POLL_SEC)
        try:
            os.ftruncate(fh.fileno(), 0)
            fh.write(json.dumps({"pid": os.getpid(), "test": holder,
                                 "until_unix": clock() + budget_s}).encode())
            fh.flush()
            yield
        finally:
            os.ftruncate(fh.fileno(), 0)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
