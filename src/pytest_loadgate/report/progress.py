"""A live progress line during a run: elapsed/total, users, rps, p95, failures."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

TTY_INTERVAL_SEC = 1.0
PLAIN_INTERVAL_SEC = 5.0


@dataclass(frozen=True)
class Snapshot:
    """The state of a run at one moment; rates and p95 over the recent past."""

    elapsed_s: float
    total_s: float
    users: int
    rps: float
    p95_ms: float
    requests: int
    failures: int
    phase: str

    def line(self) -> str:
        p95 = "-" if math.isnan(self.p95_ms) else f"{self.p95_ms:.1f}ms"
        return (f"loadgate [{self.phase}] {self.elapsed_s:5.1f}/{self.total_s:.0f}s"
                f" users={self.users} rps={self.rps:.1f} p95={p95}"
                f" requests={self.requests} failures={self.failures}")


class ProgressPrinter:
    """Rewrites one line on a terminal; prints plain lines at a slower pace elsewhere (CI)."""

    def __init__(self, write: Callable[[str], None], *, is_tty: bool) -> None:
        self._write = write
        self._tty = is_tty
        self.interval_s = TTY_INTERVAL_SEC if is_tty else PLAIN_INTERVAL_SEC
        self._last_len = 0
        self._lines = 0

    def show(self, snapshot: Snapshot) -> None:
        text = snapshot.line()
        if self._tty:
            pad = max(0, self._last_len - len(text))
            self._write("\r" + text + " " * pad)
            self._last_len = len(text)
        else:
            self._write(("" if self._lines else "\n") + text + "\n")
            self._lines += 1

    def close(self) -> None:
        if self._tty and self._last_len:
            self._write("\r" + " " * self._last_len + "\r")
            self._last_len = 0
