"""The load generator's ceiling: the plugin in-process vs 1 and 2 local Locust workers and 2
workers in network namespaces; and the per-test overhead of the session-long worker pool.

    .venv/bin/python bench/worker_ceiling.py [--seconds 15] [--users 40]
        [--setups 0,1,2,netns2] [--overhead-tests 5] [--before-rev 8cddaf8] [--parts rps,overhead]

Smoke run (a shared box): ``--seconds 5 --overhead-tests 3``. Needs root for the namespaces
(``bench/netns.py``); without them the netns setup is skipped with the reason.

Sources. ``src/pytest_loadgate`` of the working tree is copied at the start and put first on
every child's PYTHONPATH ("this code"; ``support.freeze_sources``), so edits during the bench
cannot mix versions. ``--before-rev`` (default 8cddaf8, the last revision where every test
started fresh local workers) is extracted with ``git archive REV src/pytest_loadgate`` and used
the same way for the "before" overhead session. Each session's pytest and each of its workers
writes which ``pytest_loadgate`` it imported (the test module, and the user module the workers
unpickle the user class from); a process that ran other code stops the bench.

Part 1, rps. One uvicorn process serves ``bench/trivial_app.py`` (pure ASGI, ``200 ok``) for the
whole part: on 127.0.0.1, or on the root side of the first namespace link when a netns setup
runs (then every setup targets that address; from here it is delivered locally, like
loopback). For each setup a generated test marked ``@pytest.mark.perf(users=N, spawn_rate=N,
run_time=S)`` calls ``loadgate.run(TrivialUser)`` (``bench/locustfile_trivial.py``, no wait)
and ``python -m pytest --loadgate-host URL`` runs it in a subprocess:

    0        no --loadgate-workers: the Locust runner inside pytest
    1, 2     --loadgate-workers N: a Locust master in pytest, its pool's worker processes
    netns2   --loadgate-remote-workers 2 --loadgate-master-bind 10.231.252.1:PORT and a token
             generated for the run (LOADGATE_TOKEN in pytest's and the workers' environment);
             ``ip netns exec NS .venv/bin/loadgate worker --master-host 10.231.252.1 ...`` in
             each of 2 namespaces, each its own host behind a veth pair

Compared figure: the plugin's ``total.rps`` from its JSON report (the steady verdict window
after spawning and warm-up; Locust's whole-run "Requests/s" is printed too). While each run is
in its load phase (from when the server first gets busy, plus a warm-up, until shortly before
the run time is over) CPU is sampled for: the server's process tree; the pytest process itself
(the in-process generator, or the master); the workers (pytest's descendants, plus the
namespaced workers, which are not its children); the machine's interrupts (the kernel's packet
work, on loopback and veth alike, is nobody's process time); and the rest of the machine. From
that: cores used by each, and CPU milliseconds per request on each side (generator = master +
workers). Then:

    scaling efficiency   rps(N workers) / (N x rps(1 local worker)), for 2 local and netns2
    best ratio           on C cores, with the generator costing g, the server s and interrupts
                         i CPU-seconds per request, in-process rps <= 1/g (one process, one
                         core) and distributed rps <= C/(g + s + i), so
                         N workers / in-process <= C*g/(g + s + i)

On 2 cores shared with the server (and other users) the ceiling is low; the "busy" column says
how many cores the whole machine used, so a saturated box is visible as such.

Part 2, per-test overhead. A pytest session (``--junitxml``) of ``--overhead-tests`` K tests,
each ``@pytest.mark.perf(users=4, spawn_rate=4, run_time="2s")`` calling
``loadgate.run(TrivialUser)``, against the same kind of server on 127.0.0.1; run in-process,
with 2 local workers (this code: one pool for the session), and with 2 local workers on
``--before-rev`` (workers started for every test). Per test: junit ``time`` (setup + call +
teardown) minus run_time, and the part of it inside ``loadgate.run()``. The first test starts
the pool, so it is shown apart from the median of the others; before/after = overhead on the
old revision / overhead now (> 1: now is faster).

Every process is bounded by a timeout and killed with its children in ``finally`` blocks;
SIGTERM is turned into an interrupt so that the namespaces are removed then too.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil
from netns import Hosts, NetnsUnavailable, worker_hosts
from support import (
    INPROC_INI,
    INPROC_TEST,
    REPO,
    SLACK_SEC,
    STOP_TIMEOUT_SEC,
    TRIVIAL_USER,
    Column,
    Server,
    aggregated_row,
    child_env,
    freeze_sources,
    git_revision,
    kill_tree,
    launch_server,
    print_table,
    run_bounded,
    tail,
)

RATIO_GOAL = 1.7
#: Console script users run on worker hosts.
LOADGATE = Path(sys.executable).with_name("loadgate")
#: The server counts as under load once it uses this many cores (polled every LOAD_POLL_SEC).
LOAD_SEEN_CORES = 0.1
LOAD_POLL_SEC = 0.25
#: Time to wait for the load to start (interpreter, pool, workers connecting).
LOAD_START_TIMEOUT_SEC = 90.0
#: After the load starts: spawning and warm-up left out of the CPU window; and its end margin.
WARMUP_SEC = 2.0
WINDOW_END_MARGIN_SEC = 1.0
MIN_WINDOW_SEC = 1.0
WORKER_TIMEOUT_SEC = 60
OVERHEAD_USERS = 4
OVERHEAD_RUN_TIME_SEC = 2.0
#: Allowed per overhead test on top of its run time (workers starting, reports).
OVERHEAD_TEST_SLACK_SEC = 30.0
WORKER_LOG_PROBLEM = re.compile(r"Traceback|ERROR|CRITICAL|Exception")
PROBLEM_LINES = 3
#: Name the busiest other processes when they took this many cores in a CPU window.
OTHERS_NOTED_CORES = 0.2
OTHERS_NAMED = 3
OTHER_NAMED_CORES = 0.05
OTHER_CMD_CHARS = 70
NETNS = re.compile(r"^netns([1-3])$")

COLUMNS = (
    Column("generator", 12, align="<"), Column("rps", 7, ".0f"), Column("whole", 7, ".0f"),
    Column("p50", 6, ".1f"), Column("p95", 6, ".1f"), Column("fails", 5, "d"),
    Column("cores: master", 13, ".2f", gap="  "), Column("workers", 7, ".2f"),
    Column("server", 6, ".2f"), Column("irq", 4, ".2f"), Column("other", 5, ".2f"),
    Column("busy", 5, ".2f"),
    Column("ms CPU/req: gen", 15, ".3f", gap="  "), Column("master", 6, ".3f"),
    Column("workers", 7, ".3f"), Column("server", 6, ".3f"),
)
OVERHEAD_COLUMNS = (
    Column("session", 28, align="<"), Column("first", 6, ".2f"),
    Column("others (median)", 15, ".2f"), Column("in run()", 8, ".2f"),
    Column("max", 6, ".2f"), Column("workers started", 15, align=">", gap="  "),
)


# -- setups --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """One generator setup: ``workers`` local workers (0: in-process), or in namespaces."""

    key: str  # as given to --setups: "0", "1", "2", "netns2"
    workers: int
    netns: bool = False

    @property
    def label(self) -> str:
        if self.netns:
            return f"{self.workers} in netns"
        if self.workers == 0:
            return "in-process"
        return f"{self.workers} worker" + ("s" if self.workers > 1 else "")


def parse_setups(text: str) -> list[Setup]:
    """``0,1,2,netns2`` -> setups (argparse ``type=``)."""
    setups = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        found = NETNS.match(part)
        if found:
            setups.append(Setup(part, int(found[1]), netns=True))
        elif part.isdigit():
            setups.append(Setup(part, int(part)))
        else:
            raise argparse.ArgumentTypeError(
                f"--setups: {part!r} is neither a local worker count nor netns1..netns3")
    return setups


@dataclass
class Run:
    """One generator setup's outcome."""

    setup: Setup
    window_rps: float
    whole_rps: float
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    #: Cores used in the window: "server", "master", "workers", "irq", "other", "busy".
    cores: dict[str, float] = field(default_factory=dict)
    window_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def generator_cores(self) -> float:
        return self.cores.get("master", 0.0) + self.cores.get("workers", 0.0)

    def cost_ms(self, side: str) -> float:
        """CPU milliseconds per request spent by ``side`` ("generator": master + workers)."""
        used = self.generator_cores if side == "generator" else self.cores.get(side, 0.0)
        return 1000 * used / self.window_rps if self.window_rps else 0.0


# -- CPU -----------------------------------------------------------------------------------------


def _cpu_of(proc: psutil.Process) -> float:
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        t = proc.cpu_times()
        return float(t.user + t.system)
    return 0.0


def _own_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` alone (0 once it is gone)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return _cpu_of(psutil.Process(pid))
    return 0.0


def _descendants_cpu(pid: int) -> float:
    """CPU seconds used so far by the living descendants of ``pid``."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return sum(_cpu_of(p) for p in psutil.Process(pid).children(recursive=True))
    return 0.0


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its descendants."""
    return _own_cpu(pid) + _descendants_cpu(pid)


def _tree_pids(pid: int) -> set[int]:
    """``pid`` and its living descendants."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return {pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))}
    return set()


def _all_cpu() -> dict[int, tuple[float, str]]:
    """Every process's CPU seconds so far and command line."""
    found = {}
    for proc in psutil.process_iter(["cpu_times", "name", "cmdline"]):
        times = proc.info["cpu_times"]
        if times is not None:
            cmd = " ".join(proc.info["cmdline"] or []) or str(proc.info["name"])
            found[proc.pid] = (float(times.user + times.system), cmd)
    return found


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes, all users, interrupts)."""
    t = psutil.cpu_times()
    return float(t.user + t.system + getattr(t, "nice", 0.0) + _machine_irq())


def _machine_irq() -> float:
    """CPU seconds the whole machine has spent in interrupts (network packets' softirq
    among them: on veth links that cost is nobody's process time)."""
    t = psutil.cpu_times()
    return float(getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


@dataclass
class Sampler:
    """Cores used by each probe while the run is under load (see the module docstring)."""

    probes: dict[str, Callable[[], float]]
    #: The process ids of our trees (server, pytest, workers), for naming the others.
    ours: Callable[[], set[int]]
    server_pid: int
    run_s: float
    proc: subprocess.Popen[bytes]
    cores: dict[str, float] = field(default_factory=dict)
    window_s: float = 0.0
    problem: str = ""
    #: The busiest other processes in the window (when others took a noticeable share).
    others: str = ""

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a sampling problem must not hide the run's outcome
            self.problem = f"CPU sampling failed: {exc!r}"

    def _run(self) -> None:
        deadline = time.monotonic() + LOAD_START_TIMEOUT_SEC
        last = _tree_cpu(self.server_pid)
        while True:
            time.sleep(LOAD_POLL_SEC)
            now = _tree_cpu(self.server_pid)
            if (now - last) / LOAD_POLL_SEC >= LOAD_SEEN_CORES:
                break
            last = now
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.problem = "no CPU window: the server never got busy"
                return
        load_started = time.monotonic()
        time.sleep(WARMUP_SEC)
        probes = {**self.probes, "irq": _machine_irq, "busy": _machine_busy}
        first = {name: probe() for name, probe in probes.items()}
        everyone = _all_cpu()
        t0 = time.monotonic()
        end = load_started + self.run_s - WINDOW_END_MARGIN_SEC
        time.sleep(max(end - t0, MIN_WINDOW_SEC))
        if self.proc.poll() is not None:
            self.problem = "the CPU window outlasted the run (figures include idle time)"
        self.window_s = wall = time.monotonic() - t0
        self.cores = {name: (probe() - first[name]) / wall for name, probe in probes.items()}
        self.cores["other"] = max(self.cores["busy"] - sum(
            v for k, v in self.cores.items() if k != "busy"), 0.0)
        if self.cores["other"] >= OTHERS_NOTED_CORES:
            self.others = self._busiest_others(everyone, wall)

    def _busiest_others(self, before: dict[int, tuple[float, str]], wall: float) -> str:
        ours = self.ours() | {os.getpid()}
        used = sorted(((cpu - before[pid][0]) / wall, pid, cmd)
                      for pid, (cpu, cmd) in _all_cpu().items()
                      if pid in before and pid not in ours)
        return ", ".join(f"{cores:.2f} pid {pid} {cmd[:OTHER_CMD_CHARS]}"
                         for cores, pid, cmd in reversed(used[-OTHERS_NAMED:])
                         if cores >= OTHER_NAMED_CORES)


# -- servers and workers -------------------------------------------------------------------------


def free_port_on(host: str) -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_trivial_app_on(host: str, log_path: Path, env: dict[str, str]) -> Server:
    """``bench/trivial_app.py`` under one uvicorn process on a free port of ``host``, ready."""
    port = free_port_on(host)
    cmd = [sys.executable, "-m", "uvicorn", "trivial_app:app", "--host", host,
           "--port", str(port), "--no-access-log", "--log-level", "warning"]
    server = launch_server(cmd, port=port, log_path=log_path, env=env, cwd=log_path.parent)
    server = dataclasses.replace(server, url=f"http://{host}:{port}")
    try:
        server.wait_ready("/health")
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def namespaced_workers(hosts: Hosts, count: int, master: str, port: int, token: str,
                       sources: Path, where: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``loadgate worker`` in each of the first ``count`` namespaces, named ``netns-worker-I``,
    its log ``where/netns-worker-I.log``; killed with their children when the block ends."""
    procs: list[subprocess.Popen[bytes]] = []
    env = bench_env(sources, LOADGATE_TOKEN=token)
    try:
        for i in range(count):
            cmd = [str(LOADGATE), "worker", "--master-host", master, "--master-port", str(port),
                   "--name", f"netns-worker-{i}"]
            with (where / f"netns-worker-{i}.log").open("wb") as log:
                procs.append(subprocess.Popen(
                    hosts.exec_in(i, cmd), cwd=where, env=env, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
        yield procs
    finally:
        for proc in procs:
            kill_tree(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT_SEC)


def bench_env(sources: Path, **extra: str) -> dict[str, str]:
    """``support.child_env`` without a token from the shell (only the netns setup has one,
    generated for its run)."""
    env = child_env(sources, **extra)
    if "LOADGATE_TOKEN" not in extra:
        env.pop("LOADGATE_TOKEN", None)
    return env


def worker_log_problems(where: Path) -> list[str]:
    """A note for each worker log under ``where`` with problem lines (their first lines)."""
    notes = []
    for log in sorted(where.rglob("*worker*.log")):
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()
                 if WORKER_LOG_PROBLEM.search(ln)]
        if lines:
            notes.append(f"{log.name}: {len(lines)} problem line(s), first: "
                         + " | ".join(lines[:PROBLEM_LINES]))
    return notes


# -- part 1: rps ---------------------------------------------------------------------------------


def run_one(setup: Setup, url: str, server_pid: int, args: argparse.Namespace, where: Path,
            sources: Path, hosts: Hosts | None) -> Run:
    """Run the generated test with ``setup``'s generator."""
    where.mkdir(parents=True)
    (where / "pytest.ini").write_text(INPROC_INI)
    (where / "test_inprocess.py").write_text(
        INPROC_TEST.format(user=TRIVIAL_USER, users=args.users, seconds=args.seconds)
    )
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    cmd += ["--loadgate-host", url, "test_inprocess.py"]
    env = bench_env(sources)
    with contextlib.ExitStack() as stack:
        worker_pids: list[int] = []
        if setup.netns:
            assert hosts is not None
            token = secrets.token_urlsafe(24)
            port = free_port_on(hosts.master_ip)
            procs = stack.enter_context(namespaced_workers(
                hosts, setup.workers, hosts.master_ip, port, token, sources, where))
            worker_pids = [p.pid for p in procs]
            cmd += ["--loadgate-remote-workers", str(setup.workers),
                    "--loadgate-master-bind", f"{hosts.master_ip}:{port}",
                    "--loadgate-worker-timeout", str(WORKER_TIMEOUT_SEC)]
            env["LOADGATE_TOKEN"] = token
        elif setup.workers:
            cmd += ["--loadgate-workers", str(setup.workers)]
        log = where / "pytest.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(cmd, cwd=where, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)
        try:
            pid = proc.pid
            sampler = Sampler({
                "server": lambda: _tree_cpu(server_pid),
                "master": lambda: _own_cpu(pid),
                "workers": lambda: _descendants_cpu(pid) + sum(map(_tree_cpu, worker_pids)),
            }, lambda: set().union(*map(_tree_pids, [server_pid, pid, *worker_pids])),
                server_pid, args.seconds, proc)
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
            code = proc.wait(timeout=args.seconds + SLACK_SEC)
            thread.join(timeout=args.seconds + LOAD_START_TIMEOUT_SEC)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"timed out: {' '.join(cmd)}\n{tail(log)}") from None
        finally:
            if proc.poll() is None:
                kill_tree(proc.pid)
                proc.wait(STOP_TIMEOUT_SEC)
    notes = [sampler.problem] if sampler.problem else []
    if sampler.others:
        notes.append(f"other processes in the CPU window (cores): {sampler.others}")
    notes += worker_log_problems(where)
    if code != 0:
        raise SystemExit(f"{setup.label} failed (exit {code}):\n{tail(log)}\n"
                         + "\n".join(f"{p.name}:\n{tail(p)}" for p in where.glob("netns-*.log")))
    check_imported(where / "plugin_path.txt", sources, setup.label)
    (csv_path,) = (where / "reports").glob("*.csv")
    (json_path,) = (where / "reports").glob("*.json")
    row = aggregated_row(csv_path)
    report = json.loads(json_path.read_text())
    total = report["total"]
    notes += [n for n in report.get("notes", []) if n.startswith("load workers:")]
    return Run(
        setup=setup,
        window_rps=float(total["rps"]),
        whole_rps=float(row["Requests/s"]),
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        p50=total.get("p50_ms"),
        p95=total.get("p95_ms"),
        cores=sampler.cores,
        window_s=sampler.window_s,
        notes=notes,
    )


def part_rps(args: argparse.Namespace, root: Path, sources: Path) -> list[Run]:
    """Boot the trivial app (in reach of the namespaces when a netns setup runs), run each
    setup."""
    setups: list[Setup] = args.setups
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        hosts = None
        needed = max((s.workers for s in setups if s.netns), default=0)
        if needed:
            try:
                hosts = stack.enter_context(worker_hosts(needed))
                print(f"namespaces {', '.join(hosts.namespaces)} (addresses"
                      f" {', '.join(hosts.addresses)}), master and target on {hosts.master_ip}")
            except NetnsUnavailable as exc:
                print(f"skipping {', '.join(s.key for s in setups if s.netns)}: no network"
                      f" namespaces here ({exc})")
                setups = [s for s in setups if not s.netns]
        server = start_trivial_app_on(hosts.master_ip if hosts else "127.0.0.1",
                                      root / "server.log", child_env(sources))
        stack.callback(server.stop)
        for setup in setups:
            print(f"-- {setup.label}: {args.users} users, {args.seconds:g}s ...", flush=True)
            runs.append(run_one(setup, server.url, server.pid, args, root / f"rps-{setup.key}",
                                sources, hosts))
            notice = server.death_notice()
            if notice:
                raise SystemExit(notice)
    return runs


def report_rps(args: argparse.Namespace, runs: list[Run]) -> None:
    """The table, the scaling efficiency and the ceiling this box allows."""
    cpus = psutil.cpu_count() or 1
    print(
        f"\n1. generator ceiling vs trivial ASGI app (1 uvicorn process), {args.users} users, no"
        f" wait, {args.seconds:g}s per setup, {cpus} CPUs shared with the server (and others)"
    )
    print_table(COLUMNS, [
        (run.setup.label, run.window_rps, run.whole_rps, run.p50 or 0, run.p95 or 0,
         run.failures, run.cores.get("master", 0), run.cores.get("workers", 0),
         run.cores.get("server", 0), run.cores.get("irq", 0), run.cores.get("other", 0),
         run.cores.get("busy", 0),
         run.cost_ms("generator"), run.cost_ms("master"), run.cost_ms("workers"),
         run.cost_ms("server"))
        for run in runs
    ], "(rps: plugin's verdict window; whole: Locust's whole-run Requests/s; ms: latency;"
       " master: the pytest process (the generator itself in-process); irq: the machine's"
       " interrupts, veth packets among them; other: other processes; busy: whole machine)")
    for run in runs:
        window = f"CPU window {run.window_s:.1f}s" if run.window_s else "no CPU window"
        for note in [window, *run.notes]:
            print(f"  {run.setup.label}: {note}")
    by = {run.setup.key: run for run in runs}
    one = by.get("1")
    scaled = [r for r in runs if r.setup.workers >= 2]
    if one and one.window_rps and scaled:
        print("\nscaling efficiency = rps(N workers) / (N x rps(1 local worker)):")
        for run in scaled:
            n = run.setup.workers
            eff = run.window_rps / (n * one.window_rps)
            print(f"  {run.setup.label:<12} {run.window_rps:7.0f} / ({n} x {one.window_rps:.0f})"
                  f" = {eff:.2f}")
    base = by.get("0")
    for key in ("2", "netns2"):
        two = by.get(key)
        if not (base and base.window_rps and two):
            continue
        ratio = two.window_rps / base.window_rps
        g, s, i = two.cost_ms("generator"), two.cost_ms("server"), two.cost_ms("irq")
        per_request = g + s + i
        terms = f"{g:.3f} / ({g:.3f} + {s:.3f} + {i:.3f})"
        bound = cpus * g / per_request if per_request else float("nan")
        print(f"\n{two.setup.label} / in-process: {ratio:.2f}x (goal >= {RATIO_GOAL}x)")
        print(
            f"  best this box allows: {cpus} cores x {terms} = {bound:.2f}x (generator {g:.3f}"
            f" + server {s:.3f} + interrupts {i:.3f} ms CPU per request share {cpus} cores)"
        )
        other = two.cores.get("other", 0.0)
        if other > 0.1 and per_request:
            left = max(cpus - other, 1.0)
            print(
                f"  with the {other:.2f} cores other processes took meanwhile: "
                f"{left:.2f} x {terms} = {left * g / per_request:.2f}x at best"
            )
        if ratio < RATIO_GOAL:
            print(
                "  capped: the server shares the cores with the generator, so 2 workers cannot "
                "get 2 full cores; on a box where the server runs elsewhere the bound is "
                f"{cpus:.0f}x minus the master's own cost"
            )


# -- part 2: per-test overhead -------------------------------------------------------------------

OVERHEAD_TEST = """
import time
from pathlib import Path

import pytest
import pytest_loadgate.plugin
from overhead_user import {user}

Path("plugin_path.txt").write_text(pytest_loadgate.plugin.__file__)


@pytest.mark.parametrize("i", range({tests}))
@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds:g}s")
def test_overhead(i, loadgate, record_property):
    started = time.perf_counter()
    loadgate.run({user})
    record_property("bench.run_wall_s", time.perf_counter() - started)
"""

#: The workers unpickle the user class from here, so each process that imports it (pytest and
#: every worker) records which plugin it runs.
OVERHEAD_USER = '''
"""bench/locustfile_trivial.py's user; each importing process records its pytest_loadgate."""

import os
import sys
from pathlib import Path

import locustfile_trivial

_plugin = sys.modules.get("pytest_loadgate")
Path(__file__).with_name(f"imported-by-{{os.getpid()}}.txt").write_text(
    str(getattr(_plugin, "__file__", None) or "pytest_loadgate not imported"))


class {user}(locustfile_trivial.{user}):
    """The same user: GET / with no wait."""
'''

OVERHEAD_INI = INPROC_INI + "junit_family = xunit1\n"


@dataclass
class Overhead:
    """One overhead session: per test, seconds beyond run_time (all, and inside run())."""

    label: str
    total_s: list[float]
    in_run_s: list[float]
    workers_started: int | None  # distinct worker processes that imported the user module

    @property
    def first(self) -> float:
        return self.total_s[0] if self.total_s else float("nan")

    @property
    def others(self) -> float:
        return statistics.median(self.total_s[1:]) if len(self.total_s) > 1 else float("nan")

    @property
    def others_in_run(self) -> float:
        rest = self.in_run_s[1:]
        return statistics.median(rest) if rest else float("nan")


def check_imported(path: Path, sources: Path, what: str) -> None:
    """Stop the bench unless the plugin file named in ``path`` is under ``sources``."""
    imported = Path(path.read_text().strip()) if path.exists() else None
    if imported is None or not imported.is_relative_to(sources):
        raise SystemExit(f"{what}: imported {imported or 'nothing recorded'}, not the copy in"
                         f" {sources}")


def overhead_session(label: str, workers: int, sources: Path, url: str, args: argparse.Namespace,
                     where: Path) -> Overhead:
    """K short tests in one pytest session; seconds beyond run_time per test, from junit."""
    where.mkdir(parents=True)
    (where / "pytest.ini").write_text(OVERHEAD_INI)
    (where / "overhead_user.py").write_text(OVERHEAD_USER.format(user=TRIVIAL_USER))
    (where / "test_overhead.py").write_text(OVERHEAD_TEST.format(
        user=TRIVIAL_USER, tests=args.overhead_tests, users=OVERHEAD_USERS,
        seconds=OVERHEAD_RUN_TIME_SEC))
    junit = where / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
           "--loadgate-host", url, "test_overhead.py"]
    if workers:
        cmd += ["--loadgate-workers", str(workers)]
    log = where / "pytest.log"
    timeout = args.overhead_tests * (OVERHEAD_RUN_TIME_SEC + OVERHEAD_TEST_SLACK_SEC) + SLACK_SEC
    code, _ = run_bounded(cmd, cwd=where, log_path=log, timeout_s=timeout,
                          env=bench_env(sources))
    if code is None:
        raise SystemExit(f"{label}: overhead session timed out after {timeout:g}s:\n{tail(log)}")
    if code != 0 or not junit.exists():
        raise SystemExit(f"{label}: overhead session failed (exit {code}):\n{tail(log)}")
    check_imported(where / "plugin_path.txt", sources, f"{label} (pytest)")
    imports = sorted(where.glob("imported-by-*.txt"))
    for path in imports:
        check_imported(path, sources, f"{label} (process {path.stem.rsplit('-', 1)[-1]})")
    total, in_run = [], []
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        total.append(float(case.get("time", "nan")) - OVERHEAD_RUN_TIME_SEC)
        in_run.append(float(props.get("bench.run_wall_s") or "nan") - OVERHEAD_RUN_TIME_SEC)
    if len(total) != args.overhead_tests:
        raise SystemExit(f"{label}: {len(total)} test cases in {junit}, not"
                         f" {args.overhead_tests}:\n{tail(log)}")
    # One file is pytest's own; the others are workers' (pytest's process is the master).
    started = len(imports) - 1 if workers else None
    return Overhead(label, total, in_run, started)


def part_overhead(args: argparse.Namespace, root: Path, sources: Path,
                  before: tuple[str, Path] | None) -> list[Overhead]:
    """In-process, 2 local workers now, and 2 local workers on the old revision."""
    sessions: list[tuple[str, int, Path]] = [
        ("in-process (this code)", 0, sources), ("2 workers (this code)", 2, sources)]
    if before:
        sessions.append((f"2 workers ({before[0]})", 2, before[1]))
    results = []
    for i, (label, workers, src) in enumerate(sessions):
        server = start_trivial_app_on("127.0.0.1", root / f"overhead-{i}-server.log",
                                      child_env(src))
        try:
            print(f"-- overhead: {label}, {args.overhead_tests} tests ...", flush=True)
            results.append(overhead_session(label, workers, src, server.url, args,
                                            root / f"overhead-{i}"))
        finally:
            server.stop()
    return results


def report_overhead(args: argparse.Namespace, results: list[Overhead]) -> None:
    """First test and the median of the others per session; the before/after ratio."""
    print(
        f"\n2. per-test overhead: {args.overhead_tests} tests per session, each {OVERHEAD_USERS}"
        f" users, run_time {OVERHEAD_RUN_TIME_SEC:g}s; seconds = junit time (setup + call +"
        " teardown) - run_time"
    )
    print_table(OVERHEAD_COLUMNS, [
        (r.label, r.first, r.others, r.others_in_run, max(r.total_s),
         "-" if r.workers_started is None else
         f"{r.workers_started} for {len(r.total_s)} tests")
        for r in results
    ], "(first: includes starting the pool; in run(): median of the others inside"
       " loadgate.run(); workers started: distinct worker processes seen)")
    now = next((r for r in results if r.label == "2 workers (this code)"), None)
    before = next((r for r in results if r.label.startswith("2 workers (")
                   and r is not now), None)
    if now and before:
        print(f"before/after (2 workers): first test {before.first / now.first:.2f}x,"
              f" others {before.others / now.others:.2f}x (> 1: now is faster)")


# -- main ----------------------------------------------------------------------------------------


def extract_revision(rev: str, dest: Path) -> Path:
    """``src/pytest_loadgate`` of ``rev`` under ``dest/src``, checked to import from there."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "src/pytest_loadgate"], cwd=REPO,
                             capture_output=True, timeout=60, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"--before-rev {rev}: git archive failed:"
                         f" {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, timeout=60, check=True)
    sources = dest / "src"
    check = subprocess.run(
        [sys.executable, "-c", "import pytest_loadgate.plugin as p; print(p.__file__)"],
        env=child_env(sources), capture_output=True, text=True, timeout=120, check=False)
    imported = check.stdout.strip()
    if check.returncode != 0 or not Path(imported or "/").is_relative_to(sources):
        raise SystemExit(f"--before-rev {rev}: the extracted sources do not import"
                         f" ({check.stderr.strip()[-500:] or imported})")
    return sources


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Freeze the sources, run the parts asked for, print their tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="run_time per rps setup")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--setups", "--workers", type=parse_setups,
                        default=parse_setups("0,1,2,netns2"),
                        help="rps setups: local worker counts (0: in-process) and netns1..3"
                        " (default 0,1,2,netns2)")
    parser.add_argument("--overhead-tests", type=int, default=5,
                        help="tests in each overhead session (default 5)")
    parser.add_argument("--before-rev", default="8cddaf8",
                        help="revision whose sources give the 'before' overhead (default 8cddaf8;"
                        " empty: skip)")
    parser.add_argument("--parts", default="rps,overhead", help="rps, overhead, or both")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= {"rps", "overhead"} or args.overhead_tests < 1:
        parser.error("--parts takes rps and/or overhead; --overhead-tests must be >= 1")

    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="worker-ceiling-"))
    try:
        sources = root / "now"
        freeze_sources(sources, [REPO / "src" / "pytest_loadgate"], ["pytest_loadgate.plugin"])
        before = None
        if "overhead" in parts and args.before_rev:
            before = (args.before_rev, extract_revision(args.before_rev, root / "before"))
        print(f"this code: {git_revision(['src/pytest_loadgate'])}"
              + (f"; before: {args.before_rev}" if before else ""), flush=True)
        runs = part_rps(args, root, sources) if "rps" in parts else []
        overheads = part_overhead(args, root, sources, before) if "overhead" in parts else []
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if runs:
        report_rps(args, runs)
    if overheads:
        report_overhead(args, overheads)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}): every process and namespace started here was"
              " stopped and removed", file=sys.stderr)
        sys.exit(130)
