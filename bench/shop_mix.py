"""Benchmark the shop on its seed mix with Locust's headless CLI.

Boots ``python -m demo_api`` on a free port with a temporary SQLite database, seeds
products with plenty of stock, runs ``bench/locustfile_shop.py`` (50 users, no wait, 30 s
by default) and prints total rps and p50/p95/p99 per endpoint, then checks ``/summary``.

    .venv/bin/python bench/shop_mix.py [--workers 1] [--users 50] [--duration 30s]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import requests
from support import (
    Column,
    free_port,
    locust_rows,
    print_table,
    run_shop_mix,
    seed_products,
    shop_command,
    start_server,
)

COLUMNS = (
    Column("endpoint", 34, align="<"), Column("reqs", 8), Column("fails", 6),
    Column("rps", 8, ".1f"), Column("p50", 6), Column("p95", 6), Column("p99", 6),
    Column("max", 7, ".0f"),
)


def print_stats(prefix: Path) -> None:
    """Print Locust's per-endpoint figures from its CSV."""
    rows = [
        ("TOTAL" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}",
         row["Request Count"], row["Failure Count"], float(row["Requests/s"]), row["50%"],
         row["95%"], row["99%"], float(row["Max Response Time"]))
        for row in locust_rows(Path(f"{prefix}_stats.csv"))
    ]
    print_table(COLUMNS, rows, "(latencies in ms)")


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
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'shop.db'}",
           "DEMO_API_FAULTS": args.faults}
    server = start_server(shop_command(port, args.workers), port=port,
                          log_path=workdir / "server.log", env=env)
    base = server.url
    try:
        seed_products(base, args.products)
        prefix = workdir / "mix"
        print(f"server workers={args.workers} users={args.users} duration={args.duration}")
        run_shop_mix(base, prefix, args.users, args.duration, args.products)
        print_stats(prefix)
        summary = requests.get(f"{base}/summary", timeout=5).json()
        print(f"summary: {summary}")
        if summary["negative_stock_products"] != 0:
            print("OVERSOLD: negative stock found", file=sys.stderr)
            return 1
    finally:
        server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
