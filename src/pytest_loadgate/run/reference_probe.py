"""The machine-speed reference, probed at a steady rate from a greenlet during a run."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL

from pytest_loadgate.stats.metrics import percentile
from pytest_loadgate.target.reference import MIN_PROBES

PROBE_RATE_PER_SEC = 20.0
PROBE_TIMEOUT_SEC = 5.0


@dataclass
class ReferenceProbe:
    """Asks the reference at a steady rate from a greenlet; keeps (at_s, latency_ms)."""

    url: str
    clock: Callable[[], float]
    rate_per_sec: float = PROBE_RATE_PER_SEC
    samples: list[tuple[float, float]] = field(default_factory=list)
    failures: int = 0

    def run(self) -> None:
        """Probe until killed (a greenlet body)."""
        interval = 1.0 / self.rate_per_sec
        client = HTTPClient.from_url(URL(self.url), concurrency=1,
                                     network_timeout=PROBE_TIMEOUT_SEC,
                                     connection_timeout=PROBE_TIMEOUT_SEC)
        try:
            while True:
                started = self.clock()
                try:
                    response = client.get("/")
                    response.read()
                    ok = response.status_code == 200
                except Exception:  # a refused or timed-out probe is counted, not raised
                    ok = False
                ended = self.clock()
                if ok:
                    self.samples.append((ended, (ended - started) * 1000))
                else:
                    self.failures += 1
                gevent.sleep(max(0.0, interval - (ended - started)))
        finally:
            client.close()

    def summary(self, start_s: float, end_s: float) -> dict[str, float] | None:
        """Median and p95 latency of the probes in the window; None with too few."""
        values = sorted(ms for at, ms in self.samples if start_s <= at <= end_s)
        if len(values) < MIN_PROBES:
            return None
        return {"p50_ms": round(statistics.median(values), 4),
                "p95_ms": round(percentile(values, 0.95), 4),
                "probes": float(len(values)), "failures": float(self.failures)}
