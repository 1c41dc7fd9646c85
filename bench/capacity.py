"""Capacity search (issue #16, "Prove it"): is ``loadgate.capacity()`` repeatable, does it
scale with the server's cost, what does precision cost in time, and does it agree with a
closed-model throughput ceiling?

    .venv/bin/python bench/capacity.py [--repeats 10] [--precision 0.05] [--step-time 10s]
        [--validation-time 30s] [--warmup 2s] [--targets shop,shop-cpu2,toy1,toy2,toy4]
        [--precisions 0.2,0.1,0.05] [--precision-repeats 3] [--base-work-ms 2]
        [--reference-users 32] [--reference-time 20s] [--reference-repeats 2] [--json FILE]
        [--keep]
    .venv/bin/python bench/capacity.py --report FILE   # the tables of an earlier --json

Smoke run (a shared box; under a minute): ``--repeats 1 --targets toy1 --step-time 1.5s
--validation-time 3s --warmup 0.5s --precision 0.25 --precisions 0.25 --reference-time 5s
--reference-repeats 1``.

Targets, each booted by the plugin itself for every pytest session (so each search starts on
a fresh server, and the plugin samples the server's CPU, which the report's probes carry):

    shop        the demo shop (``demo_api.main:app``, one uvicorn process) on a fresh SQLite
                file with 50 products, searched with ``tests/perf/shop_users.py``'s Shopper
                (the seed's mix). On 2 cores the server and one in-process generator give
                out at about the same rate: its capacity comes out either "found" or
                "≥ N (generator-bound)", a lower bound within the precision of where the
                generator gave out
    shop-cpu2   the same with ``DEMO_API_FAULTS="*:cpu_ms=2"`` (2 ms more CPU per request in
                the event loop): the server becomes the limit
    toyK        ``bench/cpu_app.py`` (pure ASGI, one uvicorn process), ``GET /work`` burning
                K x ``--base-work-ms`` (default 2 ms) of CPU per request, K = 1, 2, 4 (any
                integer K is accepted); a one-request user with no wait. With 2 ms the
                capacities are about 450 / 230 / 120 rps, within reach of one generator
                (the server's CPU is the limit: the generator needs a fraction of a core)

The search, the same for every target: ``@pytest.mark.capacity(slo={"p95_ms": 200,
"max_error_rate": 0.01}, start_rate=50, max_rate=3000, precision=P, step_time=S,
validation_time=V, warmup=W)`` and ``loadgate.capacity(User)`` in a generated one-test
pytest session (``python -m pytest`` in a temp dir, in-process generator, baseline off), run
as a subprocess; the figures come from the test's JSON report (its ``capacity`` block) and the
search's wall time from inside the test (around ``loadgate.capacity()``; the session's wall
time, with interpreter start and server boot, is printed too). A search that crashed, timed
out, wrote no capacity block, or ended ``below``/``unknown`` counts as failed and is listed,
never left out silently; a lower bound (``at_least``: generator-bound, max_rate) counts as a
number but is counted apart.

Parts, in this order:

1. Reference, per target: a closed-model run, ``@pytest.mark.perf(users=U, spawn_rate=U,
   run_time=T)`` with a no-wait user (the toy's one; for the shop, Shopper with no wait), its
   verdict-window throughput (the report's ``total.rps``) being the rate the setup can
   deliver at all. Capacity is an open-model rate under a p95 limit, so it must be ≤ it
   (capacity/reference ≤ 1; the SLO may hold it lower). ``--reference-repeats`` runs per
   target, the first round before the searches and the others after them; the best run
   counts (a ceiling: a run slowed by other work on the box must not lower it), the range is
   printed. ``--reference-time 0`` skips it. For a generator-bound target (the shop) the
   capacity is a lower bound and the comparison says little.
2. Repeats: ``--repeats`` searches per target, interleaved (repeat 1 of every target, then
   repeat 2, ...) so that drift of a shared machine hits every target alike. Per target:
   mean capacity, CV = stdev/mean (goal ≤ 5%), min/max, bounds, generator-bound and validated
   counts, probes, wall time per search, and the server's CPU (cores) at the lowest failing
   rate (about 1.0 = the single-process server was the bottleneck there), the cores other
   processes used meanwhile and how many reports said the machine was busy. Ratios of mean
   capacities toy2/toy1 and toy4/toy1 against 0.5 and 0.25 (goal: within 15%, judged only
   while every search of the pair was server-bound, i.e. ``found`` and not generator-bound),
   with the implied server cost per request (1000 / capacity ms) and its straight-line fit
   ``a + K x b``: a fixed cost ``a`` per request (HTTP, uvicorn) pulls the ratios above the
   ideal; the closed references' own ratio is printed beside (what the app itself scales by).
3. Wall time vs precision: ``--precision-repeats`` searches on toy1 at each of
   ``--precisions``; the toy1 searches of part 2 are reused for ``--precision`` itself.

Method notes. ``src/pytest_loadgate`` and ``demo/src/demo_api`` are copied at the start and
put first on every child's PYTHONPATH (``support.freeze_sources``); each session records the
plugin it imported and a session that ran other code stops the bench. ``bench/cpu_app.py``
is imported from ``bench/``. Every session is a subprocess bounded by a timeout (the
plugin's own budget for a capacity test: max_probes x (validation + 30 s), plus 120 s) and
killed with its children, the booted server included, in ``finally`` (``support.kill_tree``
via ``support.run_bounded``); SIGTERM is turned into an interrupt so that happens then too.
The generator, the server and the bench share the machine (2 cores here) with whatever else
runs: every search prints the load average at its start and the cores other processes used
during it (the machine's process CPU time and steal, minus this bench's and its reaped
children's; interrupts are left out, since our own loopback traffic is counted there).

Duration. A search probes about log2(capacity / 50) + 1 rates on the ramp, then
log2(1 / precision) bisection steps, then the validation, each probe taking its step time
plus about 0.5 s, and each session about 5 s more (interpreter, server boot): with the
defaults 9-11 probes, about 2-2.5 minutes per search (a generator-bound probe caps the
search like a failure, so a shop search takes as long). A validation that fails makes the
rest of its search run at validation length (each further probe 30 s instead of 10 s): up
to about 1.5 minutes more for that search. Full default run: 5 targets x 10 repeats (about
100 minutes) + 2 x 5 references (about 4 minutes) + 3 searches at each of 0.2 and 0.1
(about 13 minutes): about 2 hours, up to 2.5-3 hours when validations fail often. The bench
prints its own estimate at the start and the elapsed time at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
from support import (
    REPO,
    SLACK_SEC,
    Column,
    child_env,
    fmt,
    freeze_sources,
    git_revision,
    print_table,
    run_bounded,
    run_time_seconds,
    tail,
)

SLO = {"p95_ms": 200, "max_error_rate": 0.01}
START_RATE = 50
MAX_RATE = 3000
#: The plugin's default probe budget (counting the validation).
MAX_PROBES = 16
#: The plugin's margin per probe in a capacity test's time budget (RUN_BUDGET_MARGIN_SEC / 6).
PROBE_MARGIN_SEC = 30.0
#: Rough cost of a probe beyond its step time (users, drain, figures), for the estimate.
PROBE_OVERHEAD_SEC = 0.5
#: Rough cost of a session beyond its searches (interpreter, imports, server boot, seeding).
SESSION_OVERHEAD_SEC = 5.0
CV_GOAL = 0.05
RATIO_TOLERANCE = 0.15
SHOP_PRODUCTS = 50
SHOP_USERS = REPO / "tests" / "perf" / "shop_users.py"
TOY = re.compile(r"^toy([1-9][0-9]?)$")
SHOP_TARGETS = {"shop": "", "shop-cpu2": "*:cpu_ms=2"}
DEFAULT_TARGETS = "shop,shop-cpu2,toy1,toy2,toy4"
#: Capacities assumed for the time estimate only (iterations/s).
SHOP_GUESS_RPS = {"shop": 800.0, "shop-cpu2": 350.0}
#: Fixed server cost per toy request assumed for the estimate (ms).
TOY_OVERHEAD_GUESS_MS = 0.2

INI = """
[pytest]
loadgate_app = {app}
loadgate_health_path = /health
loadgate_progress = off
loadgate_report_dir = reports
loadgate_baseline = off
"""

TOY_USERS = '''
"""The toy's user: one ``GET /work`` per iteration, no wait (closed runs)."""

from locust import FastHttpUser, constant, task


class Worker(FastHttpUser):
    wait_time = constant(0)

    @task
    def work(self) -> None:
        self.client.get("/work")
'''

SHOP_CONFTEST = '''
import uuid

import pytest
import requests
from pytest_loadgate.target.server import boot_target


@pytest.fixture(scope="session")
def loadgate_server(loadgate_settings, tmp_path_factory):
    """The shop on a fresh SQLite file with {products} products, faults {faults!r}."""
    data = tmp_path_factory.mktemp("shop")
    env = {{"DATABASE_URL": f"sqlite:///{{data / 'shop.db'}}", "DEMO_API_FAULTS": {faults!r}}}
    with boot_target(loadgate_settings, env) as target:
        with requests.Session() as http:
            for n in range({products}):
                http.post(target.url + "/products/", timeout=10, json={{
                    "name": f"Product {{n}}", "sku": f"C-{{uuid.uuid4().hex[:20]}}",
                    "price": 9.99, "stock": 1_000_000}}).raise_for_status()
        yield target
'''

HEADER = '''
import json
import time
from pathlib import Path

import pytest
import pytest_loadgate.plugin
from locust import constant
from {module} import {user}

Path("plugin_path.txt").write_text(pytest_loadgate.plugin.__file__)


class NoWait({user}):
    """{user} with no wait: the closed reference."""

    wait_time = constant(0)
'''

CAPACITY_TEST = '''
@pytest.mark.capacity(slo={slo!r}, start_rate={start}, max_rate={top}, precision={precision!r},
                      step_time="{step:g}s", validation_time="{validation:g}s",
                      warmup="{warmup:g}s")
def test_capacity(loadgate):
    started = time.perf_counter()
    try:
        loadgate.capacity({user})
    finally:
        Path("search_wall.json").write_text(json.dumps({{"wall_s": time.perf_counter() - started}}))
'''

REFERENCE_TEST = '''
@pytest.mark.perf(users={users}, spawn_rate={users}, run_time="{seconds:g}s")
def test_reference(loadgate):
    loadgate.run(NoWait)
'''

SEARCH_COLUMNS = (
    Column("target", 10, align="<"), Column("server", 18, align="<"),
    Column("ok/runs", 7), Column("capacity", 8, ".1f"), Column("CV %", 5, ".1f"),
    Column("min", 6, ".0f"), Column("max", 6, ".0f"), Column("found", 5, "d"),
    Column("≥", 3, "d"), Column("gen-bound", 9, "d"), Column("validated", 9, "d"),
    Column("probes", 6, ".1f"), Column("search s", 8, ".0f"), Column("session s", 9, ".0f"),
    Column("srv cores", 9), Column("others", 6), Column("busy", 4, "d"),
    Column("CV goal", 8, align="<", gap="  "),
)
RATIO_COLUMNS = (
    Column("pair", 11, align="<"), Column("ratio", 6, ".3f"), Column("goal", 5, ".2f"),
    Column("off by", 7), Column("range (min..max)", 16), Column("ref ratio", 9),
    Column("judged", 26, align="<", gap="  "),
)
COST_COLUMNS = (
    Column("target", 8, align="<"), Column("work ms", 7, ".1f"), Column("capacity", 8, ".1f"),
    Column("ms/request", 10, ".3f"), Column("fit ms", 7, ".3f"),
)
PRECISION_COLUMNS = (
    Column("precision", 9, ".2f"), Column("ok/runs", 7), Column("probes", 6, ".1f"),
    Column("search s", 8, ".0f"), Column("min s", 5, ".0f"), Column("max s", 5, ".0f"),
    Column("capacity", 8, ".1f"), Column("CV %", 5), Column("source", 20, align="<", gap="  "),
)
REFERENCE_COLUMNS = (
    Column("target", 10, align="<"), Column("capacity", 8, ".1f"), Column("reference", 9),
    Column("range", 9), Column("ref p95", 7), Column("cap/ref", 7), Column("max cap/ref", 11),
    Column("verdict", 30, align="<", gap="  "),
)


# -- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What is searched: the shop (with ``faults``) or the toy app at ``work_ms``."""

    key: str
    faults: str = ""
    work_ms: float | None = None  # the toy's CPU per request; None for the shop
    factor: int = 0  # the toy's K

    @property
    def is_toy(self) -> bool:
        return self.work_ms is not None

    @property
    def label(self) -> str:
        if self.work_ms is not None:
            return f"toy {self.work_ms:g} ms CPU"
        return f"shop {self.faults}" if self.faults else "shop"


def parse_targets(text: str, base_work_ms: float) -> list[Target]:
    """``shop,shop-cpu2,toy1,toy2,toy4`` -> targets."""
    targets: list[Target] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        toy = TOY.match(part)
        if toy:
            factor = int(toy[1])
            targets.append(Target(part, work_ms=factor * base_work_ms, factor=factor))
        elif part in SHOP_TARGETS:
            targets.append(Target(part, faults=SHOP_TARGETS[part]))
        else:
            raise SystemExit(f"--targets: {part!r} is not one of {', '.join(SHOP_TARGETS)} or"
                             " toyK (K = 1..99: K x --base-work-ms of CPU per request)")
        if [t.key for t in targets].count(part) > 1:
            raise SystemExit(f"--targets: {part!r} is given twice")
    if not targets:
        raise SystemExit("--targets: no target given")
    return targets


def fraction(text: str) -> float:
    """A precision 0 < p < 1 (argparse ``type=``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (0.05 = 5%)")
    return value


def fractions(text: str) -> list[float]:
    """``0.2,0.1,0.05`` -> precisions (argparse ``type=``); empty: none."""
    return [fraction(p) for p in filter(None, (p.strip() for p in text.split(",")))]


def seconds(text: str) -> float:
    """A duration, ``10s``/``1m``/``1.5`` (argparse ``type=``)."""
    try:
        value = run_time_seconds(text)
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 10s or 1m") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


# -- one session --------------------------------------------------------------------------------


@dataclass
class Search:
    """One capacity search's outcome (``error`` says why there is none)."""

    target: str
    precision: float
    repeat: int
    capacity_rps: float | None = None
    bound: str = "error"
    validated: bool = False
    generator_bound: bool = False
    failed_at_rps: float | None = None
    probes: list[dict[str, Any]] = field(default_factory=list)
    search_s: float | None = None
    session_s: float = 0.0
    exit_code: int | None = None
    describe: str = ""
    error: str = ""
    load_avg: float = 0.0
    others_cores: float | None = None
    #: The shown probe's report said the machine was busy (CPU pressure or steal).
    machine_busy: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A number came out (found or a lower bound)."""
        return self.capacity_rps is not None and self.bound in ("found", "at_least")

    @property
    def server_bound(self) -> bool:
        return self.bound == "found" and not self.generator_bound

    @property
    def server_cores_at_failure(self) -> float | None:
        """The server's CPU (cores) in the probe at the lowest failing rate."""
        cores = [p.get("server_cpu_cores") for p in self.probes
                 if self.failed_at_rps is not None and p.get("rate") == self.failed_at_rps]
        found = [c for c in cores if isinstance(c, int | float)]
        return max(found) if found else None

    def line(self) -> str:
        """What one search found, for the progress output."""
        head = f"{self.target} #{self.repeat} (precision {self.precision:g}):"
        load = f"load avg {self.load_avg:.2f}, others {fmt(self.others_cores, '.2f')} cores"
        if self.error:
            return f"{head} FAILED: {self.error} [{self.session_s:.0f} s, {load}]"
        return (f"{head} {self.describe} [{len(self.probes)} probes,"
                f" search {fmt(self.search_s, '.0f')} s, session {self.session_s:.0f} s, {load}]")


@dataclass
class Reference:
    """A closed no-wait run's throughput (``error`` says why there is none)."""

    target: str
    round: int
    rps: float | None = None
    p95_ms: float | None = None
    error: str = ""
    others_cores: float | None = None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        figures = (f"{fmt(self.rps)} rps, p95 {fmt(self.p95_ms)} ms, others"
                   f" {fmt(self.others_cores, '.2f')} cores")
        return f"reference {self.target} #{self.round}: {figures}" + (
            f"; PROBLEM: {self.error}" if self.error else "")


def _session_files(where: Path, target: Target) -> tuple[str, str]:
    """Write the ini, the conftest (shop) and the users module; return (module, user)."""
    where.mkdir(parents=True)
    if target.is_toy:
        (where / "pytest.ini").write_text(INI.format(app="cpu_app:app"))
        (where / "cpu_users.py").write_text(TOY_USERS)
        return "cpu_users", "Worker"
    (where / "pytest.ini").write_text(INI.format(app="demo_api.main:app"))
    (where / "conftest.py").write_text(
        SHOP_CONFTEST.format(products=SHOP_PRODUCTS, faults=target.faults))
    shutil.copy(SHOP_USERS, where / "shop_users.py")
    return "shop_users", "Shopper"


def _machine_busy_s() -> float:
    """CPU seconds the whole machine's processes have used, and the hypervisor has stolen
    (interrupts left out: the loopback packets of our own load are counted there)."""
    t = psutil.cpu_times()
    return float(sum(getattr(t, name, 0.0) for name in ("user", "system", "nice", "steal")))


def _ours_s() -> float:
    """CPU seconds of this process and of every descendant it has waited for (pytest, and
    through it the server it booted)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Session:
    """How a pytest session ended."""

    code: int | None  # None: timed out
    wall_s: float
    problem: str
    #: Cores used meanwhile by everything that is not this bench or its children.
    others_cores: float | None


def _run_session(where: Path, target: Target, sources: Path, timeout_s: float) -> Session:
    """``python -m pytest`` in ``where``, bounded by ``timeout_s`` and killed with its
    children after it."""
    extra = {"WORK_MS": f"{target.work_ms:g}"} if target.work_ms is not None else {}
    env = child_env(sources, **extra)
    env.pop("LOADGATE_TOKEN", None)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-q", "-rfE", "test_bench.py"]
    log = where / "pytest.log"
    busy, ours = _machine_busy_s(), _ours_s()
    code, wall = run_bounded(cmd, cwd=where, log_path=log, timeout_s=timeout_s, env=env)
    others = ((_machine_busy_s() - busy) - (_ours_s() - ours)) / wall if wall > 0 else None
    problem = ""
    if code is None:
        problem = f"timed out after {timeout_s:g} s (killed with its children)"
    imported = where / "plugin_path.txt"
    if imported.exists() and not Path(imported.read_text().strip()).is_relative_to(sources):
        raise SystemExit(f"{where}: the session imported {imported.read_text().strip()}, not"
                         f" the frozen copy in {sources}")
    # A killed session's descendants are reaped by us, not through pytest: counted as others.
    return Session(code, wall, problem,
                   None if code is None or others is None else max(others, 0.0))


def _report(where: Path, key: str) -> dict[str, Any] | None:
    """The session's JSON report holding ``key`` (non-empty), if any."""
    for path in sorted((where / "reports").glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and doc.get(key):
                return doc
    return None


def search_once(target: Target, args: argparse.Namespace, precision: float, repeat: int,
                where: Path, sources: Path) -> Search:
    """One capacity search on ``target`` in a fresh session (and a freshly booted server)."""
    module, user = _session_files(where, target)
    (where / "test_bench.py").write_text(
        HEADER.format(module=module, user=user) + CAPACITY_TEST.format(
            slo=SLO, start=START_RATE, top=MAX_RATE, precision=precision,
            step=args.step_time, validation=args.validation_time, warmup=args.warmup,
            user=user))
    search = Search(target.key, precision, repeat, load_avg=os.getloadavg()[0])
    timeout = MAX_PROBES * (args.validation_time + PROBE_MARGIN_SEC) + SLACK_SEC
    session = _run_session(where, target, sources, timeout)
    code, problem = session.code, session.problem
    search.exit_code, search.session_s = code, session.wall_s
    search.others_cores = session.others_cores
    wall = where / "search_wall.json"
    if wall.exists():
        search.search_s = float(json.loads(wall.read_text())["wall_s"])
    doc = _report(where, "capacity")
    if doc is None:
        search.error = (problem or f"pytest exited {code} without a capacity report") + \
            f"; last lines of {where / 'pytest.log'}:\n{tail(where / 'pytest.log', 12)}"
        return search
    cap = doc["capacity"]
    search.capacity_rps = cap.get("capacity_rps")
    search.bound = str(cap.get("bound"))
    search.validated = bool(cap.get("validated"))
    search.generator_bound = bool(cap.get("generator_bound"))
    search.failed_at_rps = cap.get("failed_at_rps")
    search.probes = list(cap.get("probes") or [])
    search.describe = str(cap.get("describe") or "")
    reasons = [str(r) for r in doc.get("unreliable_reasons", [])]
    search.machine_busy = any(r.startswith("the machine was busy") for r in reasons)
    search.notes = [f"unreliable (the probe the report shows): {r}" for r in reasons]
    if problem:
        search.error = problem
    elif not search.ok:
        search.error = f"bound {search.bound}: {search.describe}"
    return search


def reference_once(target: Target, args: argparse.Namespace, round_: int, where: Path,
                   sources: Path) -> Reference:
    """The closed no-wait run's verdict-window throughput."""
    module, user = _session_files(where, target)
    (where / "test_bench.py").write_text(
        HEADER.format(module=module, user=user)
        + REFERENCE_TEST.format(users=args.reference_users, seconds=args.reference_time))
    session = _run_session(where, target, sources, args.reference_time + SLACK_SEC)
    ref = Reference(target.key, round_, others_cores=session.others_cores)
    doc = _report(where, "total")
    if doc is None:
        ref.error = ((session.problem or f"pytest exited {session.code}, no report")
                     + f":\n{tail(where / 'pytest.log', 12)}")
        return ref
    total = doc["total"]
    ref.rps, ref.p95_ms, ref.error = float(total["rps"]), total.get("p95_ms"), session.problem
    ref.notes = [f"#{round_} unreliable: {r}" for r in doc.get("unreliable_reasons", [])]
    if total.get("error_rate"):
        ref.notes.append(f"#{round_} error rate {total['error_rate']:.4f}")
    return ref


def reference_round(targets: Sequence[Target], args: argparse.Namespace, round_: int,
                    root: Path, sources: Path) -> list[Reference]:
    """One closed reference run per target."""
    found = []
    for target in targets:
        where = root / f"reference-{target.key}-{round_}"
        found.append(reference_once(target, args, round_, where, sources))
        print(f"   {found[-1].line()}", flush=True)
    return found


def reference_rps(references: Sequence[Reference], key: str) -> list[float]:
    return [r.rps for r in references if r.target == key and r.rps]


# -- figures ------------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def cv(values: Sequence[float]) -> float | None:
    """Sample standard deviation / mean (None below two values)."""
    if len(values) < 2 or not statistics.fmean(values):
        return None
    return statistics.stdev(values) / statistics.fmean(values)


def capacities(searches: Sequence[Search]) -> list[float]:
    return [float(s.capacity_rps) for s in searches if s.ok and s.capacity_rps is not None]


def estimate_search_s(capacity: float, precision: float, step_s: float,
                      validation_s: float, generator_bound: bool) -> float:
    """A rough wall time of one search ending at ``capacity`` (see the module docstring)."""
    ramp = math.ceil(math.log2(max(capacity, START_RATE) / START_RATE)) + 1
    if generator_bound:
        return (ramp + 1) * (step_s + PROBE_OVERHEAD_SEC) + SESSION_OVERHEAD_SEC
    bisection = max(math.ceil(math.log2(1 / precision)), 0)
    return ((ramp + bisection) * (step_s + PROBE_OVERHEAD_SEC)
            + validation_s + PROBE_OVERHEAD_SEC + SESSION_OVERHEAD_SEC)


def estimate_s(targets: Sequence[Target], args: argparse.Namespace) -> float:
    """The whole run's rough wall time."""

    def one(target: Target, precision: float) -> float:
        if target.work_ms is not None:
            guess = 1000 / (target.work_ms + TOY_OVERHEAD_GUESS_MS)
            return estimate_search_s(guess, precision, args.step_time, args.validation_time,
                                     False)
        return estimate_search_s(SHOP_GUESS_RPS[target.key], precision, args.step_time,
                                 args.validation_time, target.key == "shop")

    total = float(sum(args.repeats * one(t, args.precision) for t in targets))
    if args.reference_time:
        total += (args.reference_repeats * len(targets)
                  * (args.reference_time + SESSION_OVERHEAD_SEC))
    toy1 = Target("toy1", work_ms=args.base_work_ms, factor=1)
    for precision in precisions_to_run(args, targets):
        total += float(args.precision_repeats * one(toy1, precision))
    return total


def part2_covers_toy1(args: argparse.Namespace, targets: Sequence[Target]) -> bool:
    """Whether part 2 searches toy1 (at ``--precision``), so part 3 reuses those."""
    return any(t.key == "toy1" for t in targets) and args.repeats > 0


def precisions_to_run(args: argparse.Namespace, targets: Sequence[Target]) -> list[float]:
    """The part-3 precisions that need searches of their own."""
    reuse = part2_covers_toy1(args, targets)
    return [p for p in args.precisions if not (reuse and math.isclose(p, args.precision))]


# -- report -------------------------------------------------------------------------------------


def report_searches(targets: Sequence[Target], searches: Sequence[Search],
                    args: argparse.Namespace) -> list[str]:
    """Part 2's table and every failed search; the goals missed."""
    print(f"\n2. capacity over {args.repeats} repeat(s) per target: SLO {SLO}, start_rate"
          f" {START_RATE}, max_rate {MAX_RATE}, precision {args.precision:g}, step"
          f" {args.step_time:g}s, validation {args.validation_time:g}s, warmup {args.warmup:g}s")
    rows = []
    misses = []
    for target in targets:
        mine = [s for s in searches if s.target == target.key and s.precision == args.precision]
        values = capacities(mine)
        spread = cv(values)
        lower = sum(s.bound == "at_least" for s in mine if s.ok)
        if spread is None:
            verdict = "n/a (<2)"
        elif spread <= CV_GOAL:
            verdict = "met"
        else:
            verdict = "MISSED"
            misses.append(f"{target.key}: CV {spread * 100:.1f}% > {CV_GOAL * 100:g}%")
        if lower and verdict != "n/a (<2)":
            verdict += " (bound)"
        cores = [c for s in mine if (c := s.server_cores_at_failure) is not None]
        rows.append((
            target.key, target.label, f"{len(values)}/{len(mine)}", mean(values) or 0.0,
            (spread or 0.0) * 100, min(values, default=0.0), max(values, default=0.0),
            sum(s.bound == "found" for s in mine), lower,
            sum(s.generator_bound for s in mine), sum(s.validated for s in mine),
            mean([float(len(s.probes)) for s in mine if s.probes]) or 0.0,
            mean([s.search_s for s in mine if s.search_s is not None]) or 0.0,
            mean([s.session_s for s in mine]) or 0.0,
            fmt(mean(cores), ".2f"),
            fmt(mean([s.others_cores for s in mine if s.others_cores is not None]), ".2f"),
            sum(s.machine_busy for s in mine), verdict))
    print_table(SEARCH_COLUMNS, rows,
                "(capacity: mean of the searches with a number, iterations/s (= requests/s"
                " here); CV: stdev/mean, goal ≤ 5%, '(bound)': lower bounds among them;"
                " found / ≥: bounds; gen-bound: the generator gave out first; validated: the"
                " number held in the long validation step; search s: inside the test; session"
                " s: the whole pytest run; srv cores: server CPU at the lowest failing rate,"
                " mean; others: cores used by other processes on the machine during the"
                " session, mean; busy: searches whose report says the machine was busy)")
    failed = [s for s in searches if not s.ok or s.error]
    print(f"failed searches: {len(failed)} of {len(searches)}")
    for s in failed:
        print(f"  {s.line()}")
    misses = [f"GOAL MISSED (CV ≤ {CV_GOAL * 100:g}%): {miss}" for miss in misses]
    if failed:
        misses.append(f"FAILED SEARCHES: {len(failed)} of {len(searches)}")
    for miss in misses:
        print(miss)
    return misses


def report_ratios(targets: Sequence[Target], searches: Sequence[Search],
                  references: Sequence[Reference], args: argparse.Namespace) -> list[str]:
    """Capacity ratios of the toy targets against toy1, and the implied cost per request;
    the goals missed."""
    toys = {t.factor: t for t in targets if t.is_toy}
    if 1 not in toys or len(toys) < 2:
        print("\n(no ratios: they need toy1 and another toy target)")
        return []
    by: dict[int, list[Search]] = {k: [s for s in searches if s.target == t.key
                                       and s.precision == args.precision]
                                   for k, t in toys.items()}
    base_values = capacities(by[1])
    base = mean(base_values)
    print(f"\nratios of mean capacities to toy1 ({args.base_work_ms:g} ms); goal: within"
          f" {RATIO_TOLERANCE * 100:g}% of 1/K while the server is the bottleneck")
    rows = []
    misses = []
    for k in sorted(toys):
        if k == 1:
            continue
        values = capacities(by[k])
        if not base or not values:
            rows.append((f"{toys[k].key}/toy1", float("nan"), 1 / k, "-", "-", "-",
                         "no numbers: nothing to judge"))
            misses.append(f"{toys[k].key}/toy1: no capacity numbers")
            continue
        ratio = statistics.fmean(values) / base
        goal = 1 / k
        off = ratio / goal - 1
        spread = f"{min(values) / max(base_values):.3f}..{max(values) / min(base_values):.3f}"
        pair = by[1] + by[k]
        if not all(s.server_bound for s in pair):
            judged = "not judged: " + ", ".join(
                f"{sum(not s.server_bound for s in by[j])} {toys[j].key} not server-bound"
                for j in (1, k) if any(not s.server_bound for s in by[j]))
        elif abs(off) <= RATIO_TOLERANCE:
            judged = "met"
        else:
            judged = "MISSED"
            misses.append(f"{toys[k].key}/toy1 = {ratio:.3f}, {off * 100:+.1f}% from {goal:g}")
        refs = (reference_rps(references, toys[1].key), reference_rps(references, toys[k].key))
        ref_ratio = fmt(max(refs[1]) / max(refs[0]), ".3f") if all(refs) else "-"
        rows.append((f"{toys[k].key}/toy1", ratio, goal, f"{off * 100:+.1f}%", spread, ref_ratio,
                     judged))
    print_table(RATIO_COLUMNS, rows,
                "(range: lowest toyK / highest toy1 .. highest toyK / lowest toy1; ref ratio:"
                " the same ratio of the closed references, what the app itself scales by;"
                " server-bound: every search 'found' and not generator-bound)")
    misses = [f"GOAL MISSED (ratio within {RATIO_TOLERANCE * 100:g}% of 1/K): {miss}"
              for miss in misses]
    for miss in misses:
        print(miss)
    costs = [(k, toys[k], statistics.fmean(v)) for k in sorted(toys)
             if (v := capacities(by[k]))]
    if len(costs) < 2:
        return misses
    xs = [float(k) for k, _, _ in costs]
    ys = [1000 / c for _, _, c in costs]
    slope, intercept = statistics.linear_regression(xs, ys)
    print(f"\nimplied server cost per request = 1000 / capacity; fit a + K x b: a = {intercept:.3f}"
          f" ms fixed, b = {slope:.3f} ms per K (the work is {args.base_work_ms:g} ms per K)")
    print_table(COST_COLUMNS, [
        (t.key, t.work_ms or 0.0, c, 1000 / c, intercept + slope * k) for k, t, c in costs])
    if intercept > 0 and slope > 0:
        print("  with a fixed part a, the ideal ratios become (a + b) / (a + K b): "
              + ", ".join(f"{k}x: {(intercept + slope) / (intercept + k * slope):.3f}"
                          for k, _, _ in costs if k != 1))
    return misses


def report_precision(searches: Sequence[Search], args: argparse.Namespace,
                     reused: bool) -> None:
    """Part 3's table: wall time per search at each precision on toy1."""
    if not args.precisions:
        return
    print(f"\n3. wall time vs precision on toy1 ({args.base_work_ms:g} ms), step"
          f" {args.step_time:g}s, validation {args.validation_time:g}s")
    rows = []
    for precision in sorted(args.precisions, reverse=True):
        mine = [s for s in searches if s.target == "toy1"
                and math.isclose(s.precision, precision)]
        values = capacities(mine)
        walls = [s.search_s for s in mine if s.search_s is not None]
        spread = cv(values)
        source = ("part 2's searches" if reused and math.isclose(precision, args.precision)
                  else "searches of its own")
        rows.append((precision, f"{len(values)}/{len(mine)}",
                     mean([float(len(s.probes)) for s in mine if s.probes]) or 0.0,
                     mean(walls) or 0.0, min(walls, default=0.0), max(walls, default=0.0),
                     mean(values) or 0.0, fmt(spread * 100 if spread is not None else None),
                     source))
    print_table(PRECISION_COLUMNS, rows,
                "(search s: inside the test, around loadgate.capacity(); probes: including the"
                " validation)")


def report_references(targets: Sequence[Target], searches: Sequence[Search],
                      references: Sequence[Reference], args: argparse.Namespace) -> list[str]:
    """Part 1's comparison: capacity / closed no-wait throughput (the highest reference run
    of each target: a ceiling, so a run slowed by other work on the box does not lower it)."""
    if not references:
        return []
    print(f"\n1. capacity vs closed reference: {args.reference_users} users, no wait,"
          f" {args.reference_time:g}s, verdict-window rps, best of {args.reference_repeats}"
          " run(s) (capacity must be ≤ it)")
    rows = []
    misses = []
    for target in targets:
        mine = [r for r in references if r.target == target.key]
        if not mine:
            continue
        values = capacities([s for s in searches if s.target == target.key
                             and s.precision == args.precision])
        cap = mean(values)
        refs = reference_rps(references, target.key)
        failed = [r for r in mine if not r.rps]
        if not refs:
            first = failed[0].error.splitlines()[0] if failed and failed[0].error else "?"
            misses.append(f"{target.key}: no reference")
            rows.append((target.key, cap or 0.0, "-", "-", "-", "-", "-",
                         f"no reference: {first}"))
            continue
        best = max(refs)
        p95 = next((r.p95_ms for r in mine if r.rps == best), None)
        spread = f"{min(refs):.0f}..{best:.0f}"
        if cap is None:
            rows.append((target.key, 0.0, f"{best:.1f}", spread, fmt(p95), "-", "-",
                         "no capacity to compare"))
            continue
        top = max(values) / best
        verdict = "≤ 1: agrees" if top <= 1 else f"EXCEEDS it by {(top - 1) * 100:.1f}%"
        if failed:
            verdict += f" ({len(failed)} reference run(s) failed)"
        if top > 1:
            misses.append(f"{target.key}: highest capacity {max(values):.1f} > reference"
                          f" {best:.1f} rps")
        rows.append((target.key, cap, f"{best:.1f}", spread, fmt(p95), f"{cap / best:.3f}",
                     f"{top:.3f}", verdict))
    print_table(REFERENCE_COLUMNS, rows,
                "(reference: the best run, range: all runs; cap/ref: mean capacity / reference;"
                " max cap/ref: the highest search's; ref p95: ms, closed-model latency at that"
                " many users; a generator-bound capacity is only a lower bound, so its ratio"
                " says little)")
    for ref in references:
        for note in ref.notes:
            print(f"  {ref.target} reference: {note}")
        if ref.error:
            print(f"  {ref.target} reference #{ref.round} FAILED: {ref.error}")
    misses = [f"GOAL MISSED (capacity ≤ closed reference): {miss}" for miss in misses]
    for miss in misses:
        print(miss)
    return misses


# -- main ---------------------------------------------------------------------------------------


def snapshot(root: Path) -> tuple[Path, str]:
    """Freeze the plugin and the shop (see the module docstring)."""
    sources = root / "src"
    freeze_sources(sources, [REPO / "src" / "pytest_loadgate", REPO / "demo" / "src" / "demo_api"],
                   ["pytest_loadgate.plugin", "pytest_loadgate.capacity.search",
                    "pytest_loadgate.gate", "demo_api.main"])
    revision = git_revision(["src/pytest_loadgate", "demo/src/demo_api"])
    return sources, ("code under test: src/pytest_loadgate and demo/src/demo_api copied at"
                     f" start from git {revision}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Freeze the sources, run the references, the repeats and the precision searches, print
    the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10,
                        help="searches per target (default 10)")
    parser.add_argument("--precision", type=fraction, default=0.05,
                        help="the search's relative precision (default 0.05)")
    parser.add_argument("--step-time", type=seconds, default=10.0, help="default 10s")
    parser.add_argument("--validation-time", type=seconds, default=30.0, help="default 30s")
    parser.add_argument("--warmup", type=seconds, default=2.0, help="per probe, default 2s")
    parser.add_argument("--targets", default=DEFAULT_TARGETS,
                        help=f"comma-separated, default {DEFAULT_TARGETS}")
    parser.add_argument("--base-work-ms", type=float, default=2.0,
                        help="the toy's CPU per request at K = 1 (default 2 ms)")
    parser.add_argument("--precisions", type=fractions, default=fractions("0.2,0.1,0.05"),
                        help="wall time vs precision on toy1 (default 0.2,0.1,0.05; empty:"
                        " skip)")
    parser.add_argument("--precision-repeats", type=int, default=3,
                        help="searches at each of --precisions (default 3)")
    parser.add_argument("--reference-users", type=int, default=32,
                        help="users of the closed reference runs (default 32)")
    parser.add_argument("--reference-time", type=seconds, default=20.0,
                        help="closed reference run time (default 20s; 0: skip)")
    parser.add_argument("--reference-repeats", type=int, default=2,
                        help="closed reference runs per target, the first before the searches,"
                        " the others after them; the best counts (default 2)")
    parser.add_argument("--json", type=Path, help="write every search and reference here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="run nothing: print the tables of an earlier run's --json file"
                        " (also one cut short: what it finished)")
    args = parser.parse_args(argv)
    if args.report:
        return report_from_json(args.report)
    if min(args.repeats, args.precision_repeats, args.reference_repeats) < 0 or (
            args.reference_users < 1):
        parser.error("--repeats, --precision-repeats and --reference-repeats must be >= 0,"
                     " --reference-users >= 1")
    if not 0 < args.base_work_ms <= 1000:
        parser.error("--base-work-ms must be > 0 and at most 1000")
    if not 0 <= args.warmup < args.step_time <= args.validation_time:
        parser.error("need 0 <= --warmup < --step-time <= --validation-time")
    targets = parse_targets(args.targets, args.base_work_ms)

    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="capacity-bench-"))
    searches: list[Search] = []
    references: list[Reference] = []
    try:
        sources, which = snapshot(root)
        print(which)
        print(f"targets: {', '.join(f'{t.key} ({t.label})' for t in targets)};"
              f" {os.cpu_count()} CPUs; load avg {os.getloadavg()[0]:.2f}; rough estimate"
              f" {estimate_s(targets, args) / 60:.0f} min; work dir {root}", flush=True)
        rounds = args.reference_repeats if args.reference_time else 0
        if rounds:
            print(f"-- closed references: {args.reference_users} users, no wait,"
                  f" {args.reference_time:g}s (round 1 of {rounds})", flush=True)
            references += reference_round(targets, args, 1, root, sources)
        for repeat in range(1, args.repeats + 1):
            for target in targets:
                where = root / f"search-{target.key}-{repeat}"
                searches.append(search_once(target, args, args.precision, repeat, where,
                                            sources))
                print(f"   {searches[-1].line()}", flush=True)
        for round_ in range(2, rounds + 1):
            print(f"-- closed references, round {round_} of {rounds}", flush=True)
            references += reference_round(targets, args, round_, root, sources)
        toy1 = next((t for t in targets if t.key == "toy1"),
                    Target("toy1", work_ms=args.base_work_ms, factor=1))
        for precision in precisions_to_run(args, targets):
            for repeat in range(1, args.precision_repeats + 1):
                where = root / f"precision-{precision:g}-{repeat}"
                searches.append(search_once(toy1, args, precision, repeat, where, sources))
                print(f"   {searches[-1].line()}", flush=True)
    finally:
        if args.keep:
            print(f"work dir kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        if args.json:
            args.json.write_text(json.dumps({
                "args": {k: v if not isinstance(v, Path) else str(v)
                         for k, v in vars(args).items()},
                "searches": [asdict(s) for s in searches],
                "references": [asdict(r) for r in references]}, indent=1))
    report_all(targets, searches, references, args)
    print(f"\nelapsed {(time.monotonic() - started) / 60:.1f} min")
    return 0


def report_all(targets: Sequence[Target], searches: list[Search], references: list[Reference],
               args: argparse.Namespace) -> None:
    """Every table, then the goals missed."""
    misses = report_references(targets, searches, references, args)
    misses += report_searches(targets, searches, args)
    misses += report_ratios(targets, searches, references, args)
    report_precision(searches, args, reused=part2_covers_toy1(args, targets))
    print("\nsummary: " + ("every goal judged was met" if not misses else
                           f"{len(misses)} goal(s) missed or searches failed:"))
    for miss in misses:
        print(f"  {miss}")


def report_from_json(path: Path) -> int:
    """The tables of a run written with ``--json`` (an interrupted run writes what it
    finished: its tables cover those searches only, and say how many there are)."""
    try:
        doc = json.loads(path.read_text())
        args = argparse.Namespace(**doc["args"])
        searches = [Search(**s) for s in doc["searches"]]
        references = [Reference(**r) for r in doc["references"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"--report {path}: not a --json file of this bench: {exc}", file=sys.stderr)
        return 2
    targets = parse_targets(args.targets, args.base_work_ms)
    done = max((s.repeat for s in searches if s.precision == args.precision), default=0)
    print(f"tables of {path}: {len(searches)} searches ({done} of {args.repeats} repeats"
          f" reached), {len(references)} reference runs")
    report_all(targets, searches, references, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}): every process started here was stopped",
              file=sys.stderr)
        sys.exit(130)
