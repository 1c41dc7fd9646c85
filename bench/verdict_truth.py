"""How often does the CI perf gate tell the truth? False alarms and detections, measured.

Method
------
1. **Baseline.** Run the CI perf selection (``tests/perf/test_smoke.py::test_smoke`` and
   ``tests/perf/test_load.py::test_standard`` by default) ``B`` times unchanged with
   ``--loadgate-baseline=add`` into a fresh baseline directory, exactly as a user would record
   one. Afterwards the script reads the baseline files back and says how many runs each holds
   (the plugin may refuse to add a run; its notes say why).
2. **Trials.** Run the same selection ``3 K`` times with ``--loadgate-baseline=compare`` under
   three conditions, interleaved ``A, B, C, A, B, C, ...`` so that drift of the shared machine
   (other jobs, thermal, page cache) hits every condition alike:

   * ``unchanged``  - no fault: every flag is a **false alarm**;
   * ``one-slow``   - ``DEMO_API_FAULTS='GET /products/{product_id}:slowdown=2'``;
   * ``all-slow``   - ``DEMO_API_FAULTS='*:slowdown=2'``;

   every flag of a faulted run is a **detection**. The booted shop inherits pytest's
   environment, so the fault switch is set in the pytest subprocess's environment. Each run is
   its own ``pytest`` process (``-p no:cacheprovider --loadgate-progress=off
   --loadgate-confirm=0``: single-run behaviour, no confirmation re-runs) with its own report
   directory; exit code 1 (failed tests) is data, anything else aborts with the output tail.
3. **Judging.** Each run leaves one JSON verdict per test. A run *flags* under

   * ``fixed``    - when any check without a ``baseline`` field failed (the marker's absolute
     limits: p95_ms, avg_ms, min_rps, max_error_rate, ...);
   * ``baseline`` - when any check with a ``baseline`` field failed (``max_regression``);
   * ``verdict``  - when the JSON verdict is not ``passed`` (either of the above, invariants,
     problems).

   Rates are also broken down per check kind (``"<scope> <threshold>"``, e.g.
   ``GET /products/{id} p95 vs baseline``) so one sees which check caught (or cried wolf).
   For the regression checks the script also prints the measured/baseline ratio per scope and
   metric and condition (median and range): the effect size each rule sees, which is the
   evidence for choosing margins. An offline "what-if" re-judges the trials with the plugin's
   own ``figures_of`` and ``compare`` against a baseline of all ``B`` recorded runs (the plugin
   stores only runs that pass and were not on a busy machine), under the marker's rules.
   The selection as a whole *flags* when any of its tests' verdicts is not ``passed``: what a
   CI job gating on the suite sees.
4. **Spread.** Run-to-run coefficient of variation of total p95 and rps over the unchanged runs
   (and over baseline + unchanged runs), the 1-minute load average before/after each run and
   the total wall time.

    .venv/bin/python bench/verdict_truth.py [--k 20] [--baseline-runs 3] [--out figures.json]
        [--seed-test NODEID ...] [--run-timeout 300] [--deadline-min 180] [--keep DIR]

Everything is bounded: each pytest run by ``--run-timeout`` (its process group is killed),
the whole benchmark by ``--deadline-min`` (no new round starts after it; the figures then say
how many rounds ran).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SELECTION = ("tests/perf/test_smoke.py::test_smoke",
                     "tests/perf/test_load.py::test_standard")
SLOW_ENDPOINT = "GET /products/{product_id}"
CONDITIONS: dict[str, str | None] = {
    "unchanged": None,
    "one-slow": f"{SLOW_ENDPOINT}:slowdown=2",
    "all-slow": "*:slowdown=2",
}
TAIL_CHARS = 4000
ATTEMPT_SUFFIX = re.compile(r"-attempt\d+$")


class BenchError(RuntimeError):
    """A run that is not data (crash, timeout, missing report): the benchmark stops."""


@dataclass
class TestRun:
    """One test's verdict in one pytest run."""

    test: str
    verdict: str
    fixed_failed: list[str]
    baseline_failed: list[str]
    p95_ms: float | None
    rps: float | None
    requests: int
    generator_saturated: bool
    notes: list[str]
    problems: list[str]
    #: ``"<scope> <metric>"`` -> measured / baseline (rps: measured / baseline as well).
    ratios: dict[str, float | None] = field(default_factory=dict)
    #: scope -> figures of the run as the JSON report has them (for the offline what-if).
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Median latency of the machine-speed reference in the window (None: not measured).
    reference_p50_ms: float | None = None
    #: ``max_regression`` as applied (metric -> allowed), read from the checks.
    rules: dict[str, float] = field(default_factory=dict)
    #: The plugin marked the run UNRELIABLE (saturated generator, busy machine, short pace).
    unreliable: bool = False
    unreliable_reasons: list[str] = field(default_factory=list)
    #: Share of CPU time the hypervisor stole during the verdict window (None: unknown).
    steal: float | None = None

    @property
    def fixed_flag(self) -> bool:
        return bool(self.fixed_failed)

    @property
    def baseline_flag(self) -> bool:
        return bool(self.baseline_failed)

    @property
    def verdict_flag(self) -> bool:
        return self.verdict != "passed"


@dataclass
class PytestRun:
    """One pytest subprocess."""

    phase: str
    condition: str
    index: int
    exit_code: int
    wall_s: float
    load_before: float
    load_after: float
    tests: dict[str, TestRun]
    #: share of the run's wall time in which some task waited for a CPU (Linux PSI), or None.
    cpu_pressure: float | None = None


def python_default() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def load1() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def psi_cpu_total_us() -> int | None:
    """``some`` CPU stall time since boot in microseconds (Linux pressure stall information)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(line.rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def check_label(check: Mapping[str, Any]) -> str:
    return f"{check['scope']} {check['threshold']}"


def parse_report(doc: Mapping[str, Any]) -> TestRun:
    checks = doc.get("checks") or []
    fixed_failed = [check_label(c) for c in checks if "baseline" not in c and not c["passed"]]
    baseline_failed = [check_label(c) for c in checks if "baseline" in c and not c["passed"]]
    ratios: dict[str, float | None] = {}
    rules: dict[str, float] = {}
    for c in checks:
        if "baseline" not in c:
            continue
        if c.get("allowed") is not None:
            rules[str(c["threshold"]).split(" ", 1)[0]] = float(c["allowed"])
        base, measured = c.get("baseline"), c.get("measured")
        ratios[check_label(c)] = (measured / base if isinstance(measured, int | float)
                                  and isinstance(base, int | float) and base else None)
    total = doc.get("total") or {}
    figures = {"total": total, **(doc.get("endpoints") or {})}
    return TestRun(
        test=ATTEMPT_SUFFIX.sub("", str(doc["test"])), verdict=str(doc.get("verdict")),
        fixed_failed=fixed_failed, baseline_failed=baseline_failed,
        p95_ms=total.get("p95_ms"), rps=total.get("rps"), requests=int(total.get("requests") or 0),
        generator_saturated=bool(doc.get("generator_saturated")),
        notes=[str(n) for n in doc.get("notes") or []],
        problems=[str(p) for p in doc.get("problems") or []],
        ratios=ratios, figures=figures, rules=rules,
        unreliable=bool(doc.get("unreliable", doc.get("generator_saturated"))),
        unreliable_reasons=[str(r) for r in doc.get("unreliable_reasons") or []],
        steal=doc.get("machine_steal"),
        reference_p50_ms=(doc.get("reference") or {}).get("p50_ms"))


def read_reports(report_dir: Path, selection: Sequence[str]) -> dict[str, TestRun]:
    """The last JSON verdict per selected test (a confirmation attempt counts as its test)."""
    found: dict[str, TestRun] = {}
    for path in sorted(report_dir.glob("*.json")):  # timestamped names: later runs sort later
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or "checks" not in doc or "test" not in doc:
            continue
        run = parse_report(doc)
        if run.test in selection:
            found[run.test] = run
    return found


def tail(text: str) -> str:
    return text[-TAIL_CHARS:]


def run_pytest(python: str, selection: Sequence[str], *, baseline_mode: str, baseline_dir: Path,
               report_dir: Path, faults: str | None, timeout_s: float) -> tuple[int, str]:
    """Run one pytest subprocess in its own process group; kill the group on timeout."""
    env = {k: v for k, v in os.environ.items() if k != "DEMO_API_FAULTS"}
    if faults:
        env["DEMO_API_FAULTS"] = faults
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [python, "-m", "pytest", *selection, "-p", "no:cacheprovider",
           "--loadgate-progress=off", "--loadgate-confirm=0",
           f"--loadgate-baseline={baseline_mode}", f"--loadgate-baseline-dir={baseline_dir}",
           f"--loadgate-report-dir={report_dir}"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise BenchError(f"pytest did not finish within {timeout_s:.0f} s; killed.\n"
                         f"command: {' '.join(cmd)}\n--- output tail ---\n{tail(out or '')}"
                         ) from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, out or ""


def one_run(args: argparse.Namespace, work: Path, phase: str, condition: str, index: int,
            baseline_dir: Path) -> PytestRun:
    report_dir = work / "reports" / f"{phase}-{index:02d}-{condition}"
    mode = "add" if phase == "baseline" else "compare"
    before = load1()
    psi_before = psi_cpu_total_us()
    started = time.monotonic()
    code, out = run_pytest(args.python, args.selection, baseline_mode=mode,
                           baseline_dir=baseline_dir, report_dir=report_dir,
                           faults=CONDITIONS[condition], timeout_s=args.run_timeout)
    wall = time.monotonic() - started
    psi_after = psi_cpu_total_us()
    pressure = (None if psi_before is None or psi_after is None
                else (psi_after - psi_before) / 1e6 / wall)
    if code not in (0, 1):
        raise BenchError(f"{phase} {condition} #{index}: pytest exit code {code} (not 0/1)\n"
                         f"--- output tail ---\n{tail(out)}")
    tests = read_reports(report_dir, args.selection)
    missing = [t for t in args.selection if t not in tests]
    if missing:
        raise BenchError(f"{phase} {condition} #{index}: no JSON verdict for {missing} in"
                         f" {report_dir} (exit code {code})\n--- output tail ---\n{tail(out)}")
    run = PytestRun(phase, condition, index, code, wall, before, load1(), tests, pressure)
    flags = "; ".join(
        f"{t.split('::')[-1]}: {r.verdict}"
        + (f" [{', '.join(r.fixed_failed + r.baseline_failed)}]" if r.verdict_flag else "")
        + run_marks(r.unreliable, r.steal)
        for t, r in tests.items())
    psi = "-" if pressure is None else f"{100 * pressure:.0f}%"
    print(f"  {phase:8} {condition:9} #{index:<2} exit {code}  {wall:5.1f} s  load1"
          f" {before:4.2f}->{run.load_after:4.2f} cpu-stall {psi}  {flags}",
          file=sys.stderr, flush=True)
    return run


# ----------------------------------------------------------------------------- figures


def cv(values: Iterable[float | None]) -> dict[str, float | None]:
    xs = [float(v) for v in values if v is not None and v == v]
    if len(xs) < 2:
        return {"n": len(xs), "mean": xs[0] if xs else None, "cv": None}
    mean = statistics.fmean(xs)
    return {"n": len(xs), "mean": mean, "cv": statistics.stdev(xs) / mean if mean else None,
            "min": min(xs), "max": max(xs)}


def rate(flags: Sequence[bool]) -> dict[str, Any]:
    return {"flagged": sum(flags), "runs": len(flags)}


def fmt_rate(r: Mapping[str, Any]) -> str:
    return f"{r['flagged']}/{r['runs']}"


def plugin_figures(run: TestRun) -> dict[str, dict[str, float]]:
    """The run's baseline figures exactly as the plugin computes them (``figures_of``)."""
    from pytest_loadgate.stats.metrics import EndpointStats
    from pytest_loadgate.verdict.baseline import figures_of

    def stats(row: Mapping[str, Any]) -> EndpointStats:
        values: dict[str, Any] = {k: (math.nan if v is None else v) for k, v in row.items()}
        values["status_counts"] = {int(k): int(v)
                                   for k, v in (row.get("status_counts") or {}).items()}
        return EndpointStats(**values)

    endpoints = {name: stats(row) for name, row in run.figures.items() if name != "total"}
    return figures_of(stats(run.figures["total"]), endpoints, run.reference_p50_ms)


def judge_offline(run: TestRun, recorded: Sequence[TestRun],
                  rules: Mapping[str, float]) -> list[str]:
    """The failing regression checks (``"<scope> <metric> vs baseline"``) of ``run`` against
    a baseline of *every* recorded run, judged by the plugin's own ``compare``."""
    from pytest_loadgate.verdict.baseline import Baseline, compare

    baseline = Baseline("offline", [{"created": 0.0, "fingerprint": {},
                                     "figures": plugin_figures(r)} for r in recorded])
    return [f"{c.scope} {c.threshold}" for c in compare(baseline, plugin_figures(run), rules)
            if not c.passed]


def analyse(args: argparse.Namespace, baseline_runs: list[PytestRun], trials: list[PytestRun],
            baseline_dir: Path, raw_rules: dict[str, dict[str, float]]) -> dict[str, Any]:
    figures: dict[str, Any] = {"tests": {}, "suite": suite_rates(trials)}
    for test in args.selection:
        per_cond: dict[str, Any] = {}
        kinds = sorted({k for p in trials for k in
                        p.tests[test].fixed_failed + p.tests[test].baseline_failed})
        ratio_keys = sorted({k for p in trials for k in p.tests[test].ratios})
        recorded = [p.tests[test] for p in baseline_runs]
        rules = raw_rules.get(test, {})
        for cond in CONDITIONS:
            runs = [p.tests[test] for p in trials if p.condition == cond]
            what_if = [bool(judge_offline(r, recorded, rules)) for r in runs] if rules else []
            per_cond[cond] = {
                "verdict": rate([r.verdict_flag for r in runs]),
                "fixed": rate([r.fixed_flag for r in runs]),
                "baseline": rate([r.baseline_flag for r in runs]),
                "baseline_reliable": rate([r.baseline_flag for r in runs if not r.unreliable]),
                "baseline_median_of_B_offline": rate(what_if),
                "per_check": {k: rate([k in r.fixed_failed + r.baseline_failed for r in runs])
                              for k in kinds},
                "ratios": {k: [r.ratios.get(k) for r in runs] for k in ratio_keys},
                "p95_ms": [r.p95_ms for r in runs], "rps": [r.rps for r in runs],
                "saturated": sum(r.generator_saturated for r in runs),
                "unreliable": sum(r.unreliable for r in runs),
            }
        unchanged = [p.tests[test] for p in trials if p.condition == "unchanged"]
        figures["tests"][test] = {
            "conditions": per_cond,
            "check_kinds": kinds,
            "rules": rules,
            "spread_unchanged": {"p95_ms": cv(r.p95_ms for r in unchanged),
                                 "rps": cv(r.rps for r in unchanged)},
            "spread_unchanged_and_baseline": {
                "p95_ms": cv(r.p95_ms for r in unchanged + recorded),
                "rps": cv(r.rps for r in unchanged + recorded)},
            "baseline_runs_stored": stored_runs(baseline_dir, test),
            "baseline_add_notes": notes_summary(recorded),
            "compare_notes": notes_summary(unchanged),
            "scope_requests": {scope: statistics.median(
                int(r.figures.get(scope, {}).get("requests") or 0) for r in unchanged)
                for scope in sorted({sc for r in unchanged for sc in r.figures})},
        }
    return figures


def suite_rates(trials: Sequence[PytestRun]) -> dict[str, dict[str, Any]]:
    """Per condition, the runs in which the CI selection as a whole failed (any test's verdict
    not passed): what a CI job gating on the suite sees."""
    return {cond: rate([any(t.verdict_flag for t in p.tests.values())
                        for p in trials if p.condition == cond]) for cond in CONDITIONS}


def notes_summary(runs: Sequence[TestRun]) -> list[str]:
    """Distinct notes (numbers masked), each with how many runs had it and one raw example."""
    seen: dict[str, list[str]] = {}
    for r in runs:
        for note in dict.fromkeys(r.notes):
            seen.setdefault(re.sub(r"\d+(\.\d+)?", "#", note), []).append(note)
    return [f"{len(v)}/{len(runs)} runs: {v[0]}" for v in seen.values()][:8]


def stored_runs(baseline_dir: Path, test: str) -> int | None:
    for path in baseline_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("test") == test:
            return len(data.get("runs") or [])
    return None


def span(values: Sequence[float | None]) -> str:
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return "-"
    return f"{statistics.median(xs):4.2f} [{xs[0]:4.2f}-{xs[-1]:4.2f}]"


def print_figures(figures: Mapping[str, Any], k_done: int) -> None:
    conds = list(CONDITIONS)
    print(f"\n=== verdict truth: {k_done} round(s) x {len(conds)} conditions, "
          f"baseline from {figures['baseline_runs']} run(s) ===")
    print("unchanged: flags are FALSE ALARMS; one-slow / all-slow: flags are DETECTIONS")
    print(f"{'':44}" + "".join(f"{c:>12}" for c in conds))
    print(f"{'the CI selection as a whole (any test failed)':44}"
          + "".join(f"{fmt_rate(figures['suite'][c]):>12}" for c in conds))
    for test, t in figures["tests"].items():
        print(f"\n--- {test}")
        print(f"baseline: {t['baseline_runs_stored']} run(s) stored of"
              f" {figures['baseline_runs']} recorded; rules {t['rules']}")
        for note in t["baseline_add_notes"]:
            print(f"  add note ({note[:300]})")
        for note in t["compare_notes"]:
            print(f"  compare note ({note[:300]})")
        head = f"{'judged by':44}" + "".join(f"{c:>12}" for c in conds)
        print(head)
        for key, label in (("verdict", "verdict (any check)"),
                           ("fixed", "fixed thresholds only"),
                           ("baseline", "baseline comparison only"),
                           ("baseline_reliable", "baseline, runs not marked UNRELIABLE"),
                           ("baseline_median_of_B_offline",
                            "what-if: vs median of all B runs (offline)")):
            print(f"{label:44}" + "".join(f"{fmt_rate(t['conditions'][c][key]):>12}"
                                          for c in conds))
        if t["check_kinds"]:
            print("per check kind (runs where this check failed):")
            for kind in t["check_kinds"]:
                print(f"  {kind:42}" + "".join(
                    f"{fmt_rate(t['conditions'][c]['per_check'][kind]):>12}" for c in conds))
        ratio_keys = sorted({k for c in conds for k in t["conditions"][c]["ratios"]})
        if ratio_keys:
            print("measured / baseline, median [min-max] (p95: fail above 1+m; rps: below 1-m;"
                  " n = requests in window, unchanged median):")
            reqs = t["scope_requests"]
            for key in ratio_keys:
                scope = key.rsplit(" ", 3)[0]
                n = reqs.get(scope)
                label = f"{key} (n~{n:g})" if n is not None else key
                print(f"  {label:54}" + "".join(
                    f"{span(t['conditions'][c]['ratios'].get(key, [])):>22}" for c in conds))
        print("total p95 ms / rps per condition, median [min-max]:")
        for c in conds:
            cd = t["conditions"][c]
            print(f"  {c:10} p95 {span(cd['p95_ms']):>24}   rps {span(cd['rps']):>28}"
                  f"   UNRELIABLE in {cd.get('unreliable', 0)} run(s)"
                  f" (generator saturated in {cd['saturated']})")
        s, sb = t["spread_unchanged"], t["spread_unchanged_and_baseline"]

        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.1f}%"
        print(f"run-to-run CV, unchanged runs (n={s['p95_ms']['n']}): p95 {pct(s['p95_ms']['cv'])},"
              f" rps {pct(s['rps']['cv'])};  with baseline runs (n={sb['p95_ms']['n']}):"
              f" p95 {pct(sb['p95_ms']['cv'])}, rps {pct(sb['rps']['cv'])}")
    print("\nper run: load1 before -> after, CPU stall (PSI some, share of the run),"
          " total p95 ms / rps per test (B = baseline run)")
    for run in figures["runs"]:
        tag = "B" if run["phase"] == "baseline" else run["condition"]
        cells = "  ".join(f"{t.split('::')[-1]} {r['p95_ms']:6.1f} ms {r['rps']:6.1f}/s"
                          f" {'FLAG' if r['verdict'] != 'passed' else 'ok  '}"
                          f"{run_marks(r.get('unreliable', False), r.get('steal'))}"
                          for t, r in run["tests"].items())
        stall = run.get("cpu_pressure")
        psi = "  - " if stall is None else f"{100 * stall:3.0f}%"
        print(f"  {tag:9} #{run['index']:<2} load1 {run['load_before']:5.2f} ->"
              f" {run['load_after']:5.2f} stall {psi}  {cells}")
    print("(stall: time some runnable task waited for a CPU; other jobs on the box show here)")
    print(f"\nwall time {figures['wall_s'] / 60:.1f} min over {figures['pytest_runs']} pytest runs"
          f" (mean {figures['mean_run_s']:.1f} s each); load average (1 min) at start"
          f" {figures['load_start']:.2f}, end {figures['load_end']:.2f}, mean before runs"
          f" {figures['load_mean']:.2f} on {os.cpu_count()} cores")
    if figures.get("stopped_early"):
        print(f"NOTE: {figures['stopped_early']}")


def run_marks(unreliable: bool, steal: float | None) -> str:
    """`` UNRELIABLE`` and `` steal N%`` for a run, when they apply."""
    marks = " UNRELIABLE" if unreliable else ""
    return marks + (f" steal {100 * steal:.0f}%" if steal is not None else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=20, help="runs per condition (default 20)")
    parser.add_argument("--baseline-runs", type=int, default=3,
                        help="unchanged runs recorded with --loadgate-baseline=add (default 3)")
    parser.add_argument("--seed-test", dest="selection", action="append", default=None,
                        metavar="NODEID", help="test to run (repeatable); default: the CI"
                        " perf selection " + " ".join(DEFAULT_SELECTION))
    parser.add_argument("--out", type=Path, help="write every figure and run as JSON here")
    parser.add_argument("--python", default=python_default(), help="interpreter with pytest")
    parser.add_argument("--run-timeout", type=float, default=300.0,
                        help="seconds one pytest run may take before it is killed (default 300)")
    parser.add_argument("--deadline-min", type=float, default=180.0,
                        help="start no new round after this many minutes (default 180)")
    parser.add_argument("--keep", type=Path, help="keep reports and baselines in this directory"
                        " (default: a temporary directory, removed at the end)")
    args = parser.parse_args(argv)
    if args.k < 1 or args.baseline_runs < 1:
        parser.error("--k and --baseline-runs must be >= 1")
    args.selection = tuple(args.selection or DEFAULT_SELECTION)

    started = time.monotonic()
    load_start = load1()
    work = args.keep or Path(tempfile.mkdtemp(prefix="verdict-truth-"))
    work.mkdir(parents=True, exist_ok=True)
    baseline_dir = work / "baselines"
    if baseline_dir.exists():
        shutil.rmtree(baseline_dir)
    print(f"verdict truth: {' '.join(args.selection)}; K={args.k}, B={args.baseline_runs};"
          f" work dir {work}; load1 {load_start:.2f} on {os.cpu_count()} cores;"
          f" estimate ~{(args.baseline_runs + 3 * args.k) * 45 / 60:.0f} min at ~45 s/run",
          file=sys.stderr, flush=True)
    baseline_runs: list[PytestRun] = []
    trials: list[PytestRun] = []
    stopped_early = ""
    try:
        for i in range(args.baseline_runs):
            baseline_runs.append(one_run(args, work, "baseline", "unchanged", i, baseline_dir))
        for i in range(args.k):
            if (time.monotonic() - started) / 60 > args.deadline_min:
                stopped_early = (f"deadline of {args.deadline_min:g} min reached: {i} of"
                                 f" {args.k} rounds ran")
                break
            for cond in CONDITIONS:
                trials.append(one_run(args, work, "trial", cond, i, baseline_dir))
    except BenchError as exc:
        print(f"ABORTED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    k_done = min(sum(p.condition == c for p in trials) for c in CONDITIONS)
    trials = [p for p in trials if p.index < k_done]
    raw_rules = {test: {m: a for p in trials for m, a in p.tests[test].rules.items()}
                 for test in args.selection}
    figures = analyse(args, baseline_runs, trials, baseline_dir, raw_rules)
    wall = time.monotonic() - started
    all_runs = baseline_runs + trials
    figures.update({
        "selection": list(args.selection), "k": k_done, "k_requested": args.k,
        "baseline_runs": args.baseline_runs, "conditions": CONDITIONS,
        "wall_s": wall, "pytest_runs": len(all_runs),
        "mean_run_s": statistics.fmean(p.wall_s for p in all_runs),
        "load_start": load_start, "load_end": load1(),
        "load_mean": statistics.fmean(p.load_before for p in all_runs),
        "cores": os.cpu_count(), "stopped_early": stopped_early, "work_dir": str(work),
        "runs": [{**{k: v for k, v in asdict(p).items() if k != "tests"},
                  "tests": {t: asdict(r) for t, r in p.tests.items()}} for p in all_runs],
    })
    print_figures(figures, k_done)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
        print(f"figures: {args.out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
