"""The shop's seed mix on SQLite vs PostgreSQL, with 1 vs 2 server processes, in one run.

    .venv/bin/python bench/shop_backends.py [--users 50] [--duration 20s] [--products 200]
                                            [--configs sqlite:1,sqlite:2,postgresql:1,postgresql:2]

For each configuration: a fresh database (a SQLite file in a temp dir, or a fresh database on
one throwaway PostgreSQL server started by ``demo_api.throwaway_postgres`` for the whole run),
``python -m demo_api --workers N`` on a free 127.0.0.1 port, ``--products`` seeded products,
then ``bench/locustfile_shop.py`` (40% list, 30% get, 20% order, 10% pay; no wait) through
Locust's headless CLI, exactly as ``bench/shop_mix.py`` does (both use ``bench/support.py``).

Printed per configuration: total rps, p50/p95/p99 (Locust's aggregated row) and failures,
and where the CPU went during the load: cores used by the shop's processes, by PostgreSQL's
backends, by the Locust process, and by everything else on the (shared) machine. That split
says what limits each figure: Locust near 1.0 core means the generator is the ceiling; shop +
PostgreSQL + Locust near the machine's cores means the box is CPU-bound. Afterwards
``/summary`` must show no negative stock.

Every server is stopped in ``finally`` blocks; the PostgreSQL cluster is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests
from support import (
    Column,
    aggregated_row,
    free_port,
    print_table,
    run_shop_mix,
    run_time_seconds,
    seed_products,
    shop_command,
    start_server,
)

from demo_api.throwaway_postgres import PostgresServer

COLUMNS = (
    Column("configuration", 16, align="<"), Column("rps", 8, ".1f"), Column("p50", 6, ".0f"),
    Column("p95", 6, ".0f"), Column("p99", 6, ".0f"), Column("reqs", 7, "d"),
    Column("fails", 5, "d"), Column("cores: shop", 11, ".2f", gap="  "),
    Column("pg", 5, ".2f"), Column("locust", 6, ".2f"), Column("other", 5, ".2f"),
    Column("limited by", align="<", gap="  "),
)


@dataclass
class Figures:
    """One configuration's outcome."""

    name: str
    rps: float
    p50: float
    p95: float
    p99: float
    requests: int
    failures: int
    cpu: dict[str, float]  # cores used per process group during the load
    oversold: bool


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    seconds: dict[int, float] = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            seconds[proc.pid] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return seconds


class CpuSampler:
    """CPU seconds used by process groups between :meth:`start` and :meth:`stop`, in cores.

    Groups: the shop (server process tree), PostgreSQL (the postmaster's tree), Locust (any
    process running ``-m locust`` that is our child), and "other" (the rest of the machine).
    """

    def __init__(self, server_pid: int, postmaster_pid: int | None) -> None:
        self.server_pid = server_pid
        self.postmaster_pid = postmaster_pid
        self.first: dict[str, dict[int, float]] = {}
        self.t0 = 0.0
        self.machine0 = 0.0

    def _groups(self) -> dict[str, list[psutil.Process]]:
        me = psutil.Process()
        locust = [p for p in me.children(recursive=True) if "locust" in " ".join(_cmdline(p))]
        groups = {"shop": _tree(self.server_pid), "locust": locust}
        if self.postmaster_pid is not None:
            groups["postgres"] = _tree(self.postmaster_pid)
        return groups

    def sample(self) -> dict[str, dict[int, float]]:
        """CPU seconds per pid per group, right now."""
        return {name: _cpu_seconds(procs) for name, procs in self._groups().items()}

    def start(self) -> None:
        """Remember the starting point (call once the load runs: Locust must exist)."""
        self.first = self.sample()
        self.t0 = time.monotonic()
        self.machine0 = _machine_busy()

    def stop(self) -> dict[str, float]:
        """Cores used per group (and "other") since :meth:`start`."""
        last = self.sample()
        wall = max(time.monotonic() - self.t0, 1e-6)
        cores: dict[str, float] = {}
        for name, now in last.items():
            before = self.first.get(name, {})
            used = sum(sec - before.get(pid, 0.0) for pid, sec in now.items())
            cores[name] = used / wall
        machine = (_machine_busy() - self.machine0) / wall
        cores["other"] = max(machine - sum(cores.values()), 0.0)
        return cores


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return (
        times.user
        + times.system
        + getattr(times, "nice", 0.0)
        + getattr(times, "irq", 0.0)
        + (getattr(times, "softirq", 0.0))
    )


@contextmanager
def shop(workdir: Path, workers: int, database_url: str) -> Iterator[tuple[str, int]]:
    """The shop on ``database_url``; yields (base URL, server pid)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DEMO_API_FAULTS": ""}
    server = start_server(shop_command(port, workers), port=port,
                          log_path=workdir / "server.log", env=env)
    try:
        yield server.url, server.pid
    finally:
        server.stop()


def measure(
    name: str,
    database_url: str,
    workers: int,
    args: argparse.Namespace,
    postmaster_pid: int | None,
    workdir: Path,
) -> Figures:
    """Boot, seed, load, sample CPU, read Locust's CSV, check /summary."""
    workdir.mkdir(parents=True, exist_ok=True)
    with shop(workdir, workers, database_url) as (base, server_pid):
        seed_products(base, args.products)
        sampler = CpuSampler(server_pid, postmaster_pid)
        prefix = workdir / "mix"
        cores: dict[str, float] = {}

        def sample_during_load() -> None:
            time.sleep(3.0)  # Locust started and users spawned
            sampler.start()
            time.sleep(max(run_time_seconds(args.duration) - 5.0, 1.0))
            cores.update(sampler.stop())

        sampler_thread = threading.Thread(target=sample_during_load, daemon=True)
        sampler_thread.start()
        run_shop_mix(base, prefix, args.users, args.duration, args.products)
        sampler_thread.join(timeout=10)
        summary = requests.get(f"{base}/summary", timeout=10).json()
    total = aggregated_row(Path(f"{prefix}_stats.csv"))
    return Figures(
        name=name,
        rps=float(total["Requests/s"]),
        p50=float(total["50%"]),
        p95=float(total["95%"]),
        p99=float(total["99%"]),
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        cpu=cores,
        oversold=summary["negative_stock_products"] != 0,
    )


def limit_of(fig: Figures, cpus: int) -> str:
    """A one-line reading of the CPU split."""
    cpu = fig.cpu
    if not cpu:
        return "no CPU sample"
    busy = sum(cpu.values())
    if cpu.get("locust", 0.0) >= 0.85:
        return "load generator (Locust at one full core)"
    if busy >= cpus * 0.85:
        hogs = sorted(((v, k) for k, v in cpu.items()), reverse=True)
        return "CPU of the box (" + ", ".join(f"{k} {v:.2f}" for v, k in hogs[:3]) + ")"
    if fig.name.startswith("sqlite") and cpu.get("shop", 0.0) < 0.9 * cpus:
        return "SQLite's single writer / server event loop"
    return "server latency (neither CPU nor generator saturated)"


def main() -> int:
    """Run every configuration and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", default="20s", help="Locust --run-time per configuration")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--configs", default="sqlite:1,sqlite:2,postgresql:1,postgresql:2")
    args = parser.parse_args()
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]

    root = Path(tempfile.mkdtemp(prefix="shop-backends-"))
    pg: PostgresServer | None = None
    results: list[Figures] = []
    try:
        if any(backend == "postgresql" for backend, _ in configs):
            pg = PostgresServer(database="bench", max_connections=200).start()
        for index, (backend, workers) in enumerate(configs):
            name = f"{backend} x{workers}"
            workdir = root / f"{index}-{backend}-{workers}"
            if backend == "sqlite":
                url, postmaster = f"sqlite:///{workdir / 'shop.db'}", None
            else:
                assert pg is not None
                url = pg.create_database(f"bench{index}", drop_existing=True)
                postmaster = _postmaster_pid(pg)
            print(f"-- {name}: {args.users} users, {args.duration} ...", flush=True)
            results.append(measure(name, url, workers, args, postmaster, workdir))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)

    cpus = psutil.cpu_count() or 1
    print(
        f"\nshop seed mix, {args.users} users, no wait, {args.duration} per configuration, "
        f"{cpus} CPUs (shared), Locust CLI in one process"
    )
    print_table(COLUMNS, [
        (fig.name, fig.rps, fig.p50, fig.p95, fig.p99, fig.requests, fig.failures,
         fig.cpu.get("shop", 0), fig.cpu.get("postgres", 0), fig.cpu.get("locust", 0),
         fig.cpu.get("other", 0), limit_of(fig, cpus))
        for fig in results
    ], "(latencies in ms, Locust's aggregated row; cores = CPU seconds / wall seconds)")
    oversold = [f.name for f in results if f.oversold]
    if oversold:
        print(f"OVERSOLD: negative stock in {oversold}", file=sys.stderr)
        return 1
    return 0


def _postmaster_pid(pg: PostgresServer) -> int | None:
    try:
        return int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
