"""The run's monitor (``pytest_loadgate.run.monitor``): the machine's CPU pressure and steal over
the verdict window, and watched URLs that report their own cost (a costly one is named in the
run's notes)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_loadgate.run.monitor import (
    WatchedUrl,
    cpu_steal_ticks,
    stall_share,
    steal_share,
    watcher_cost_notes,
)

SERVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(float(sys.argv[1]))
        body = b'{"orders": 1}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def serve(delay_s: float) -> Iterator[str]:
    """A plain HTTP server in its own process (this one runs gevent) answering after
    ``delay_s``; yields the URL of its /summary once it listens."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(delay_s)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())  # printed once bound: ready
        yield f"http://127.0.0.1:{port}/summary"
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def slow_url() -> Iterator[str]:
    with serve(0.05) as url:
        yield url


def test_poll_time_is_counted_as_the_watchers_cost(slow_url: str) -> None:
    watched = WatchedUrl(slow_url)
    for i in range(3):
        watched.poll(float(i))
    data = watched.as_dict()
    assert data["polls"] == 3 and data["last_status"] == 200
    assert data["last_body"] == {"orders": 1}
    # Each answer took at least the server's 50 ms: the cost cannot be under that.
    assert watched.busy_s >= 3 * 0.05
    assert data["poll_mean_ms"] >= 50 and data["poll_max_ms"] >= data["poll_mean_ms"]


def test_a_costly_watcher_is_named_and_a_cheap_one_is_not(slow_url: str) -> None:
    once = WatchedUrl(slow_url)
    once.poll(0.0)
    # One 50 ms answer is 10% of a half-second race, but no load on anything.
    assert watcher_cost_notes([once], run_s=once.busy_s * 10) == []
    watched = WatchedUrl(slow_url)
    for i in range(11):  # at least half a second of answers in all
        watched.poll(float(i))
    # The same polls are a large share of a short run and a negligible one of a long run.
    short = watcher_cost_notes([watched], run_s=watched.busy_s * 10)
    long = watcher_cost_notes([watched], run_s=watched.busy_s * 1000)
    assert len(short) == 1 and slow_url in short[0] and "10.0% of the run" in short[0]
    assert long == []


def test_an_unreachable_watcher_fails_its_poll_and_still_counts_its_cost() -> None:
    with serve(0.0) as url:
        pass  # the server is gone: nothing listens on its port any more
    watched = WatchedUrl(url)
    watched.poll(0.0)
    assert watched.failures == 1 and watched.last_status is None and watched.last_error
    assert watched.busy_s > 0 and watched.as_dict()["poll_max_ms"] > 0


def test_cpu_pressure_share_of_the_window() -> None:
    samples = [(float(t), t * 400_000) for t in range(0, 11)]  # 0.4 s stalled per second
    assert stall_share(samples, 2.0, 8.0) == pytest.approx(0.4)
    assert stall_share(samples[:1], 0.0, 10.0) is None


def test_steal_share_of_the_window_and_proc_stat_parsing(tmp_path: Path) -> None:
    # 200 ticks per second on 2 CPUs, 20 of them stolen: 10% steal.
    samples = [(float(t), t * 20, t * 200) for t in range(0, 11)]
    assert steal_share(samples, 2.0, 8.0) == pytest.approx(0.1)
    assert steal_share(samples[:1], 0.0, 10.0) is None
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 800 10 0 5 30 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
    assert cpu_steal_ticks(str(stat)) == (30, 1000)
    stat.write_text("intr 1 2 3\n")
    assert cpu_steal_ticks(str(stat)) is None
    assert cpu_steal_ticks(str(tmp_path / "missing")) is None
