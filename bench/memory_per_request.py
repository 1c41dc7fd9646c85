"""Bytes a request costs in the plugin's memory: generator, master, and the end-of-run peak.

    .venv/bin/python bench/memory_per_request.py [--requests 1000000]

Issue #12 asks to measure and document bytes per request in the generator and on the master
of a distributed run. This feeds ``--requests`` synthetic requests (10 endpoints, latencies
spread over 1-200 ms) through the same code a run uses, with ``tracemalloc`` counting the
Python allocations that stay alive:

- generator, closed model: ``SampleRecorder.on_request`` as Locust's ``request`` event calls
  it (service time = latency, so it is stored once);
- generator, open model: the same with a scheduled start per iteration (latency and service
  time differ, both stored);
- master: ``SampleRecorder.ingest`` of worker batches in the wire format (what a master keeps
  per request it receives), and the size of those batches as msgpack (Locust's wire encoding),
  i.e. bytes on the network per request;
- Locust's own ``RequestStats`` with the plugin's 0.1 ms buckets (the CLI's stats, kept as is);
- the end of the run: the peak while the verdict window is summarised (``summarize`` over all
  samples: the sorted copy of the latencies is the largest temporary).

Past the raw-sample cap (``--loadgate-max-samples``, default 5,000,000) a request costs no raw
sample: it is counted in per-second HdrHistograms, whose size grows with the run's seconds, not
its requests.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgpack
from locust.stats import RequestStats

from pytest_loadgate.run import recorder as samples_mod
from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.stats.metrics import summarize
from pytest_loadgate.stats.samples import exact_bucket

ENDPOINTS = [f"/api/endpoint/{i}" for i in range(10)]


class Response:
    status_code = 200


def measure(label: str, n: int, build: Callable[[], Any], feed: Callable[[Any, int], None]
            ) -> Any:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    target = build()
    feed(target, n)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # (No time per request here: tracemalloc slows every allocation several-fold.)
    print(f"{label:44s} {(after - before) / n:7.1f} B/request  "
          f"{(after - before) / 1e6:8.1f} MB for {n:,}")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.requests
    rng = random.Random(1)
    latencies = [rng.uniform(1.0, 200.0) for _ in range(4096)]
    response = Response()
    now = time.time()

    def feed_closed(rec: SampleRecorder, count: int) -> None:
        for i in range(count):
            rec.on_request("GET", ENDPOINTS[i % 10], latencies[i & 4095], response, None,
                           None, now)
        rec.kept  # noqa: B018 (reading a figure counts the recorder's queue in)

    def feed_open(rec: SampleRecorder, count: int) -> None:
        greenlet = samples_mod.gevent.getcurrent()
        for i in range(count):
            rec.iterations.begin(greenlet, rec.now() - 0.002)
            rec.on_request("GET", ENDPOINTS[i % 10], latencies[i & 4095], response, None,
                           None, time.time())
        rec.kept  # noqa: B018 (reading a figure counts the recorder's queue in)

    print(f"{n:,} synthetic requests, 10 endpoints; retained Python allocations per request")
    closed = measure("generator, closed model (raw samples)", n,
                     lambda: SampleRecorder(max_samples=n), feed_closed)
    measure("generator, open model (raw samples)", n, lambda: SampleRecorder(max_samples=n),
            feed_open)

    batch_rows = 1000  # a worker ships its samples every few hundred ms
    batch = {name: [(now + i * 1e-4, latencies[i & 4095], 200, 0, latencies[i & 4095], 0)
                    for i in range(batch_rows // 10)] for name in ENDPOINTS}
    wire = len(msgpack.packb(batch))
    print(f"{'wire: msgpack of a worker batch':44s} {wire / batch_rows:7.1f} B/request")

    def feed_master(rec: SampleRecorder, count: int) -> None:
        for i in range(count // batch_rows):
            rec.ingest(f"worker-{i % 2}", batch, now)

    measure("master, samples received from 2 workers", n,
            lambda: SampleRecorder(max_samples=n), feed_master)

    def feed_stats(stats: RequestStats, count: int) -> None:
        for i in range(count):
            stats.log_request("GET", ENDPOINTS[i % 10], latencies[i & 4095], 2)

    import locust.stats
    original = locust.stats.bucket_response_time
    locust.stats.bucket_response_time = exact_bucket  # as during a run
    try:
        # Bounded: one key per distinct 0.1 ms value and endpoint, not per request.
        measure("Locust RequestStats, 0.1 ms buckets (bounded)", n, RequestStats, feed_stats)
    finally:
        locust.stats.bucket_response_time = original

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    parts = [part for _, series in closed.items() for part in series]
    summarize("Aggregated", parts, 0.0, 1e9, 100.0)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"{'end of run: peak while summarising all':44s} {peak / n:7.1f} B/request  "
          f"{peak / 1e6:8.1f} MB for {n:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
