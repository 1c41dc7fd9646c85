"""A baseline file that is corrupt, half-written or shared by concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_loadgate.verdict.baseline import MAX_RUNS, BaselineStore

FIGURES = {"total": {"p95": 10.0, "rps": 100.0, "requests": 1000.0}}
FP = {"cpu_model": "x"}


@pytest.mark.parametrize("content", [
    '{"format": 1, "test": "t", "runs": [{"created": 1',  # cut off mid-write
    "[]",
    '{"format": 1, "runs": [{"fingerprint": {}}]}',
    '{"format": 1, "runs": [{"created": 1, "fingerprint": {}, "figures": {"total": 3}}]}',
    '{"format": 99, "runs": []}',
])
def test_an_unreadable_baseline_is_set_aside_with_a_note_not_a_crash(
        tmp_path: Path, content: str) -> None:
    store = BaselineStore(tmp_path)
    path = store.path("t")
    path.write_text(content)
    assert store.load("t") is None
    (note,) = store.notes
    assert str(path) in note and "set aside as" in note
    (aside,) = tmp_path.glob("*.corrupt-*.json")
    assert aside.read_text() == content  # kept, never deleted
    assert not path.exists()


def test_reading_for_a_report_touches_nothing(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.path("t").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        store.read("t")
    assert store.path("t").exists() and not list(tmp_path.glob("*.corrupt-*"))


def test_recording_over_a_corrupt_baseline_starts_a_fresh_one(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.path("t").write_text("\x00\x01garbage")
    store.record("t", FIGURES, FP, replace=False)  # add: the corrupt file is set aside first
    baseline = store.load("t")
    assert baseline is not None and len(baseline.runs) == 1
    assert len(list(tmp_path.glob("*.corrupt-*.json"))) == 1
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


WRITER = """
import sys, time
from pathlib import Path
from pytest_loadgate.verdict.baseline import BaselineStore
go = Path(sys.argv[1]) / "go"
Path(sys.argv[1], f"ready-{sys.argv[2]}").write_text("")
while not go.exists():
    time.sleep(0.001)
BaselineStore(Path(sys.argv[1])).record("t", {"total": {"p95": float(sys.argv[2])}},
                                        {"cpu_model": "x"}, replace=False)
"""


def test_concurrent_writers_all_land(tmp_path: Path) -> None:
    writers = MAX_RUNS - 1
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)])
             for n in range(writers)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < writers:  # all started: now release them
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.01)
    (tmp_path / "go").write_text("")
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    data = json.loads(BaselineStore(tmp_path).path("t").read_text())
    assert sorted(r["figures"]["total"]["p95"] for r in data["runs"]) == list(range(writers))
