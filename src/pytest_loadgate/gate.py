"""The object behind the ``loadgate`` fixture: run load, register invariants, explain verdicts."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_loadgate.checks import format_table
from pytest_loadgate.distributed_plan import WorkerPlan
from pytest_loadgate.errors import LoadgateConfigError, LoadgateWarning
from pytest_loadgate.invariants import DEFAULT_INTERVAL_SEC, Invariant
from pytest_loadgate.locking import exclusive_run, lock_path
from pytest_loadgate.progress import ProgressPrinter
from pytest_loadgate.result import LoadResult
from pytest_loadgate.server import Target
from pytest_loadgate.spec import LoadSpec

SUMMARY_PROPERTY = "loadgate.summary"


class LoadFailure(AssertionError):
    """A run's verdict was negative; the message explains every failed check."""


def saturation_note(result: LoadResult) -> str:
    cpu = (result.generator_resources or {}).get("cpu_avg", 0.0)
    return (f"UNRELIABLE MEASUREMENT: the load generator itself averaged {cpu:.0f}% CPU over the"
            " verdict window, so latencies include its own queueing and throughput is capped by"
            " it, not by the server; run fewer users per process (--loadgate-workers N) or give"
            " the generator its own cores")


def explain(result: LoadResult) -> str:
    """The failure message: what failed, the whole check table, invariants, problems, report."""
    failed = result.failed_checks()
    lo, hi = result.window_s
    head = (f"load test failed: {len(failed)} of {len(result.checks)} checks failed"
            if failed else "load test failed")
    lines = [saturation_note(result)] if result.generator_saturated else []
    lines += [f"{head} (mode={result.spec.mode}, users={result.spec.users},"
             f" window {lo:.1f}-{hi:.1f}s, {result.total.requests} requests,"
             f" host {result.host})"]
    if result.checks:
        lines += ["", format_table(result.checks)]
    for v in result.violations:
        lines.append(f"invariant {v.name!r} violated {v.phase} the run at {v.at_s:.1f}s"
                     f" ({v.count} failing sample(s)): {v.message}")
    if result.aborted:
        lines.append(result.aborted)
    lines += result.problems
    if result.report_path:
        lines.append(f"report: {result.report_path}")
    return "\n".join(lines)


class LoadGate:
    """Runs Locust against the target for one test and checks the marker's thresholds."""

    def __init__(self, *, spec: LoadSpec | None, target: Target,
                 test_id: str, report_dir: Path,
                 progress_factory: Callable[[], ProgressPrinter | None],
                 record: Callable[[str, Any], None],
                 default_kwargs: dict[str, Any],
                 watch_paths: tuple[str, ...] = (),
                 workers: WorkerPlan | None = None,
                 unreliable: str = "fail",
                 skip: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self._target = target
        self._test_id = test_id
        self._report_dir = report_dir
        self._progress_factory = progress_factory
        self._record = record
        self._default_kwargs = default_kwargs
        self._watch_paths = watch_paths
        self._workers = workers
        self._unreliable = unreliable
        self._skip = skip
        self._invariants: list[Invariant] = []
        self.results: list[LoadResult] = []

    def invariant(self, name: str, check: Callable[[], Any],
                  interval: float = DEFAULT_INTERVAL_SEC) -> None:
        """Register ``check`` (raise AssertionError or return False when broken) for the runs."""
        if not callable(check):
            raise LoadgateConfigError(f"invariant {name!r}: check={check!r} is not callable")
        if not interval > 0:
            raise LoadgateConfigError(f"invariant {name!r}: interval={interval!r} must be > 0")
        self._invariants.append(Invariant(name, check, float(interval)))

    def _spec_for(self, overrides: dict[str, Any]) -> LoadSpec:
        from pytest_loadgate.spec import build_spec

        if self.spec is None:
            return build_spec("perf", {**self._default_kwargs, **overrides},
                              where="loadgate.run() (no perf/race marker)")
        if not overrides:
            return self.spec
        return self.spec.with_overrides(overrides, where="loadgate.run() arguments")

    def run(self, *user_classes: Any, shape: Any = None, **overrides: Any) -> LoadResult:
        """Run the user classes against the target; fail the test when the verdict is negative."""
        __tracebackhide__ = True
        from pytest_loadgate.reports import summary_row, write_run_reports
        from pytest_loadgate.runner import LoadRun

        spec = self._spec_for(overrides)
        load = LoadRun(spec, self._target, user_classes, invariants=self._invariants,
                       progress=self._progress_factory(), watch_paths=self._watch_paths,
                       shape=shape, workers=self._workers, log_dir=self._report_dir)
        for inv in self._invariants:
            inv.violations.clear()
        with exclusive_run(lock_path()):
            run = load.execute()
        result = run.result
        test_id = self._test_id if not self.results else f"{self._test_id}-run{len(self.results)}"
        files = write_run_reports(run, self._report_dir, test_id)
        result.reports = files
        result.report_path = files["html"]
        self.results.append(result)
        row = summary_row(test_id, run, files)
        self._record(SUMMARY_PROPERTY, json.dumps(row))
        self._record("loadgate.verdict", row["verdict"])
        for key in ("requests", "rps", "p95_ms", "p99_ms", "error_rate"):
            self._record(f"loadgate.{key}", row[key])
        for c in result.checks:
            self._record(f"loadgate.check[{c.scope} {c.threshold}]",
                         f"{'PASS' if c.passed else 'FAIL'} measured={c.measured}"
                         f" limit={c.limit}")
        if result.interrupted:
            raise KeyboardInterrupt(f"load run interrupted; partial report: {files['html']}")
        if result.generator_saturated:
            if result.passed:
                warnings.warn(LoadgateWarning(
                    f"{test_id}: passed although {saturation_note(result)}"), stacklevel=2)
            elif self._unreliable == "skip" and self._skip is not None:
                self._skip(f"{saturation_note(result)}; report: {result.report_path}")
        if not result.passed:
            raise LoadFailure(explain(result))
        return result
