"""Time the load generator's own process spends in Python's cyclic garbage collector, and
keep the heap that existed before the run out of the run's collections.

A generator that pauses to collect cannot send or time requests meanwhile, and the requests
in flight during a pause have it added to their latency. A full collection walks every tracked
object of the process: in a pytest process that is pytest, Locust, every imported module and
the session's fixtures and data, a heap the CLI does not have. :func:`heap_frozen` moves that
heap to the permanent generation for the run (``gc.freeze``), so the run's collections walk
only what the run itself created, and gives it back afterwards.

The meter adds its callback to ``gc.callbacks`` for the run only and keeps totals per
generation and per second of the run, never one record per collection (the youngest
generation is collected hundreds of times a second at full speed).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: A generator that paused this share of the verdict window for collections gets a note.
GC_NOTE_SHARE = 0.05


class GcMeter:
    """Collections and their pauses, per generation and per second of ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._began: float | None = None
        self.collections = [0, 0, 0]
        self.pause_s = [0.0, 0.0, 0.0]
        self.max_pause_s = 0.0
        #: Seconds paused, by whole second of the clock at the collection's start.
        self.by_second: dict[int, float] = {}

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = self._clock()
            return
        began, self._began = self._began, None
        if began is None:
            return
        pause = self._clock() - began
        generation = min(int(info.get("generation", 0)), 2)
        self.collections[generation] += 1
        self.pause_s[generation] += pause
        self.max_pause_s = max(self.max_pause_s, pause)
        second = int(began)
        self.by_second[second] = self.by_second.get(second, 0.0) + pause

    @contextmanager
    def measuring(self) -> Iterator[GcMeter]:
        """Count collections while the block runs."""
        gc.callbacks.append(self._on_gc)
        try:
            yield self
        finally:
            gc.callbacks.remove(self._on_gc)

    def paused_ms(self, start_s: float, stop_s: float) -> float:
        """Milliseconds paused in collections that began in the whole seconds from
        ``int(start_s)`` up to, not including, ``int(stop_s)`` (at least that first one)."""
        first = int(start_s)
        last = max(int(stop_s), first + 1)
        return round(sum(self.by_second.get(second, 0.0)
                         for second in range(first, last)) * 1000, 2)

    def summary(self, start_s: float, stop_s: float) -> dict[str, float]:
        """For the report: pause time over the run, its share of the window [start_s,
        stop_s), the longest pause, and collections of the oldest generation (the ones whose
        cost grows with the heap)."""
        total = sum(self.pause_s)
        span = stop_s - start_s
        return {"gc_ms": round(total * 1000, 1),
                "gc_share": round(self.paused_ms(start_s, stop_s) / 1000 / span, 4)
                if span > 0 else 0.0,
                "gc_max_pause_ms": round(self.max_pause_s * 1000, 2),
                "gc_full_collections": float(self.collections[2]),
                "gc_full_ms": round(self.pause_s[2] * 1000, 1)}


@contextmanager
def heap_frozen(*, collect: bool = True) -> Iterator[bool]:
    """Collect (unless ``collect`` is False: the caller collected before it opened the
    block's sockets), then freeze the objects that exist now for the block, so the block's
    collections skip them (yields True), then unfreeze them. A process that froze objects
    itself is left alone (yields False): unfreezing afterwards would undo its own freeze."""
    if gc.get_freeze_count():
        yield False
        return
    try:
        # Garbage left by an earlier run (its users, sessions, sockets) would be frozen too
        # and outlive this run: collect it first, before the run's clock starts.
        if collect:
            gc.collect()
        gc.freeze()
        yield True
    finally:
        gc.unfreeze()


def gc_notes(summary: dict[str, float] | None) -> list[str]:
    """A note when the generator's collections took a noticeable share of the window."""
    if not summary or summary.get("gc_share", 0.0) < GC_NOTE_SHARE:
        return []
    return [f"the load generator paused {summary['gc_share'] * 100:.1f}% of the verdict window"
            f" for garbage collection ({summary['gc_full_collections']:.0f} full"
            f" collections, the longest {summary['gc_max_pause_ms']:.0f} ms): objects created"
            " during the run (data kept by the users' tasks, listeners or fixtures they call)"
            " slow the load it can apply"]
