"""Speed of pytest-loadgate: in-process throughput vs Locust's CLI, and harness overhead per test.

    .venv/bin/python bench/inprocess_vs_cli.py [--seconds 15] [--repeats 2] [--users 20]
                                               [--tests 5] [--test-seconds 2]

Part 1: throughput ratio (goal >= 0.95)
    One uvicorn process serves ``bench/trivial_app.py`` on 127.0.0.1 (free port) for the whole
    part. The same ``FastHttpUser`` class (``bench/locustfile_trivial.py``, no wait time) is run
    for ``--seconds`` with ``--users`` users

    (a) in-process, through the plugin: a generated test marked
        ``@pytest.mark.perf(users=N, spawn_rate=N, run_time=S)`` calls ``loadgate.run(...)``,
        and ``python -m pytest --loadgate-host URL`` runs it in a subprocess;
    (b) by ``python -m locust --headless -f locustfile -u N -r N -t Ss --host URL --csv ...``.

    Compared figure: the "Requests/s" of the Aggregated row of Locust's stats CSV, for both
    sides. The plugin writes that CSV with Locust's own ``StatsCSV`` from the same Locust stats
    object, so both numbers are the same formula: all requests of the run divided by the time
    from the runner's start (stats are cleared there) to the last request, ramp-up included.
    With ``spawn_rate = users`` the ramp-up is identical (about 1 s) on both sides, so the
    comparison is like for like. The plugin's own ``total.rps`` (verdict window after ramp-up,
    from its JSON report) is printed for information only: it excludes the ramp and so is not
    comparable with the CLI's figure.
    Pairs alternate which side runs first, so drift of the noisy shared machine does not
    favour one side; each pair's ratio and the median of the ratios are printed.

Part 2: harness overhead per test (goal < 1 s after the session's server boot)
    A pytest session (subprocess, ``--junitxml``) of ``--tests`` perf tests, each
    ``run_time=--test-seconds``, against the app booted once by the plugin's ``loadgate_server``
    fixture (ini ``loadgate_app``). Per test: junit ``time`` (setup + call + teardown) minus
    ``run_time``. The first test's setup boots the server, so it is reported on its own; the
    figure judged is the median of the other tests. Each test also records (junit properties)
    the wall time of ``loadgate.run()`` and the load loop's own duration (``duration_s`` of the
    result), which splits the overhead into: the run loop overshooting ``run_time``, the rest
    of ``loadgate.run()`` (runner setup, stopping users, report writing), and pytest/fixtures.

The machine is small (2 cores) and shared: the load generator (one process, one core at most)
shares the cores with the uvicorn server, so absolute RPS are low and noisy; the ratio is the
figure that matters. Every server and subprocess started here is bounded by a timeout and
terminated (with its children) in ``finally`` blocks; load only goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from pytest_loadgate.server import ServerProcess, free_port, uvicorn_command

BENCH = Path(__file__).resolve().parent
LOCUSTFILE = BENCH / "locustfile_trivial.py"
APP = "trivial_app:app"
USER_CLASS = "TrivialUser"
RATIO_GOAL = 0.95
OVERHEAD_GOAL_SEC = 1.0
#: Time allowed on top of the load itself for interpreter start, imports and reports.
SLACK_SEC = 120.0


# -- processes ---------------------------------------------------------------------------------


def kill_tree(pid: int, timeout_s: float = 10.0) -> None:
    """Terminate a process and all its descendants (the plugin starts its server in a new
    session, so killing the process group alone would orphan it)."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [*root.children(recursive=True), root]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout_s)


def run_bounded(
    cmd: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> tuple[int, float]:
    """Run ``cmd`` with output to ``log_path``; kill it (and children) after ``timeout_s``.

    Returns (exit code, wall seconds).
    """
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        try:
            code = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise SystemExit(
                f"timed out after {timeout_s:g}s: {' '.join(cmd)}\n{tail(log_path)}"
            ) from None
        finally:
            if proc.returncode is None:  # still running: timeout or interrupted
                kill_tree(proc.pid)
    return code, time.perf_counter() - started


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def bench_env() -> dict[str, str]:
    """Environment that makes the bench modules importable (tests, locust, uvicorn)."""
    paths = [str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1"}


def start_app(workdir: Path) -> ServerProcess:
    """Boot the trivial app with uvicorn on a free 127.0.0.1 port and wait until it answers."""
    port = free_port()
    server = ServerProcess(
        uvicorn_command(APP, port),
        url=f"http://127.0.0.1:{port}",
        health_path="/health",
        log_path=workdir / "server.log",
        env=bench_env(),
        cwd=BENCH,
    )
    server.start()
    try:
        server.wait_ready(30.0)
    except BaseException:
        server.stop()
        raise
    return server


# -- CSV / reports -----------------------------------------------------------------------------


def aggregated_row(stats_csv: Path) -> dict[str, str]:
    """The Aggregated row of a Locust requests CSV (stops at the blank line before failures)."""
    with open(stats_csv, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        for row in rows:
            if not row:
                break
            record = dict(zip(header, row, strict=False))
            if record.get("Name") == "Aggregated":
                return record
    raise SystemExit(f"no Aggregated row in {stats_csv}")


@dataclass
class Side:
    """One measured run of one side of the comparison."""

    label: str
    rps: float  # Locust's Aggregated Requests/s (whole run incl. ramp-up)
    requests: int
    failures: int
    window_rps: float | None = None  # the plugin's total.rps over its verdict window


# -- part 1 --------------------------------------------------------------------------------------

INPROC_TEST = """
import pytest
from locustfile_trivial import {user}


@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds}s")
def test_inprocess(loadgate):
    loadgate.run({user})
"""

INPROC_INI = """
[pytest]
loadgate_progress = off
loadgate_report_dir = reports
"""


def run_inprocess(url: str, users: int, seconds: float, workdir: Path) -> Side:
    """Side (a): the plugin runs the user class in the pytest process."""
    workdir.mkdir(parents=True)
    (workdir / "pytest.ini").write_text(INPROC_INI)
    (workdir / "test_inprocess.py").write_text(
        INPROC_TEST.format(user=USER_CLASS, users=users, seconds=seconds)
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--loadgate-host",
        url,
        "test_inprocess.py",
    ]
    log = workdir / "pytest.log"
    code, _ = run_bounded(
        cmd, cwd=workdir, log_path=log, timeout_s=seconds + SLACK_SEC, env=bench_env()
    )
    if code != 0:
        raise SystemExit(f"in-process run failed (exit {code}):\n{tail(log)}")
    reports = workdir / "reports"
    (csv_path,) = reports.glob("*.csv")
    (json_path,) = reports.glob("*.json")
    row = aggregated_row(csv_path)
    doc = json.loads(json_path.read_text())
    return Side(
        "in-process",
        float(row["Requests/s"]),
        int(row["Request Count"]),
        int(row["Failure Count"]),
        window_rps=float(doc["total"]["rps"]),
    )


def run_cli(url: str, users: int, seconds: float, workdir: Path) -> Side:
    """Side (b): Locust's own command line, headless, one process."""
    workdir.mkdir(parents=True)
    prefix = workdir / "cli"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "--headless",
        "-f",
        str(LOCUSTFILE),
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds:g}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    log = workdir / "locust.log"
    code, _ = run_bounded(
        cmd, cwd=workdir, log_path=log, timeout_s=seconds + SLACK_SEC, env=bench_env()
    )
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise SystemExit(f"locust CLI wrote no stats (exit {code}):\n{tail(log)}")
    row = aggregated_row(stats)
    return Side(
        "cli", float(row["Requests/s"]), int(row["Request Count"]), int(row["Failure Count"])
    )


@dataclass
class Pair:
    order: str
    inproc: Side
    cli: Side

    @property
    def ratio(self) -> float:
        return self.inproc.rps / self.cli.rps if self.cli.rps else float("nan")


def part_throughput(args: argparse.Namespace, root: Path) -> list[Pair]:
    """Alternate in-process and CLI runs against one server; return the pairs."""
    server = start_app(root / "part1")
    pairs: list[Pair] = []
    try:
        for i in range(args.repeats):
            inproc_first = i % 2 == 0
            results: dict[str, Side] = {}
            for side in ("inproc", "cli") if inproc_first else ("cli", "inproc"):
                where = root / "part1" / f"pair{i}-{side}"
                fn = run_inprocess if side == "inproc" else run_cli
                results[side] = fn(server.url, args.users, args.seconds, where)
                notice = server.death_notice()
                if notice:
                    raise SystemExit(notice)
                print(f"  pair {i + 1}: {side:<6} {results[side].rps:8.1f} req/s", flush=True)
            pairs.append(
                Pair(
                    "in-process first" if inproc_first else "CLI first",
                    results["inproc"],
                    results["cli"],
                )
            )
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
            user=USER_CLASS, tests=args.tests, users=args.users, seconds=args.test_seconds
        )
    )
    junit = workdir / "junit.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={junit}",
        "test_overhead.py",
    ]
    log = workdir / "pytest.log"
    code, session_wall = run_bounded(
        cmd,
        cwd=workdir,
        log_path=log,
        env=bench_env(),
        timeout_s=args.tests * (args.test_seconds + 15) + SLACK_SEC,
    )
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


def verdict(met: bool, text: str) -> str:
    return f"{'MET    ' if met else 'NOT MET'} {text}"


def report(
    args: argparse.Namespace,
    pairs: list[Pair],
    times: list[TestTime],
    session_wall: float,
    load_before: tuple[float, float, float],
) -> None:
    cpus = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load_after = os.getloadavg()
    print()
    print(
        f"machine: {cpus} CPUs ({usable} usable). The load generator (one process, at most"
        f" one core) shares these {usable} cores with the uvicorn server (one process)."
    )
    print(
        f"load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)},"
        f" after {'/'.join(f'{x:.2f}' for x in load_after)}"
    )
    if max(load_before[0], load_after[0]) > usable:
        print(
            "  note: other processes were competing for the cores; absolute figures are"
            " noisy, compare within pairs"
        )
    print()
    print(
        f"1. Throughput: {args.users} FastHttpUsers, no wait, {args.seconds:g}s, spawn_rate ="
        " users; figure = Locust CSV Aggregated Requests/s (whole run, same formula both sides)"
    )
    print(
        f"   {'pair':<5}{'order':<18}{'in-process':>11}{'CLI':>10}{'ratio':>8}"
        f"{'plugin window rps':>19}{'fails':>8}"
    )
    for i, p in enumerate(pairs, 1):
        print(
            f"   {i:<5}{p.order:<18}{p.inproc.rps:>11.1f}{p.cli.rps:>10.1f}{p.ratio:>8.3f}"
            f"{p.inproc.window_rps or 0:>19.1f}{p.inproc.failures + p.cli.failures:>8}"
        )
    median_ratio = statistics.median(p.ratio for p in pairs)
    print(f"   median ratio in-process/CLI: {median_ratio:.3f}")
    print()
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
    median_rest = statistics.median(rest) if rest else float("nan")
    print(
        f"   first test (includes server boot): {first:.2f}s overhead;"
        f" median of the other {len(rest)}: {median_rest:.2f}s"
    )
    print("   (the last test's teardown also stops the session's server)")
    print()
    print("goals:")
    print(
        "  "
        + verdict(
            median_ratio >= RATIO_GOAL,
            f"in-process RPS >= {RATIO_GOAL:g} x CLI: median ratio {median_ratio:.3f}",
        )
    )
    print(
        "  "
        + verdict(
            median_rest < OVERHEAD_GOAL_SEC,
            f"harness overhead < {OVERHEAD_GOAL_SEC:g}s per test after boot:"
            f" median {median_rest:.2f}s (first test with boot {first:.2f}s)",
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="run time of part 1 runs")
    parser.add_argument("--repeats", type=int, default=2, help="pairs in part 1")
    parser.add_argument("--users", type=int, default=20, help="users (spawn_rate = users)")
    parser.add_argument("--tests", type=int, default=5, help="perf tests in part 2")
    parser.add_argument(
        "--test-seconds", type=float, default=2.0, help="run_time of each part 2 test"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.tests < 2 or args.seconds <= 1 or args.test_seconds <= 1:
        parser.error("need --repeats >= 1, --tests >= 2, --seconds > 1, --test-seconds > 1")

    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="loadgate-bench-"))
    try:
        print(f"work dir: {root}")
        print(f"part 1: {args.repeats} pair(s) of {args.seconds:g}s runs", flush=True)
        pairs = part_throughput(args, root)
        print(f"part 2: {args.tests} tests of {args.test_seconds:g}s", flush=True)
        times, session_wall = part_overhead(args, root)
        report(args, pairs, times, session_wall, load_before)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
