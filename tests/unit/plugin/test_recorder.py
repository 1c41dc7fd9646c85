"""The recorder's fast path for answered requests stores exactly what its general path stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.stats.samples import EndpointSamples, status_of


@dataclass
class Response:
    status_code: Any


CASES: list[tuple[Any, BaseException | None]] = [
    (Response(200), None),
    (Response(404), None),  # answered: a failure only if Locust reports an exception
    (Response(503), RuntimeError("503")),
    (Response(0), None),  # no status: the general path stores 0
    (Response(True), None),  # a bool is not a status code
    (Response(70000), None),  # out of the stored range: 0
    (Response("200"), None),
    (None, ConnectionError("refused")),
    (None, None),
]


def _expected(reports: list[tuple[Any, BaseException | None]]) -> EndpointSamples:
    """The n-th report (from 1) at n s with n ms, through the general ``append``."""
    samples = EndpointSamples()
    for n, (response, exception) in enumerate(reports, start=1):
        samples.append(float(n), float(n), status_of(response, exception),
                       exception is not None, float(n), False)
    return samples


@pytest.mark.parametrize("service_times_differ", [False, True])
def test_every_kind_of_report_is_stored_as_the_general_path_stores_it(
        service_times_differ: bool) -> None:
    ticks = iter(float(i) for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks))
    recorder.restart()  # time zero at tick 0
    reports = CASES * 3
    if service_times_differ:  # an open-model sample first: service times stored separately
        recorder.endpoints["GET /x"] = EndpointSamples()
        recorder.endpoints["GET /x"].append(0.5, 9.0, 200, False, 4.0, False)
    for latency, (response, exception) in enumerate(reports, start=1):
        recorder.on_request("GET", "/x", float(latency), response=response,
                            exception=exception, context={}, start_time=None,
                            response_length=0, url="/x")
    stored = recorder.endpoints["GET /x"]
    expected = _expected(reports)
    if service_times_differ:
        head = EndpointSamples()
        head.append(0.5, 9.0, 200, False, 4.0, False)
        head.extend(expected)
        expected = head
    assert stored == expected
    assert recorder.requests == len(reports)
    assert recorder.failures == sum(1 for _, e in reports if e is not None)
    assert recorder.kept == len(reports)
    assert recorder.last_response_s == float(len(reports))
