"""Waiting for the server to work off a probe's backlog: by its CPU, or by the round trip of
its URL, bounded in time; and against a real busy process and a real slow HTTP server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pytest_loadgate.capacity.settle import (
    MIN_QUIET_CORES,
    QuietServer,
    Settled,
    quiet_server_for,
    round_trip_s,
    settle_notes,
    tree_cpu_seconds,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def cpu_meter(fake: FakeTime, busy_until: float, busy_cores: float = 1.0,
              idle_cores: float = 0.02):
    """CPU seconds of a server busy at ``busy_cores`` until ``busy_until``, idle after."""
    def seconds() -> float:
        t = fake.now
        busy = min(t, busy_until)
        return busy * busy_cores + max(0.0, t - busy_until) * idle_cores
    return seconds


def test_waits_for_the_cpu_to_fall_back_to_idle() -> None:
    fake = FakeTime()
    quiet = QuietServer(cpu_seconds=cpu_meter(fake, busy_until=0.0), rtt=lambda: None,
                        clock=fake.clock, sleep=fake.sleep)
    quiet.baseline()
    assert quiet.idle_cores == pytest.approx(0.02)
    assert quiet.quiet_cores == MIN_QUIET_CORES
    busy_until = fake.now + 3.0  # the previous probe's backlog: 3 s of one core
    quiet._cpu_seconds = cpu_meter(fake, busy_until)
    settled = quiet.wait()
    assert settled.quiet and settled.how == "cpu"
    assert busy_until - 0.25 <= fake.now <= busy_until + 0.75


def test_a_server_that_stays_busy_is_given_up_on_at_the_timeout() -> None:
    fake = FakeTime()
    quiet = QuietServer(cpu_seconds=cpu_meter(fake, busy_until=1e9), rtt=lambda: None,
                        timeout_s=5.0, clock=fake.clock, sleep=fake.sleep)
    settled = quiet.wait()
    assert not settled.quiet and 5.0 <= settled.waited_s <= 5.5


def test_an_external_target_is_watched_by_its_round_trip() -> None:
    fake = FakeTime()
    answers = iter([0.004, 0.5, 0.4, 0.2, 0.011, 0.009])
    quiet = QuietServer(cpu_seconds=None, rtt=lambda: next(answers), clock=fake.clock,
                        sleep=fake.sleep)
    quiet.baseline()
    assert quiet.quiet_rtt_s == pytest.approx(0.02)  # three times 4 ms is below the floor
    settled = quiet.wait()
    assert (settled.quiet, settled.how) == (True, "latency")
    assert fake.now == pytest.approx(0.75)  # one interval after each slow answer


def test_a_server_that_is_gone_ends_the_wait_at_once() -> None:
    quiet = QuietServer(cpu_seconds=None, rtt=lambda: None)
    assert quiet.wait() == Settled(pytest.approx(0.0, abs=0.05), False, "unreachable")
    assert settle_notes([(800, 600, Settled(0.0, False, "unreachable"))]) == []


def test_notes_name_a_probe_that_started_on_a_busy_server() -> None:
    notes = settle_notes([(800.0, 600.0, Settled(30.2, False, "cpu")),
                          (600.0, 500.0, Settled(1.0, True, "cpu"))])
    assert notes == ["capacity probe at 600/s started on a server still busy 30 s after the"
                     " probe at 800/s (it did not go quiet by cpu): its result may include"
                     " that probe's backlog"]


def test_a_real_busy_process_is_seen_busy_then_quiet() -> None:
    burn = subprocess.Popen([sys.executable, "-c",
                             "import time\nend = time.time() + 1.0\n"
                             "while time.time() < end: pass\ntime.sleep(60)"])
    try:
        quiet = quiet_server_for(burn.pid, "http://127.0.0.1:9/", timeout_s=10)
        quiet.idle_cores = 0.0
        began = time.monotonic()
        settled = quiet.wait()
        assert settled.quiet and settled.how == "cpu"
        assert time.monotonic() - began >= 0.4  # it burned a core for a second
        cpu = tree_cpu_seconds(burn.pid)
        assert cpu is not None and cpu >= 0.4
    finally:
        burn.kill()
        burn.wait()
    assert tree_cpu_seconds(burn.pid) is None


#: An HTTP server in its own process (no gevent, no threads of the test's): /slow answers
#: after 0.2 s, anything else at once; every answer is a 404 (any status counts).
SLOW_SERVER = """
import http.server, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(0.2)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def slow_server() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SERVER], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_round_trips_of_a_real_server(slow_server: str) -> None:
    fast = round_trip_s(slow_server + "/", timeout_s=5)
    slow = round_trip_s(slow_server + "/slow", timeout_s=5)
    assert fast is not None and slow is not None and slow >= 0.2 > fast
    assert round_trip_s("http://127.0.0.1:9/", timeout_s=1) is None  # nothing listens
