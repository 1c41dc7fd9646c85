"""Keep load runs of parallel pytest-xdist workers from overlapping (they would skew each other)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

XDIST_RUN_ENV = "PYTEST_XDIST_TESTRUNUID"


def lock_path() -> Path | None:
    """The lock file shared by the workers of this xdist run; None outside xdist."""
    uid = os.environ.get(XDIST_RUN_ENV)
    if not uid:
        return None
    return Path(tempfile.gettempdir()) / f"pytest-loadgate-{uid}.lock"


@contextlib.contextmanager
def exclusive_run(path: Path | None) -> Iterator[None]:
    """Hold an exclusive file lock (blocking) while a load run executes; no-op when ``None``."""
    if path is None:
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
