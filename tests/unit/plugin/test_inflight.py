"""The in-flight tracker's request wrapper keeps waits exactly as ``TimeBins.add`` does."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_loadgate.run.inflight import InFlight
from pytest_loadgate.run.pacing import TimeBins

#: (sent at, answered after) in seconds: inside one bin, across bins, on a bin's edge, zero.
REQUESTS = [(0.01, 0.02), (0.05, 0.3), (0.2, 0.1), (0.33, 0.0), (1.25, 0.049),
            (2.0, 1.234), (7.099, 0.001), (7.0999, 0.0002)]


def test_waits_are_spread_over_bins_as_time_bins_spread_them() -> None:
    now = [0.0]
    inflight = InFlight(lambda: now[0], None)

    def original(session: Any, method: str, url: str, **kwargs: Any) -> str:
        assert len(inflight.outstanding) == 1  # tracked while it runs
        now[0] += kwargs["length"]
        return "answer"

    request = inflight._wrap(original, timeout_kwarg=False)
    expected = TimeBins()
    for sent, length in REQUESTS:
        now[0] = sent
        assert request(None, "GET", "/x", length=length) == "answer"
        expected.add(sent, length)
    assert inflight.outstanding == {}
    assert inflight.waits.bins.keys() == expected.bins.keys()
    for index, seconds in expected.bins.items():
        assert inflight.waits.bins[index] == pytest.approx(seconds, abs=1e-12)
