"""Helpers of ``scripts/run_load_tests.sh`` (standard library only, any Python >= 3.11).

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
- ``summarize``: turn one pytest run's report dir into ``<stem>.csv`` (one row per load test)
  and ``<stem>.html`` (the run's ``index.html`` with its links pointing into the run dir).
- ``table``: print one summary table over several summary CSVs (used by mode ``all``) and
  optionally write the combined CSV and an HTML page linking each mode's report.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Columns of the summary CSV, in order.
COLUMNS = ["mode", "test", "verdict", "requests", "failures", "rps", "avg_ms", "p50_ms",
           "p95_ms", "p99_ms", "max_ms", "error_rate", "failed_checks", "json_report",
           "html_report"]


# -- processes and ports -------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def log_tail(path: Path | None, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none."""
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


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
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return True
                last_error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(getattr(exc, "reason", exc))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    print(f"error: {url} not ready after {timeout:g} s ({last_error}); log tail:\n"
          f"{log_tail(log)}", file=sys.stderr)
    return False


# -- seeding -------------------------------------------------------------------------------------

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
    created = 0
    for i in range(have, count):
        _request("POST", f"{base}/products/", {
            "name": f"Demo product {i + 1}", "sku": f"DEMO-{uuid.uuid4().hex[:16]}",
            "price": round(4.99 + i, 2), "stock": stock})
        created += 1
    return created


# -- reports -------------------------------------------------------------------------------------

def _node_id(classname: str, name: str) -> str:
    """pytest's node id from a JUnit testcase (``tests.perf.test_x`` + ``test_y``)."""
    return f"{classname.replace('.', '/')}.py::{name}" if classname else name


def junit_outcomes(path: Path) -> dict[str, str]:
    """``{node id: passed|failed|error|skipped}`` from a JUnit XML file (empty if none)."""
    if not path.exists():
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return {}
    outcomes: dict[str, str] = {}
    for case in root.iter("testcase"):
        node = _node_id(case.get("classname", ""), case.get("name", ""))
        tags = {child.tag for child in case}
        outcome = ("failed" if "failure" in tags else "error" if "error" in tags
                   else "skipped" if "skipped" in tags else "passed")
        # A test can appear twice (failed call + error in teardown): keep the worst.
        order = ["passed", "skipped", "failed", "error"]
        if order.index(outcome) >= order.index(outcomes.get(node, "passed")):
            outcomes[node] = outcome
    return outcomes


def summary_rows(mode: str, run_dir: Path, rel_to: Path) -> list[dict[str, Any]]:
    """One row per load test of a run: figures from its JSON report, outcome from JUnit.

    Tests that never produced a JSON report (an error at setup, a skip) still get a row
    with their pytest outcome, so the summary never hides them.
    """
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in sorted(run_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or "test" not in doc or "total" not in doc:
            continue
        total = doc.get("total") or {}
        html_name = (doc.get("files") or {}).get("html")
        rows.append({
            "mode": mode,
            "test": doc["test"],
            "verdict": doc.get("verdict", "?"),
            **{k: total.get(k) for k in ("requests", "failures", "avg_ms", "p50_ms",
                                         "p95_ms", "p99_ms", "max_ms", "error_rate")},
            "rps": round(total["rps"], 2) if isinstance(total.get("rps"), int | float) else None,
            "failed_checks": "; ".join(
                f"{c['scope']} {c['threshold']}: {c['measured']} vs limit {c['limit']}"
                for c in doc.get("checks", []) if not c.get("passed")),
            "json_report": os.path.relpath(path, rel_to),
            "html_report": os.path.relpath(run_dir / html_name, rel_to) if html_name else "",
        })
        seen.add(doc["test"])
    for node, outcome in junit_outcomes(run_dir / "junit.xml").items():
        if node not in seen and outcome != "passed":
            rows.append({"mode": mode, "test": node, "verdict": outcome})
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """The summary CSV: a header and one line per row (missing figures left empty)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a summary CSV written by :func:`write_csv`."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _fallback_page(mode: str, exit_code: int, log: Path | None) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>loadgate {html.escape(mode)}: no load run</title>
</head><body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>loadgate {html.escape(mode)}: no load test finished</h1>
<p>pytest exited with code {exit_code} before any load run wrote a report.
The end of its output:</p>
<pre>{html.escape(log_tail(log, 60))}</pre>
</body></html>
"""


def summarize(mode: str, run_dir: Path, stem: Path, exit_code: int, log: Path | None) -> int:
    """Write ``<stem>.csv`` and ``<stem>.html`` for one run; return the number of rows."""
    rows = summary_rows(mode, run_dir, stem.parent)
    write_csv(stem.with_suffix(".csv"), rows)
    index = run_dir / "index.html"
    out = stem.with_suffix(".html")
    if index.exists():
        # The index links its files by bare name; a <base> makes them resolve into run_dir
        # from the copy one level up, so every link of the copy works.
        base = html.escape(os.path.relpath(run_dir, stem.parent).replace(os.sep, "/") + "/")
        page = index.read_text(encoding="utf-8")
        page = re.sub(r"<head>", f'<head><base href="{base}">', page, count=1)
        out.write_text(page, encoding="utf-8")
    else:
        out.write_text(_fallback_page(mode, exit_code, log), encoding="utf-8")
    return len(rows)


def _fmt(value: Any, kind: str) -> str:
    if value in (None, ""):
        return "-"
    number = float(value)
    if kind == "rps":
        return f"{number:.1f}/s"
    if kind == "ms":
        return f"{number:.1f} ms"
    if kind == "rate":
        return f"{number * 100:.2f}%"
    return str(int(number))


def format_table(rows: Sequence[dict[str, Any]], mode_results: Sequence[tuple[str, int]]) -> str:
    """The closing table of mode ``all``: every load test, then each mode's pytest exit code."""
    width = max([len(str(r["test"])) for r in rows] + [4])
    lines = [f"{'mode':9}  {'test'.ljust(width)}  {'verdict':11}  {'requests':>8}  {'rps':>9}"
             f"  {'p95':>10}  {'p99':>10}  {'errors':>7}"]
    for r in rows:
        lines.append(
            f"{r['mode']:9}  {str(r['test']).ljust(width)}  {str(r['verdict']).upper():11}"
            f"  {_fmt(r.get('requests'), 'int'):>8}  {_fmt(r.get('rps'), 'rps'):>9}"
            f"  {_fmt(r.get('p95_ms'), 'ms'):>10}  {_fmt(r.get('p99_ms'), 'ms'):>10}"
            f"  {_fmt(r.get('error_rate'), 'rate'):>7}")
    lines.append("")
    for mode, code in mode_results:
        state = "ok" if code == 0 else f"FAILED (pytest exit {code})"
        lines.append(f"{mode:9}  {state}")
    return "\n".join(lines)


def write_all_page(path: Path, rows: Sequence[dict[str, Any]],
                   mode_results: Sequence[tuple[str, int, str]]) -> None:
    """A small HTML page for mode ``all``: each mode's result linked to its report page."""
    modes = "".join(
        f'<tr><td><a href="{html.escape(page)}">{html.escape(mode)}</a></td>'
        f'<td class="{"pass" if code == 0 else "fail"}">'
        f'{"PASSED" if code == 0 else f"FAILED (exit {code})"}</td></tr>'
        for mode, code, page in mode_results)
    tests = "".join(
        f"<tr><td>{html.escape(str(r['mode']))}</td><td>{html.escape(str(r['test']))}</td>"
        f"<td>{html.escape(str(r['verdict']).upper())}</td>"
        f"<td>{_fmt(r.get('requests'), 'int')}</td><td>{_fmt(r.get('rps'), 'rps')}</td>"
        f"<td>{_fmt(r.get('p95_ms'), 'ms')}</td><td>{_fmt(r.get('p99_ms'), 'ms')}</td>"
        f"<td>{_fmt(r.get('error_rate'), 'rate')}</td></tr>" for r in rows)
    path.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>loadgate: all modes</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ padding: .3em .6em; border-bottom: 1px solid #ddd; text-align: left; }}
.pass {{ color: #137333; font-weight: bold; }} .fail {{ color: #b3261e; font-weight: bold; }}
</style></head><body><h1>loadgate: all modes</h1>
<table><tr><th>mode</th><th>result</th></tr>{modes}</table>
<table><tr><th>mode</th><th>test</th><th>verdict</th><th>requests</th><th>rps</th><th>p95</th>
<th>p99</th><th>errors</th></tr>{tests}</table></body></html>
""", encoding="utf-8")


# -- command line --------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loadgate_helpers.py", description=__doc__,
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
    p = sub.add_parser("summarize")
    p.add_argument("--mode", required=True)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--stem", type=Path, required=True)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--log", type=Path)
    p = sub.add_parser("table")
    p.add_argument("results", nargs="+", help="MODE:EXIT_CODE:STEM for each mode that ran")
    p.add_argument("--csv", type=Path)
    p.add_argument("--html", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; see the module docstring."""
    args = _parser().parse_args(argv)
    if args.command == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            print("error: exec needs a command", file=sys.stderr)
            return 2
        exec_command(argv, args.new_group, args.default_sigint)
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
    elif args.command == "summarize":
        summarize(args.mode, args.run_dir, args.stem, args.exit_code, args.log)
    elif args.command == "table":
        rows: list[dict[str, Any]] = []
        results: list[tuple[str, int, str]] = []
        for item in args.results:
            mode, code, stem = item.split(":", 2)
            stem_path = Path(stem)
            csv_path = stem_path.with_suffix(".csv")
            rows += read_csv(csv_path) if csv_path.exists() else []
            results.append((mode, int(code), stem_path.with_suffix(".html").name))
        print(format_table(rows, [(m, c) for m, c, _ in results]))
        if args.csv:
            write_csv(args.csv, rows)
        if args.html:
            write_all_page(args.html, rows, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
