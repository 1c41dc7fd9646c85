"""The generator's garbage-collection meter: real collections, counted per generation and
per second of the run's clock, and only while measuring."""

from __future__ import annotations

import gc
import weakref

import pytest

from pytest_loadgate.run.gc_meter import GcMeter, gc_notes, heap_frozen


class Clock:
    def __init__(self) -> None:
        self.now = 10.2

    def __call__(self) -> float:
        self.now += 0.001  # every reading is 1 ms later: a collection "takes" 1 ms
        return self.now


def test_counts_real_collections_by_generation_and_second() -> None:
    clock = Clock()
    meter = GcMeter(clock)
    with meter.measuring():
        gc.collect(0)
        gc.collect(2)
        clock.now = 12.5
        gc.collect(2)
    assert meter.collections[0] >= 1 and meter.collections[2] >= 2
    assert meter.paused_ms(10, 11) == pytest.approx(meter.by_second[10] * 1000)
    assert meter.paused_ms(12, 13) == pytest.approx(1.0)
    assert meter.paused_ms(11, 12) == 0.0
    summary = meter.summary(10.0, 20.0)
    assert summary["gc_full_collections"] >= 2
    assert summary["gc_ms"] == pytest.approx(sum(meter.pause_s) * 1000, abs=0.1)
    assert summary["gc_share"] == pytest.approx(summary["gc_ms"] / 10_000, abs=1e-4)
    assert meter.summary(12.0, 14.0)["gc_share"] == pytest.approx(0.0005)
    assert summary["gc_max_pause_ms"] == pytest.approx(1.0)


def test_counts_nothing_outside_the_block() -> None:
    meter = GcMeter(Clock())
    with meter.measuring():
        pass
    gc.collect()
    assert meter.collections == [0, 0, 0] and meter.by_second == {}
    assert meter._on_gc not in gc.callbacks
    assert meter.summary(5.0, 5.0)["gc_share"] == 0.0


def test_a_stop_without_its_start_is_ignored() -> None:
    meter = GcMeter(Clock())
    meter._on_gc("stop", {"generation": 2})
    assert meter.collections == [0, 0, 0]


def test_a_noticeable_share_gets_a_note() -> None:
    summary = {"gc_share": 0.08, "gc_full_collections": 3.0, "gc_max_pause_ms": 41.0}
    (note,) = gc_notes(summary)
    assert note.startswith("the load generator paused 8.0% of the verdict window for garbage"
                           " collection (3 full collections, the longest 41 ms)")
    assert gc_notes({**summary, "gc_share": 0.01}) == [] and gc_notes(None) == []


def _tracked(marker: object) -> bool:
    """True when ``marker`` is in a generation the collector walks (not frozen)."""
    return any(obj is marker for obj in gc.get_objects())


def test_the_heap_before_the_run_is_frozen_for_it_and_released_after() -> None:
    before = {"fixture": [1, 2, 3]}
    assert gc.get_freeze_count() == 0 and _tracked(before)
    with heap_frozen() as frozen:
        during = {"created in the run": []}
        assert frozen and gc.get_freeze_count() > 0
        assert not _tracked(before) and _tracked(during)
        # A cycle the run makes and drops is still collected.
        node = Node()
        ref = weakref.ref(node)
        del node
        assert ref() is not None
        gc.collect()
        assert ref() is None
    assert gc.get_freeze_count() == 0 and _tracked(before)


class Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_process_that_froze_objects_itself_is_left_alone() -> None:
    gc.freeze()
    try:
        count = gc.get_freeze_count()
        with heap_frozen() as frozen:
            assert not frozen and gc.get_freeze_count() == count
        assert gc.get_freeze_count() == count  # not unfrozen by the run
    finally:
        gc.unfreeze()
