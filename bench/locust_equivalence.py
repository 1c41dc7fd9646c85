"""Any locustfile, unchanged: the same locustfiles through ``locust --headless`` and the plugin.

    .venv/bin/python bench/locust_equivalence.py [--users 5] [--run-time 8] [--only lf05 ...]

Issue #14. ``bench/locustfiles/`` holds locustfiles that need no outside service, each using a
Locust feature a team's existing locustfile may rely on: nested TaskSets with interrupt(),
SequentialTaskSet, MarkovTaskSet, weights and fixed_count, tags, wait_time functions,
catch_response, rest(), a LoadTestShape, event hooks of every kind, a custom (non-HTTP)
client firing ``events.request``, a custom command-line argument read from
``parsed_options``, users that wait for ``spawning_complete``, and HttpUser with a refused
connection. One uvicorn process serves ``bench/locustfiles/app.py`` on 127.0.0.1 (free port).

Each locustfile runs for the same time with the same users (spawn rate = users), by

(a) ``python -m locust --headless -f F -u N -r N -t T --host URL --csv PREFIX`` (plus the
    file's own arguments, e.g. ``--tags browse``), and
(b) the plugin: ``python -m pytest --loadgate-locustfile F --loadgate-users N
    --loadgate-spawn-rate N --loadgate-run-time T --loadgate-host URL`` (the same arguments
    as ``--loadgate-tags``, ``--loadgate-locust-option NAME=VALUE``),

in alternating order. Counts are Locust's own stats of the whole run (ramp-up included) on
both sides: the CLI's ``--json-file`` (written at shutdown; its ``--csv`` files are the last
periodic write, up to a second short) and the plugin's per-test CSV (Locust's ``StatsCSV``
written after the run). Failure kinds: the CLI's failures CSV and the plugin's. The hooks locustfile
also writes, from its ``quit`` listener, how often each hook fired (``HOOKS_OUT``).

Judged per locustfile: the same endpoints (type and name), the same failure kinds (method,
name, error text), every endpoint's request count within +-10% (plugin/CLI), the hook counts
equal (those that fire once per run) or within +-10% (per request); a locustfile that fails to
run under either side is a failure. Prints one row per endpoint and a verdict per file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from support import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "bench" / "locustfiles"
PYTHON = sys.executable
TOLERANCE = 0.10
INI = """[pytest]
loadgate_progress = off
loadgate_report_dir = reports
loadgate_baseline = off
"""


@dataclass
class Case:
    """One locustfile and its own arguments on each side."""

    name: str
    cli_args: list[str] = field(default_factory=list)
    plugin_args: list[str] = field(default_factory=list)
    #: Run this many times longer: random task choice needs ~1000 requests per endpoint for
    #: +-10% to measure the plugin, not the dice.
    longer: int = 1


CASES = [
    Case("lf01_taskset"), Case("lf02_sequential"), Case("lf03_markov"),
    Case("lf04_weights_fixed"),
    Case("lf05_tags", ["--tags", "browse", "--exclude-tags", "slow"],
         ["--loadgate-tags", "browse", "--loadgate-exclude-tags", "slow"]),
    Case("lf06_wait_functions"), Case("lf07_catch_response"), Case("lf08_rest"),
    Case("lf09_shape"), Case("lf10_hooks"), Case("lf11_custom_client"),
    Case("lf12_parsed_options", ["--item-count", "5"],
         ["--loadgate-locust-option", "item_count=5"]),
    Case("lf13_spawning_complete"), Case("lf14_http_user", longer=2),
]


@dataclass
class Side:
    """What one side measured for one locustfile."""

    ok: bool
    detail: str
    requests: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    hooks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@contextlib.contextmanager
def serve_app(work: Path) -> Iterator[str]:
    """``bench/locustfiles/app.py`` under uvicorn on a free port, ready; its log in ``work``."""
    port = free_port()
    server = start_server(
        [PYTHON, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        port=port, log_path=work / "app.log", cwd=FILES)
    try:
        yield server.url
    finally:
        server.stop()


def read_tables(rows: list[list[str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Locust's requests table and failures table (as StatsCSV writes them) → counts."""
    requests: dict[str, int] = {}
    failures: dict[str, int] = {}
    header: list[str] | None = None
    for row in rows:
        if not row:
            header = None
            continue
        if header is None:
            header = row
            continue
        record = dict(zip(header, row, strict=False))
        if "Request Count" in record and record.get("Name") != "Aggregated":
            requests[f"{record['Type']} {record['Name']}"] = int(record["Request Count"])
        elif "Occurrences" in record:
            key = f"{record['Method']} {record['Name']}: {record['Error']}"
            failures[key] = int(record["Occurrences"])
    return requests, failures


def run_side(kind: str, case: Case, url: str, users: int, run_time: int, work: Path,
             env: dict[str, str]) -> Side:
    path = FILES / f"{case.name}.py"
    out = work / f"{kind}-{case.name}"
    out.mkdir()
    hooks_out = out / "hooks.json"
    env = {**env, "HOOKS_OUT": str(hooks_out)}
    if kind == "cli":
        cmd = [PYTHON, "-m", "locust", "--headless", "-f", str(path), "-u", str(users),
               "-r", str(users), "-t", f"{run_time}s", "--host", url, "--csv",
               str(out / "cli"), "--json-file", str(out / "cli"), "--only-summary",
               *case.cli_args]
    else:
        (out / "pytest.ini").write_text(INI)
        cmd = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               # One token: pytest takes a separate path argument into its rootdir search.
               f"--loadgate-locustfile={path}", "--loadgate-users", str(users),
               "--loadgate-spawn-rate", str(users), "--loadgate-run-time", f"{run_time}s",
               "--loadgate-host", url, *case.plugin_args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True,
                          timeout=run_time + 120)
    seconds = time.perf_counter() - started
    if kind == "cli":
        # The CLI's CSV is its last periodic write, up to a second before the end: its counts
        # come from --json-file (written at shutdown), its failure kinds from the CSV.
        rows = []
        table_path = out / "cli_failures.csv"
        if table_path.exists():
            with table_path.open() as fh:
                rows = list(csv.reader(fh))
    else:
        csvs = sorted((out / "reports").glob("*.csv"))
        rows = []
        if csvs:
            with csvs[-1].open() as fh:
                rows = list(csv.reader(fh))
    requests, failures = read_tables(rows)
    if kind == "cli":
        requests = {}
        json_path = out / "cli.json"
        entries = json.loads(json_path.read_text()) if json_path.exists() else []
        for entry in entries:
            requests[f"{entry['method']} {entry['name']}"] = int(entry["num_requests"])
        failures = {kind_: 0 for kind_ in failures}  # kinds only: the CSV's counts lag
    hooks = json.loads(hooks_out.read_text()) if hooks_out.exists() else {}
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    # The plugin passes or fails like a test; without thresholds only a fault fails it.
    ok = bool(requests) and (kind == "cli" or proc.returncode == 0)
    return Side(ok, f"exit {proc.returncode}: {' | '.join(tail)}", requests, failures,
                hooks, seconds)


def compare(case: Case, cli: Side, plugin: Side) -> tuple[bool, list[str]]:
    lines: list[str] = []
    problems: list[str] = []
    if not cli.ok or not plugin.ok:
        problems.append(f"ran: cli {cli.ok} ({cli.detail}); plugin {plugin.ok}"
                        f" ({plugin.detail})")
    for name in sorted(set(cli.requests) | set(plugin.requests)):
        a, b = cli.requests.get(name), plugin.requests.get(name)
        ratio = (b / a) if a and b is not None else float("nan")
        flag = "" if a and b is not None and abs(ratio - 1) <= TOLERANCE else "  <-- differs"
        if flag:
            problems.append(f"{name}: cli {a} vs plugin {b}")
        lines.append(f"    {name:44s} cli {a!s:>6} plugin {b!s:>6}  ratio {ratio:5.2f}{flag}")
    if set(cli.failures) != set(plugin.failures):
        only_cli = sorted(set(cli.failures) - set(plugin.failures))
        only_plugin = sorted(set(plugin.failures) - set(cli.failures))
        problems.append(f"failure kinds differ: only cli {only_cli}, only plugin {only_plugin}")
    for kind in sorted(cli.failures):
        lines.append(f"    failure kind {kind[:70]:70s} in both"
                     if kind in plugin.failures else f"    failure kind {kind[:70]} cli only")
    if cli.hooks or plugin.hooks:
        for hook in sorted(set(cli.hooks) | set(plugin.hooks)):
            a, b = cli.hooks.get(hook), plugin.hooks.get(hook)
            per_request = hook.startswith(("request", "user_error"))
            same = (a is not None and b is not None and
                    (abs(b - a) <= TOLERANCE * a if per_request else a == b))
            if not same:
                problems.append(f"hook {hook}: cli {a} vs plugin {b}")
            lines.append(f"    hook {hook:39s} cli {a!s:>6} plugin {b!s:>6}"
                         f"{'' if same else '  <-- differs'}")
    return not problems, lines + [f"    PROBLEM: {p}" for p in problems]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--run-time", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=None, help="case name prefixes")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or any(c.name.startswith(p) for p in args.only)]
    work = Path(tempfile.mkdtemp(prefix="loadgate-equivalence-"))
    env = {**os.environ, "CLOSED_PORT": str(free_port()), "PYTHONPATH": str(FILES)}
    verdicts: list[tuple[str, bool]] = []
    try:
        with serve_app(work) as url:
            print(f"{len(cases)} locustfiles, {args.users} users, {args.run_time} s each side,"
                  f" target {url}")
            for i, case in enumerate(cases):
                order = ["cli", "plugin"] if i % 2 == 0 else ["plugin", "cli"]
                sides = {kind: run_side(kind, case, url, args.users,
                                        args.run_time * case.longer, work, env)
                         for kind in order}
                ok, lines = compare(case, sides["cli"], sides["plugin"])
                verdicts.append((case.name, ok))
                print(f"{case.name} ({' then '.join(order)}): {'SAME' if ok else 'DIFFERENT'}")
                print("\n".join(lines), flush=True)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    same = sum(ok for _, ok in verdicts)
    print(f"\n{same}/{len(verdicts)} locustfiles behave the same under the plugin and"
          f" locust --headless (goal: all; counts within +-{TOLERANCE:.0%})")
    return 0 if same == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
