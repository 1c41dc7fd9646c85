"""Record every request of a run as it is reported (Locust's ``request`` event), exactly.

The samples are kept in :class:`pytest_loadgate.stats.samples.EndpointSamples`; see there for
what the open model measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent

from pytest_loadgate.run.pacing import TimeBins
from pytest_loadgate.stats.histograms import DEFAULT_MAX_SAMPLES, OverflowStore
from pytest_loadgate.stats.samples import (
    CENSORED,
    EndpointSamples,
    WireSample,
    corrected_ms,
    is_censored,
    status_of,
)

#: Answered requests queued at most before they are counted in (a bound on the queue's
#: memory when nothing reads the figures for a while).
QUEUE_LIMIT = 4096

#: Context key of a censored request: the greenlet of the user that sent it.
CENSORED_GREENLET = "loadgate_greenlet"


class IterationClock:
    """Scheduled start of the iteration each user greenlet is running (open model only).

    The first request an iteration reports consumes its entry, so only that request is
    measured from the scheduled start.
    """

    def __init__(self) -> None:
        self.scheduled: dict[Any, float] = {}

    def begin(self, greenlet: Any, scheduled_s: float) -> None:
        self.scheduled[greenlet] = scheduled_s

    def end(self, greenlet: Any) -> None:
        self.scheduled.pop(greenlet, None)

    def take(self, greenlet: Any) -> float | None:
        return self.scheduled.pop(greenlet, None)


def request_origin(exception: BaseException | None, context: Any) -> tuple[bool, Any]:
    """Whether a reported request was censored, and the user greenlet that sent it (a censored
    one is reported from the runner's greenlet, its sender travels in the context)."""
    censored = is_censored(exception)
    return censored, ((context or {}).get(CENSORED_GREENLET) if censored
                      else gevent.getcurrent())


def service_and_latency(iterations: IterationClock, greenlet: Any, response_time: float | None,
                        start_s: float | None, end_s: float) -> tuple[float, float]:
    """Locust's response time, and the latency judged (from the iteration's scheduled start
    for its first request, see :func:`corrected_ms`); all times on one clock."""
    service = float(response_time or 0.0)
    scheduled = iterations.take(greenlet) if greenlet is not None else None
    return service, corrected_ms(service, end_s, start_s, scheduled)


class SampleRecorder:
    """Keeps every sample, keyed by endpoint and source (this process or a worker).

    Samples of one source arrive in time order, so each (endpoint, source) series stays sorted
    and a time window is a slice of it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.perf_counter,
                 max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self._clock = clock
        #: Raw samples kept at most; later requests go to per-second histograms.
        self.max_samples = max_samples
        self._kept = 0
        self._overflow = OverflowStore()
        self.started_at = clock()
        self.wall_origin = time.time()
        self._endpoints: dict[str, EndpointSamples] = {}
        self.remote: dict[tuple[str, str], EndpointSamples] = {}
        self.iterations = IterationClock()
        #: Time users spent waiting on the responses reported here, for pace.
        self._waits = TimeBins()
        #: Running totals of the whole run, so progress never re-reads every sample.
        self._requests = 0
        self._failures = 0
        #: When the last response arrived (run clock; censored requests do not count).
        self._last_response_s: float | None = None
        #: After the run ended, only the requests that were in flight then are kept (counted
        #: at the end); later ones are not part of the run.
        self.closed_at: float | None = None
        self.late: set[Any] = set()
        #: Answered requests as reported (clock, type, name, latency, status), counted
        #: in by :meth:`_drain` before anything reads the figures. Spread over a full-speed
        #: run, between the users' own code, the same work per request costs several times
        #: what it costs in one loop (measured: bench/hook_cost.py).
        self._queue: list[tuple[float, str, str, float, int]] = []

    # Every figure is read through a property that counts the queue in first.
    @property
    def endpoints(self) -> dict[str, EndpointSamples]:
        self._drain()
        return self._endpoints

    @property
    def overflow(self) -> OverflowStore:
        self._drain()
        return self._overflow

    @property
    def waits(self) -> TimeBins:
        self._drain()
        return self._waits

    @property
    def kept(self) -> int:
        self._drain()
        return self._kept

    @property
    def requests(self) -> int:
        self._drain()
        return self._requests

    @property
    def failures(self) -> int:
        self._drain()
        return self._failures

    @property
    def last_response_s(self) -> float | None:
        self._drain()
        return self._last_response_s

    def restart(self) -> None:
        """Make time zero now (before the first request)."""
        self._drain()
        self.started_at = self._clock()
        self.wall_origin = time.time()
        self._last_response_s = None
        self.closed_at = None
        self._requests = self._failures = 0
        self._kept = 0
        self._overflow = OverflowStore()

    def close(self, at_s: float, late: set[Any] | None = None) -> None:
        """End the run at ``at_s``: afterwards keep only the first sample of each greenlet in
        ``late`` (those with a request in flight at the end) and censored ones, dated at the
        end."""
        self._drain()
        self.closed_at = at_s
        self.late = set(late or ())

    def ingest(self, source: str, batch: dict[str, list[WireSample]], origin: float) -> None:
        """Add samples shipped by a worker; ``origin`` is this run's start on that worker's
        clock."""
        self._drain()
        for name, rows in batch.items():
            key = (name, source)
            part = self.remote.get(key)
            if part is None:
                part = self.remote[key] = EndpointSamples()
            for worker_ts, latency, status, failed, service, flag in rows:
                offset = worker_ts - origin
                closed = self.closed_at
                # A worker stops a little after the run ended: what it sent before the end is
                # the run's (dated at the end, as in-process), what it sent later is not.
                if closed is not None and offset > closed:
                    if not flag and offset - service / 1000.0 > closed:
                        continue
                    offset = closed
                censored = flag == CENSORED
                self._keep(part, name, offset, latency, status, bool(failed), service,
                           censored)
                self._requests += 1
                self._failures += 1 if failed else 0
                if not censored and (self._last_response_s is None
                                     or offset > self._last_response_s):
                    self._last_response_s = offset

    def now(self) -> float:
        """Seconds since the recorder was created."""
        return self._clock() - self.started_at

    def on_request(self, request_type: str, name: str, response_time: float | None,
                   response: Any = None, exception: BaseException | None = None,
                   context: Any = None, start_time: float | None = None,
                   response_length: int | None = None, url: str | None = None,
                   **_: Any) -> None:
        """Locust ``request`` event listener (``response_length`` and ``url`` are named only
        so that Locust's usual keywords are not copied into the ``**`` dict every request)."""
        if exception is None and self.closed_at is None and not self.iterations.scheduled:
            # The hot path (closed model, answered): queued as it is, counted in by _drain.
            code = getattr(response, "status_code", None)
            if type(code) is int and 0 < code < 65536:  # exactly int: a bool is no status
                queue = self._queue
                queue.append((self._clock(), request_type, name, float(response_time or 0.0),
                              code))
                if len(queue) >= QUEUE_LIMIT:
                    self._drain()
                return
        self._drain()  # samples of one series stay in time order
        if exception is None:  # an answered request
            censored, greenlet = False, gevent.getcurrent()
        else:
            censored, greenlet = request_origin(exception, context)
        now = self._clock() - self.started_at
        if self.closed_at is not None:
            if not censored and greenlet not in self.late:
                return  # sent after the end
            self.late.discard(greenlet)
            now = self.closed_at  # in flight at the end: part of the run
        start_s = start_time - self.wall_origin if isinstance(start_time, float) else None
        if self.iterations.scheduled:
            service, latency = service_and_latency(self.iterations, greenlet, response_time,
                                                   start_s, now)
        else:  # closed model (or no iteration pending): latency is Locust's response time
            service = latency = float(response_time or 0.0)
        key = f"{request_type} {name}"
        samples = self._endpoints.get(key)
        if samples is None:
            samples = self._endpoints[key] = EndpointSamples()
        self._keep(samples, key, now, latency, status_of(response, exception),
                   exception is not None, service, censored)
        self._requests += 1
        self._failures += 1 if exception is not None else 0
        if not censored:
            self._last_response_s = now
        sent = start_s if start_s is not None and start_s <= now else now - service / 1000.0
        self._waits.add(sent, service / 1000.0)

    def _drain(self) -> None:
        """Count the queued answered requests in, as the general path of :meth:`on_request`
        would have counted each as it came; column by column, not request by request."""
        queue = self._queue
        if not queue:
            return
        self._queue = []
        started = self.started_at
        clocks, types, names, latencies, codes = zip(*queue, strict=True)
        offsets = [clock_s - started for clock_s in clocks]
        raw = min(max(self.max_samples - self._kept, 0), len(queue))
        if raw:
            self._keep_answered(list(zip(types[:raw], names[:raw], strict=True)), offsets,
                                latencies, codes)
        add_answered = self._overflow.add_answered
        for i in range(raw, len(queue)):
            add_answered(f"{types[i]} {names[i]}", offsets[i], latencies[i], codes[i])
        self._kept += raw
        self._requests += len(queue)
        self._last_response_s = offsets[-1]
        self._waits.add_ended(offsets, latencies)

    def _keep_answered(self, keys: list[tuple[str, str]], offsets: list[float],
                       latencies: tuple[float, ...], codes: tuple[int, ...]) -> None:
        """Keep the first ``len(keys)`` queued requests raw, each in its endpoint's series."""
        count = len(keys)
        groups: dict[tuple[str, str], list[int] | None]
        if keys.count(keys[0]) == count:  # one endpoint: the columns as they are
            groups = {keys[0]: None}
        else:
            groups = {}
            for i, endpoint in enumerate(keys):
                groups.setdefault(endpoint, []).append(i)  # type: ignore[union-attr]
        endpoints = self._endpoints
        for (request_type, name), index in groups.items():
            key = f"{request_type} {name}"
            samples = endpoints.get(key)
            if samples is None:
                samples = endpoints[key] = EndpointSamples()
            if index is None:
                samples.extend_answered(offsets[:count], latencies[:count], codes[:count])
            else:
                samples.extend_answered([offsets[i] for i in index],
                                        [latencies[i] for i in index],
                                        [codes[i] for i in index])

    def _keep(self, part: EndpointSamples, name: str, offset: float, latency: float,
              status: int, failed: bool, service: float, censored: bool) -> None:
        """Keep the sample raw while under the cap, else count it in its second's bucket."""
        if self._kept < self.max_samples:
            part.append(offset, latency, status, failed, service, censored)
            self._kept += 1
        else:
            self._overflow.add(name, offset, latency, status if 0 <= status < 65536 else 0,
                              failed, service, censored)

    def items(self) -> Iterator[tuple[str, list[EndpointSamples]]]:
        """Endpoint name → its sample series (one per source), sorted by name."""
        merged: dict[str, list[EndpointSamples]] = {n: [p] for n, p in self.endpoints.items()}
        for (name, _), part in self.remote.items():
            merged.setdefault(name, []).append(part)
        return iter(sorted(merged.items()))

    def count(self) -> int:
        return sum(len(p) for _, parts in self.items() for p in parts)
