"""Benchmark the shop on its seed mix with Locust's headless CLI.

Boots ``python -m demo_api`` on a free port with a temporary SQLite database, seeds
products with plenty of stock, runs ``bench/locustfile_shop.py`` (50 users, no wait, 30 s
by default) and prints total rps and p50/p95/p99 per endpoint, then checks ``/summary``.

    .venv/bin/python bench/shop_mix.py [--workers 1] [--users 50] [--duration 30s]
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
LOCUSTFILE = BENCH / "locustfile_shop.py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    workdir: Path, port: int, workers: int, env_extra: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start the shop and wait until /health answers 200."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'shop.db'}", **env_extra}
    log = (workdir / "server.log").open("wb")
    cmd = [sys.executable, "-m", "demo_api", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise SystemExit("server not ready within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def seed(base: str, products: int) -> None:
    """Create ``products`` products with a billion units each."""
    with requests.Session() as session:
        for i in range(1, products + 1):
            body = {"name": f"Product {i}", "sku": f"SKU-{i:05d}", "price": 9.99, "stock": 10**9}
            session.post(f"{base}/products/", json=body, timeout=5).raise_for_status()


def read_stats(prefix: Path) -> list[dict[str, str]]:
    """Locust's per-endpoint rows (the ``Aggregated`` row last) from its stats CSV."""
    with open(f"{prefix}_stats.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def run_mix(base: str, prefix: Path, users: int, duration: str, products: int) -> None:
    """Run the seed mix with Locust's headless CLI against ``base``; CSV files at ``prefix``."""
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(users), "-t", duration,
        "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "SHOP_PRODUCTS": str(products)}
    log_path = prefix.with_name(prefix.name + "_locust.log")
    with log_path.open("wb") as log:
        subprocess.run(
            cmd, env=env, check=False, stdout=log, stderr=subprocess.STDOUT,
            timeout=run_time_seconds(duration) + 120,
        )  # fmt: skip


def run_time_seconds(duration: str) -> float:
    """Locust's ``--run-time`` ("30s", "2m", "1m30s", "45") in seconds."""
    total, number = 0.0, ""
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number or 0) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total + float(number or 0)


def print_stats(prefix: Path) -> None:
    """Print Locust's per-endpoint figures from its CSV."""
    rows = read_stats(prefix)
    header = (
        f"{'endpoint':34} {'reqs':>8} {'fails':>6} {'rps':>8} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        name = "TOTAL" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        print(
            f"{name:34} {row['Request Count']:>8} {row['Failure Count']:>6} "
            f"{float(row['Requests/s']):8.1f} {row['50%']:>6} {row['95%']:>6} {row['99%']:>6} "
            f"{float(row['Max Response Time']):7.0f}"
        )
    print("(latencies in ms)")


def main() -> int:
    """Parse options, boot, seed, load, report, tear down."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", default="30s", help="Locust --run-time")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--faults", default="", help="DEMO_API_FAULTS for the server")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, logs, csv)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(workdir, port, args.workers, {"DEMO_API_FAULTS": args.faults})
    try:
        seed(base, args.products)
        prefix = workdir / "mix"
        print(f"server workers={args.workers} users={args.users} duration={args.duration}")
        run_mix(base, prefix, args.users, args.duration, args.products)
        print_stats(prefix)
        summary = requests.get(f"{base}/summary", timeout=5).json()
        print(f"summary: {summary}")
        if summary["negative_stock_products"] != 0:
            print("OVERSOLD: negative stock found", file=sys.stderr)
            return 1
    finally:
        stop_server(proc)
        if args.keep:
            print(f"kept {workdir}")
        else:
            for path in sorted(workdir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
