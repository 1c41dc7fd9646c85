"""What each per-request hook of the plugin costs inside a real full-speed run (a diagnostic).

    .venv/bin/python bench/hook_cost.py [--seconds 200] [--users 20] [--period 1.5]
        [--hooks recorder,bucket,pace,gc,all] [--max-samples N]

Why: on this shared 2-core machine the load drifts by 10-25% between runs a minute apart, so
comparing whole runs with a hook on and off (or the plugin against ``locust --headless``) needs
many runs to see a 2-5% effect. Here one in-process run (``bench/locustfile_trivial.py``,
``--users`` FastHttpUsers with no wait, against ``bench/trivial_app.py``) switches the hooks
off and on itself, a period at a time, and compares each "off" period with the "on" periods
just before and after it: the drift cancels out in each such pair.

The hooks, switched from inside the run (plugin and Locust internals, a diagnostic only):
- ``recorder``: the sample recorder's ``request`` listener (removed from the event's list);
- ``bucket``: the 0.1 ms ``bucket_response_time`` the plugin gives Locust's stats;
- ``pace``: the pace meter's wrapper of ``TaskSet._sleep``;
- ``gc``: the GC meter's ``gc.callbacks``;
- ``all``: every one of them.
(The in-flight tracker's wrapper of ``FastHttpSession.request`` was one until ce1d810; the
tracker has no per-request part any more.)
``--hooks`` picks which to switch off (fewer hooks: more periods each, in the same run time).

Each period: 0.2 s to settle, then ``--period`` seconds measured: the process's CPU time
(user + sys) over the requests Locust counted. The sequence is on, X, on, Y, ... so every
"off" period has an "on" neighbour on each side. Printed per hook: the median and mean of
(on neighbours' mean - off) in microseconds of CPU a request, and the "on" median beside.
Figures are of the pytest process as a whole at full speed, not a micro-benchmark.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from support import BENCH, SLACK_SEC, child_env, start_trivial_app, tail

HOOKS = ["recorder", "bucket", "pace", "gc", "all"]

TEST = '''
import gc
import json
import resource

import gevent
import locust
import locust.stats
import pytest
from locust.contrib.fasthttp import FastHttpSession
from locust.user.task import TaskSet
from locustfile_trivial import TrivialUser
from pytest_loadgate.run.recorder import SampleRecorder

ORIGINAL_REQUEST = FastHttpSession.__dict__["request"]
ORIGINAL_BUCKET = locust.stats.bucket_response_time
ORIGINAL_SLEEP = TaskSet.__dict__["_sleep"]
HOOKS = {hooks!r}
ENV = {{}}


@locust.events.init.add_listener
def _init(environment, **_):
    ENV["env"] = environment


def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def switcher(periods):
    while "env" not in ENV or ENV["env"].stats.total.num_requests < 1000:
        gevent.sleep(0.05)
    env = ENV["env"]
    hooked = {{"bucket": locust.stats.bucket_response_time,
               "pace": TaskSet.__dict__["_sleep"], "gc": list(gc.callbacks)}}
    assert FastHttpSession.__dict__["request"] is ORIGINAL_REQUEST and hooked["gc"]
    assert hooked["pace"] is not ORIGINAL_SLEEP
    recorder = next(h for h in env.events.request._handlers
                    if isinstance(getattr(h, "__self__", None), SampleRecorder))
    sequence = [state for hook in HOOKS for state in ("on", hook)]
    gevent.sleep(3)  # past the ramp
    for i in range(10**9):
        state = sequence[i % len(sequence)]
        off = {{"recorder", "bucket", "pace", "gc"}} if state == "all" else {{state}}
        locust.stats.bucket_response_time = (ORIGINAL_BUCKET if "bucket" in off
                                             else hooked["bucket"])
        TaskSet._sleep = ORIGINAL_SLEEP if "pace" in off else hooked["pace"]
        gc.callbacks[:] = [] if "gc" in off else hooked["gc"]
        handlers = env.events.request._handlers
        if "recorder" in off and recorder in handlers:
            handlers.remove(recorder)
        elif "recorder" not in off and recorder not in handlers:
            handlers.insert(0, recorder)
        gevent.sleep(0.2)
        cpu0, n0 = cpu_s(), env.stats.total.num_requests
        gevent.sleep({period})
        cpu1, n1 = cpu_s(), env.stats.total.num_requests
        if n1 > n0:
            periods.append((state, n1 - n0, (cpu1 - cpu0) * 1e6 / (n1 - n0)))


@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds}s", min_pace=0)
def test_hooks(loadgate):
    periods = []
    greenlet = gevent.spawn(switcher, periods)
    try:
        loadgate.run(TrivialUser)
    finally:
        greenlet.kill()
        TaskSet._sleep = ORIGINAL_SLEEP
        with open("periods.json", "w") as out:
            json.dump(periods, out)
'''

INI = """
[pytest]
loadgate_progress = off
loadgate_report_dir = reports
loadgate_baseline = off
"""


def savings(periods: list[tuple[str, int, float]]) -> dict[str, list[float]]:
    """Per hook: for each of its periods, mean CPU/request of its "on" neighbours minus its
    own."""
    found: dict[str, list[float]] = {}
    for i, (state, _, cost) in enumerate(periods):
        if state == "on":
            continue
        around = [periods[j][2] for j in (i - 1, i + 1)
                  if 0 <= j < len(periods) and periods[j][0] == "on"]
        if around:
            found.setdefault(state, []).append(statistics.mean(around) - cost)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--period", type=float, default=1.5)
    parser.add_argument("--max-samples", type=int, default=None,
                        help="--loadgate-max-samples for the run (e.g. 1000: all of it past the"
                             " raw-sample cap, in per-second histograms)")
    parser.add_argument("--hooks", default=",".join(HOOKS),
                        help=f"comma-separated, of {', '.join(HOOKS)}")
    args = parser.parse_args()
    hooks = [h.strip() for h in args.hooks.split(",") if h.strip()]
    unknown = sorted(set(hooks) - set(HOOKS))
    if unknown or not hooks:
        parser.error(f"--hooks {args.hooks!r}: unknown {unknown}; choose from {HOOKS}")
    with tempfile.TemporaryDirectory(prefix="loadgate-hooks-") as tmp:
        work = Path(tmp)
        (work / "pytest.ini").write_text(INI)
        (work / "test_hooks.py").write_text(TEST.format(
            hooks=hooks, period=args.period, users=args.users, seconds=args.seconds))
        env = child_env(None)
        server = start_trivial_app(work / "server.log", env)
        try:
            log = work / "pytest.log"
            with log.open("wb") as out:
                code = subprocess.run(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                     "--loadgate-host", server.url, "test_hooks.py",
                     *([f"--loadgate-max-samples={args.max_samples}"]
                       if args.max_samples else [])], cwd=work, env=env,
                    stdout=out, stderr=subprocess.STDOUT, timeout=args.seconds + SLACK_SEC,
                    check=False).returncode
        finally:
            server.stop()
        periods_file = work / "periods.json"
        if not periods_file.exists():
            raise SystemExit(f"the run left no periods (pytest exit {code}):\n{tail(log)}")
        periods = [tuple(p) for p in json.loads(periods_file.read_text())]
    on = [cost for state, _, cost in periods if state == "on"]
    print(f"hook cost inside one {args.seconds} s run at full speed ({args.users} users,"
          f" trivial app, {BENCH.name}/locustfile_trivial.py), {args.period:g} s periods;"
          f" pytest exit {code}"
          + (f"; raw samples capped at {args.max_samples}" if args.max_samples else ""))
    print(f"  on: {len(on)} periods, CPU per request median {statistics.median(on):.1f} us")
    print(f"  {'off':10s} {'periods':>7s} {'saving median':>14s} {'mean':>7s}  (us a request)")
    for hook, found in savings(periods).items():  # type: ignore[arg-type]
        print(f"  {hook:10s} {len(found):7d} {statistics.median(found):14.2f}"
              f" {statistics.mean(found):7.2f}")


if __name__ == "__main__":
    main()
