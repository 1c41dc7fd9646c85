"""Stalls: spans in which requests were outstanding and no response arrived at all.

A hung or stalling server shows up here even when the users stop asking (closed model): the
detector only needs to know when the last response arrived and since when the oldest
unanswered request has been waiting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Default ``max_stall``: a span this long without any response while requests are
#: outstanding fails the run.
DEFAULT_MAX_STALL_SEC = 2.0


def answered_lately(now_s: float, last_response_s: float | None, max_stall_s: float) -> bool:
    """True when a response arrived within half of ``max_stall`` before ``now_s``. No stall
    can then have lasted ``max_stall`` (a stall starts no earlier than the last response), so
    what is in flight need not be looked up: reporting nothing outstanding changes no stall's
    start or end."""
    return last_response_s is not None and now_s - last_response_s < max_stall_s / 2


@dataclass(frozen=True)
class Stall:
    """One span without responses: from ``start_s`` for ``duration_s`` (run clock)."""

    start_s: float
    duration_s: float
    outstanding: int  # the most requests seen waiting during the span
    ongoing: bool  # still unanswered when the run ended

    def describe(self) -> str:
        """``server stalled: no response for 5.8 s from 4.1 s while 5 requests ...``."""
        waiting = (f"{self.outstanding} request{'s were' if self.outstanding != 1 else ' was'}"
                   " outstanding")
        tail = " (still stalled when the run ended)" if self.ongoing else ""
        return (f"server stalled: no response for {self.duration_s:.1f} s from"
                f" {self.start_s:.1f} s while {waiting}{tail}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class StallDetector:
    """Fed with what is outstanding at each look; keeps every stall of at least ``max_stall_s``.

    A stall starts at the later of the last response and the send time of the oldest request
    still outstanding: from then on something was waiting and nothing was answered.
    """

    def __init__(self, max_stall_s: float) -> None:
        self.max_stall_s = max_stall_s
        self.stalls: list[Stall] = []
        self._start: float | None = None
        self._last_seen = 0.0
        self._peak = 0

    @property
    def current(self) -> Stall | None:
        """The stall under way, once it has lasted ``max_stall_s`` (else None)."""
        if self._start is None or self._last_seen - self._start < self.max_stall_s:
            return None
        return Stall(round(self._start, 2), round(self._last_seen - self._start, 2),
                     self._peak, True)

    def observe(self, now_s: float, last_response_s: float | None,
                oldest_outstanding_s: float | None, outstanding: int) -> Stall | None:
        """Update with the state at ``now_s``; returns the current stall once it is long
        enough to count."""
        if outstanding <= 0 or oldest_outstanding_s is None:
            self._close(last_response_s)
            return None
        start = max(oldest_outstanding_s,
                    last_response_s if last_response_s is not None else oldest_outstanding_s)
        if self._start is not None and start > self._start:
            self._close(last_response_s)  # a response arrived: the stall (if any) ended
        if self._start is None:
            self._start, self._peak = start, 0
        self._last_seen = now_s
        self._peak = max(self._peak, outstanding)
        return self.current

    def _close(self, ended_s: float | None) -> None:
        if self._start is not None and ended_s is not None and ended_s > self._start:
            self._last_seen = ended_s  # the response that ended it, not the last look
        stall = self.current
        if stall is not None:
            self.stalls.append(Stall(stall.start_s, stall.duration_s, stall.outstanding, False))
        self._start = None
        self._peak = 0

    def finish(self, now_s: float) -> list[Stall]:
        """Every stall of the run; one still under way at ``now_s`` is marked ongoing."""
        out = list(self.stalls)
        if self._start is not None:
            self._last_seen = max(self._last_seen, now_s)
            current = self.current
            if current is not None:
                out.append(current)
        return out
