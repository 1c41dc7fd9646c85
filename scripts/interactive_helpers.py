"""Process helpers of ``scripts/run_load_tests.sh interactive`` (its pytest modes need none:
their summaries come from ``loadgate summary``).

Subcommands:

- ``exec [--new-group] [--default-sigint] -- CMD...``: become CMD (same pid), optionally in a
  process group of its own (a terminal's Ctrl-C then reaches only the script, which stops its
  children in order) and with SIGINT at its default (a shell starts background commands with
  SIGINT ignored, so Locust would never see the SIGINT that makes it write its HTML report).
- ``free-port``: print a free TCP port on 127.0.0.1.
- ``port-free PORT``: exit 0 if 127.0.0.1:PORT can be bound, 1 (with a message) if not.
- ``wait-http URL``: poll URL until it answers 2xx; give up after ``--timeout`` seconds or
  as soon as ``--pid`` has exited, printing the tail of ``--log``.
- ``seed URL``: make sure the shop's catalogue holds at least ``--count`` products.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_loadgate.target.server import free_port, health_problem

LOG_TAIL_LINES = 30


def exec_command(argv: Sequence[str], new_group: bool, default_sigint: bool) -> None:
    """Replace this process with ``argv`` (never returns), after the requested set-up."""
    if new_group:
        os.setpgid(0, 0)
    if default_sigint:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp(argv[0], list(argv))


def port_is_free(port: int) -> bool:
    """True if 127.0.0.1:``port`` can be bound (so a server can listen there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def log_tail(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:]) or "(log is empty)"


def wait_http(url: str, timeout: float, pid: int | None, log: Path | None) -> bool:
    """Poll ``url`` until it answers 2xx; False (with a message on stderr) on timeout/exit."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid):
            print(f"error: process {pid} exited before {url} answered; log tail:\n"
                  f"{log_tail(log)}", file=sys.stderr)
            return False
        problem = health_problem(url)
        if problem is None:
            return True
        last_error = problem
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    print(f"error: {url} not ready after {timeout:g} s ({last_error}); log tail:\n"
          f"{log_tail(log)}", file=sys.stderr)
    return False


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def seed(base_url: str, count: int, stock: int) -> int:
    """Create products until the catalogue holds ``count``; return how many were created."""
    base = base_url.rstrip("/")
    have = int(_request("GET", f"{base}/products/?limit=1")["total"])
    for i in range(have, count):
        _request("POST", f"{base}/products/", {
            "name": f"Demo product {i + 1}", "sku": f"DEMO-{uuid.uuid4().hex[:16]}",
            "price": round(4.99 + i, 2), "stock": stock})
    return max(0, count - have)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interactive_helpers.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("exec")
    p.add_argument("--new-group", action="store_true")
    p.add_argument("--default-sigint", action="store_true")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("free-port")
    p = sub.add_parser("port-free")
    p.add_argument("port", type=int)
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--pid", type=int)
    p.add_argument("--log", type=Path)
    p = sub.add_parser("seed")
    p.add_argument("url")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--stock", type=int, default=100_000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; see the module docstring."""
    args = _parser().parse_args(argv)
    if args.command == "exec":
        command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not command:
            print("error: exec needs a command", file=sys.stderr)
            return 2
        exec_command(command, args.new_group, args.default_sigint)
    elif args.command == "free-port":
        print(free_port())
    elif args.command == "port-free":
        if not port_is_free(args.port):
            print(f"error: 127.0.0.1:{args.port} is already in use", file=sys.stderr)
            return 1
    elif args.command == "wait-http":
        return 0 if wait_http(args.url, args.timeout, args.pid, args.log) else 1
    elif args.command == "seed":
        try:
            created = seed(args.url, args.count, args.stock)
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            print(f"error: seeding {args.url} failed: {exc}", file=sys.stderr)
            return 1
        print(f"catalogue seeded: {created} product(s) created, at least {args.count} listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
