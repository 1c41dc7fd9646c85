"""A machine-speed reference: a trivial server loaded alongside the app during a run.

The same machine serves the app and a do-nothing ASGI app (one uvicorn process, same HTTP
stack) while a probe in the load generator asks the reference at a steady rate. The
reference's latency is what a request costs on this machine at this moment without any app
code: client, network stack, uvicorn. Subtracting it from an endpoint's latency and dividing
by it gives the app's own time in machine units, which stays put when the whole machine gets
faster or slower between a baseline and a later run, and moves when the app itself does.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_loadgate.metrics import percentile
from pytest_loadgate.server import (
    ServerProcess,
    start_local_server,
    uvicorn_command,
    worker_log_path,
)

#: Probe requests per second: enough for a stable median over a 10 s window, light enough
#: (a few % of one core) not to load the machine it measures.
PROBE_RATE_PER_SEC = 20.0
PROBE_TIMEOUT_SEC = 5.0
#: A median of fewer probes is not used (and ``p50_ref`` is then not compared).
MIN_PROBES = 50
STARTUP_TIMEOUT_SEC = 30.0
BODY = b'{"ok":true}'


async def app(scope: dict[str, Any], receive: Callable[..., Any],
              send: Callable[..., Any]) -> None:
    """The reference ASGI app: every HTTP request gets the same tiny JSON answer."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


class ReferenceServer:
    """The reference app in its own uvicorn process, started on first use."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._process: ServerProcess | None = None

    def url(self) -> str:
        """The reference's URL, booting it (and waiting until it answers) the first time."""
        if self._process is None or self._process.exit_code() is not None:
            self._process = start_local_server(
                lambda port: uvicorn_command("pytest_loadgate.reference:app", port),
                health_path="/", log_path=worker_log_path(self.log_dir, "reference"),
                timeout_s=STARTUP_TIMEOUT_SEC)
        return self._process.url

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None


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
        import gevent  # only in a run: the plugin is imported before gevent patches the world
        from geventhttpclient import HTTPClient
        from geventhttpclient.url import URL

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
