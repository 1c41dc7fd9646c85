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


@pytest.mark.parametrize(("args", "kwargs"), [
    ((), {}),  # Locust's own ``client.get(path)``: forwarded as a plain call
    ((), {"name": "/items/[id]", "headers": {"a": "b"}}),
    (("body",), {}),
    (("body",), {"catch_response": True}),
])
def test_every_call_reaches_the_client_as_it_was_made(args: tuple[Any, ...],
                                                      kwargs: dict[str, Any]) -> None:
    calls = []

    def original(session: Any, method: str, url: str, *a: Any, **kw: Any) -> str:
        calls.append((session, method, url, a, kw))
        return "answer"

    request = InFlight(lambda: 0.0, None)._wrap(original, timeout_kwarg=False)
    assert request("session", "GET", "/x", *args, **kwargs) == "answer"
    assert calls == [("session", "GET", "/x", args, kwargs)]


def test_the_run_timeout_is_given_to_clients_that_take_one() -> None:
    seen = []
    inflight = InFlight(lambda: 0.0, 2.5)
    request = inflight._wrap(lambda s, m, u, **kw: seen.append(kw), timeout_kwarg=True)
    request(None, "GET", "/x")
    request(None, "GET", "/x", timeout=9)
    assert seen == [{"timeout": 2.5}, {"timeout": 9}]
