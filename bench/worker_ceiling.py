"""The load generator's ceiling: the plugin in-process vs 1 and 2 local Locust workers.

    .venv/bin/python bench/worker_ceiling.py [--seconds 15] [--users 40] [--workers 0,1,2]

One uvicorn process serves ``bench/trivial_app.py`` (pure ASGI, ``200 ok``) on a free
127.0.0.1 port for the whole run. For each generator setup a generated test marked
``@pytest.mark.perf(users=N, spawn_rate=N, run_time=S)`` calls ``loadgate.run(TrivialUser)``
(``bench/locustfile_trivial.py``, no wait) and ``python -m pytest --loadgate-host URL`` runs
it in a subprocess: without ``--loadgate-workers`` (the Locust runner inside pytest), then
with ``--loadgate-workers 1`` and ``2`` (a Locust master in pytest, workers as processes).

Compared figure: the plugin's ``total.rps`` from its JSON report (the steady verdict window
after spawning and warm-up; Locust's whole-run "Requests/s" is printed too). While each run
is in its window, CPU is sampled for the server's process tree and the pytest process tree
(master + workers), so the table shows where the cores went and the CPU cost of one request
on each side. From those costs it prints the ratio this box could reach at best:

    on C cores, with the generator costing g and the server s CPU-seconds per request,
    in-process rps <= 1/g (one process, one core) and distributed rps <= C/(g + s),
    so the best 2-workers/in-process ratio is C*g/(g + s)   (< C whenever s > 0).

Goal: >= 1.7x on 2 cores, unless that bound (a box that also hosts the server, and is
shared) caps it lower. The generated test is ``bench/inprocess_vs_cli.py``'s (both take it
from ``bench/support.py``); every process is bounded by a timeout and killed with its
children in ``finally`` blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from support import (
    INPROC_INI,
    INPROC_TEST,
    SLACK_SEC,
    TRIVIAL_USER,
    Column,
    aggregated_row,
    child_env,
    kill_tree,
    print_table,
    start_trivial_app,
    tail,
)

RATIO_GOAL = 1.7
COLUMNS = (
    Column("generator", 12, align="<"), Column("rps", 8, ".0f"), Column("whole", 8, ".0f"),
    Column("p50", 6, ".1f"), Column("p95", 6, ".1f"), Column("fails", 5, "d"),
    Column("cores: gen", 10, ".2f", gap="  "), Column("server", 6, ".2f"),
    Column("other", 5, ".2f"), Column("ms CPU/req: gen", 15, ".3f", gap="  "),
    Column("server", 6, ".3f"),
)


@dataclass
class Run:
    """One generator setup's outcome."""

    workers: int
    window_rps: float
    whole_rps: float
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    cores: dict[str, float] = field(default_factory=dict)  # "server", "generator"

    @property
    def label(self) -> str:
        """ "in-process" or "N worker(s)"."""
        if self.workers == 0:
            return "in-process"
        return f"{self.workers} worker" + ("s" if self.workers > 1 else "")

    def cost_ms(self, side: str) -> float:
        """CPU milliseconds per request spent by ``side``."""
        return 1000 * self.cores.get(side, 0.0) / self.window_rps if self.window_rps else 0.0


def _cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its descendants (0 for vanished ones)."""
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


def _sample(pids: dict[str, int], start_after: float, length: float, out: dict[str, float]) -> None:
    """Cores used by each pid tree (and "other": the rest of the machine) in the window."""
    time.sleep(start_after)
    first = {name: _cpu(pid) for name, pid in pids.items()}
    machine0, t0 = _machine_busy(), time.monotonic()
    time.sleep(length)
    wall = time.monotonic() - t0
    out.update({name: (_cpu(pid) - first[name]) / wall for name, pid in pids.items()})
    out["other"] = max((_machine_busy() - machine0) / wall - sum(out.values()), 0.0)


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes, all users)."""
    t = psutil.cpu_times()
    return t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "softirq", 0.0)


def run_one(url: str, server_pid: int, workers: int, args: argparse.Namespace, where: Path) -> Run:
    """Run the generated test with ``workers`` local Locust workers (0: in-process)."""
    where.mkdir(parents=True)
    (where / "pytest.ini").write_text(INPROC_INI)
    (where / "test_inprocess.py").write_text(
        INPROC_TEST.format(user=TRIVIAL_USER, users=args.users, seconds=args.seconds)
    )
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    cmd += ["--loadgate-host", url, "test_inprocess.py"]
    if workers:
        cmd += ["--loadgate-workers", str(workers)]
    log = where / "pytest.log"
    cores: dict[str, float] = {}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=where,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(None),
        )
        try:
            # Sample the middle of the run: after start-up, spawning and warm-up.
            startup = 6.0 if workers else 4.0
            length = max(args.seconds - 6.0, 2.0)
            sampler = threading.Thread(
                target=_sample,
                args=({"server": server_pid, "generator": proc.pid}, startup, length, cores),
                daemon=True,
            )
            sampler.start()
            code = proc.wait(timeout=args.seconds + SLACK_SEC)
            sampler.join(timeout=5)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"timed out: {' '.join(cmd)}\n{tail(log)}") from None
        finally:
            if proc.poll() is None:
                kill_tree(proc.pid)
    if code != 0:
        raise SystemExit(f"run with {workers} workers failed (exit {code}):\n{tail(log)}")
    (csv_path,) = (where / "reports").glob("*.csv")
    (json_path,) = (where / "reports").glob("*.json")
    row = aggregated_row(csv_path)
    total = json.loads(json_path.read_text())["total"]
    return Run(
        workers=workers,
        window_rps=float(total["rps"]),
        whole_rps=float(row["Requests/s"]),
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        p50=total.get("p50_ms"),
        p95=total.get("p95_ms"),
        cores=cores,
    )


def main() -> int:
    """Boot the trivial app, run each generator setup, print the table and the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="run_time per setup")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--workers", default="0,1,2", help="setups: local worker counts")
    args = parser.parse_args()
    setups = [int(w) for w in args.workers.split(",")]

    root = Path(tempfile.mkdtemp(prefix="worker-ceiling-"))
    runs: list[Run] = []
    server = start_trivial_app(root / "server.log", child_env(None))
    try:
        server_pid = server.pid
        for workers in setups:
            print(f"-- {workers} worker(s): {args.users} users, {args.seconds:g}s ...", flush=True)
            runs.append(run_one(server.url, server_pid, workers, args, root / f"w{workers}"))
            notice = server.death_notice()
            if notice:
                raise SystemExit(notice)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

    cpus = psutil.cpu_count() or 1
    print(
        f"\ngenerator ceiling vs trivial ASGI app (1 uvicorn process), {args.users} users, no "
        f"wait, {args.seconds:g}s per setup, {cpus} CPUs shared with the server (and others)"
    )
    print_table(COLUMNS, [
        (run.label, run.window_rps, run.whole_rps, run.p50 or 0, run.p95 or 0, run.failures,
         run.cores.get("generator", 0), run.cores.get("server", 0), run.cores.get("other", 0),
         run.cost_ms("generator"), run.cost_ms("server"))
        for run in runs
    ], "(rps: plugin's verdict window; whole: Locust's whole-run Requests/s; ms: latency)")
    by = {run.workers: run for run in runs}
    if 0 in by and 2 in by and by[0].window_rps:
        base, two = by[0], by[2]
        ratio = two.window_rps / base.window_rps
        g, s = two.cost_ms("generator"), two.cost_ms("server")
        bound = cpus * g / (g + s) if g + s else float("nan")
        print(f"\n2 workers / in-process: {ratio:.2f}x (goal >= {RATIO_GOAL}x)")
        print(
            f"best this box allows: {cpus} cores x {g:.3f} / ({g:.3f} + {s:.3f}) = {bound:.2f}x "
            f"(generator {g:.3f} + server {s:.3f} ms CPU per request share {cpus} cores)"
        )
        other = two.cores.get("other", 0.0)
        if other > 0.1:
            left = max(cpus - other, 1.0)
            print(
                f"with the {other:.2f} cores other processes took meanwhile: "
                f"{left:.2f} x {g:.3f} / ({g:.3f} + {s:.3f}) = {left * g / (g + s):.2f}x at best"
            )
        if ratio < RATIO_GOAL:
            print(
                "capped: the server shares the cores with the generator, so 2 workers cannot "
                "get 2 full cores; on a box where the server runs elsewhere the bound is "
                f"{cpus:.0f}x minus the master's own cost"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
