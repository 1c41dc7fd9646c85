"""A large heap in the test process against the generator's garbage-collector pauses: the
run with the pre-run heap frozen (as shipped) and without (issue #12, a diagnostic).

    .venv/bin/python bench/gc_heap.py [--objects 1000000] [--seconds 60] [--repeats 2]
        [--users 20] [--keep]

Why: a pytest process carries a heap ``locust --headless`` does not (pytest, its plugins,
the session's fixtures and data), and every full collection of Python's cyclic collector
walks all of it. While the generator collects it sends nothing and the requests in flight
have the pause added to their latency. The runner now freezes the heap that exists before
the run (``gc.freeze``, ``run/gc_meter.py``) and releases it afterwards.

What it runs: one ``bench/trivial_app.py`` server; a generated perf test whose module-scoped
fixture holds ``--objects`` small records (a dict with a list each: two tracked objects per
record), runs ``--users`` no-wait ``FastHttpUser``s for ``--seconds``. Two arms run **at the
same time**, each in its own pytest process, ``--repeats`` times: ``frozen`` (the plugin as it
is) and ``unfrozen`` (the same, with a ``conftest.py`` that makes ``gc.freeze`` a no-op in
that child: bench-only, the plugin has no switch for it). Run together, the two share the
machine's drift and its cores evenly (as in ``bench/side_by_side.py``), so the ratio of their
rps is the ratio of their cost per request; run one after the other, a single 5-minute pair
differed by 10% with no full collection in either. Per run, from the plugin's JSON report
(``generator_resources``): full collections, their pause in all, the longest pause, the share
of the verdict window paused; and the window's rps and the generator's CPU per request
(``os.wait4``, whole process). Printed side by side with the medians of each arm and their
ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import inprocess_vs_cli as ivc
from support import (
    REPO,
    child_env,
    freeze_sources,
    git_revision,
    start_trivial_app,
    tail,
)

TEST = '''
import pytest
from locustfile_trivial import TrivialUser


@pytest.fixture(scope="module")
def data():
    """What a test session may hold: records built before the run."""
    return [{{"id": i, "tags": [i]}} for i in range({objects})]


@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds:g}s")
def test_heap(loadgate, data):
    loadgate.run(TrivialUser)
    assert len(data) == {objects}
'''

INI = """
[pytest]
loadgate_progress = off
loadgate_report_dir = reports
loadgate_baseline = off
"""

NO_FREEZE = '''
import gc

gc.freeze = lambda: None  # bench arm "unfrozen": the pre-run heap stays collectable
'''

SLACK_SEC = 120.0


@dataclass
class Figures:
    arm: str
    full: float
    full_ms: float
    max_pause_ms: float
    share: float
    rps: float
    cpu_us: float


def run_arm(arm: str, server_url: str, workdir: Path, sources: Path, args: argparse.Namespace
            ) -> Figures:
    workdir.mkdir(parents=True)
    (workdir / "pytest.ini").write_text(INI)
    (workdir / "test_heap.py").write_text(TEST.format(objects=args.objects, users=args.users,
                                                      seconds=args.seconds))
    if arm == "unfrozen":
        (workdir / "conftest.py").write_text(NO_FREEZE)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-q", "--loadgate-host", server_url, "test_heap.py"]
    log = workdir / "pytest.log"
    proc = ivc.run_measured(cmd, cwd=workdir, log_path=log, env=child_env(sources),
                            timeout_s=args.seconds + SLACK_SEC)
    reports = sorted((workdir / "reports").glob("*.json"))
    if len(reports) != 1:
        raise SystemExit(f"{arm}: no single JSON report (exit {proc.code}):\n{tail(log)}")
    doc = json.loads(reports[0].read_text())
    gen = doc.get("generator_resources") or {}
    total = doc["total"]
    requests = total["requests"]
    return Figures(arm, float(gen.get("gc_full_collections", 0.0)),
                   float(gen.get("gc_full_ms", 0.0)), float(gen.get("gc_max_pause_ms", 0.0)),
                   float(gen.get("gc_share", 0.0)), float(total["rps"]),
                   proc.cpu_s / max(requests, 1) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="loadgate-gc-heap-"))
    sources = root / "src"
    imported = freeze_sources(sources, [REPO / "src" / "pytest_loadgate"],
                              ["pytest_loadgate", "pytest_loadgate.run.runner"])
    print(f"code under test: src/pytest_loadgate from git"
          f" {git_revision(['src/pytest_loadgate'])}; children import {imported}")
    print(f"{args.objects:,} records in a fixture (2 tracked objects each), {args.users} users,"
          f" {args.seconds:g} s a run, {args.repeats} runs an arm, both arms at once",
          flush=True)
    server = start_trivial_app(root / "server.log", child_env(sources))
    rows: list[Figures] = []
    try:
        for rep in range(args.repeats):
            with ThreadPoolExecutor(2) as pool:
                runs = [pool.submit(run_arm, arm, server.url, root / f"{arm}{rep}", sources,
                                    args) for arm in ("frozen", "unfrozen")]
                pair = [run.result() for run in runs]
            rows.extend(pair)
            for row in pair:
                print(f"  {row.arm:9} full collections {row.full:4.0f}"
                      f"  paused {row.full_ms:8.1f} ms"
                      f"  longest {row.max_pause_ms:7.1f} ms  share {row.share * 100:5.2f}%"
                      f"  rps {row.rps:8.1f}  CPU {row.cpu_us:6.1f} us/req", flush=True)
            print(f"  run {rep + 1}: rps frozen/unfrozen {pair[0].rps / pair[1].rps:.3f}",
                  flush=True)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    med = {arm: {k: statistics.median(getattr(r, k) for r in rows if r.arm == arm)
                 for k in ("full", "full_ms", "max_pause_ms", "share", "rps", "cpu_us")}
           for arm in ("frozen", "unfrozen")}
    print("medians       frozen   unfrozen")
    for key, label in (("full", "full collections"), ("full_ms", "full pauses, ms"),
                       ("max_pause_ms", "longest pause, ms"), ("share", "window paused"),
                       ("rps", "rps"), ("cpu_us", "CPU us/request")):
        f, u = med["frozen"][key], med["unfrozen"][key]
        print(f"  {label:18} {f:10.3f} {u:10.3f}"
              + (f"   ratio frozen/unfrozen {f / u:.3f}" if u else ""))


if __name__ == "__main__":
    main()
