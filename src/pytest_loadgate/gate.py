"""The object behind the ``loadgate`` fixture: run load, register invariants, explain verdicts."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_loadgate.errors import LoadgateConfigError, LoadgateWarning
from pytest_loadgate.invariants import DEFAULT_INTERVAL_SEC, DEFAULT_TIMEOUT_SEC, Invariant
from pytest_loadgate.locking import RunLockTimeout, exclusive_run, lock_path
from pytest_loadgate.report.progress import ProgressPrinter
from pytest_loadgate.settings import Settings
from pytest_loadgate.spec import RUN_BUDGET_MARGIN_SEC, LoadSpec, build_spec
from pytest_loadgate.target.reference import MIN_PROBES, ReferenceServer
from pytest_loadgate.target.server import Target
from pytest_loadgate.verdict.baseline import BaselineStore, compare, figures_of, fingerprint
from pytest_loadgate.verdict.checks import Check, format_table
from pytest_loadgate.verdict.decide import decide
from pytest_loadgate.verdict.result import LoadResult

if TYPE_CHECKING:
    from pytest_loadgate.capacity.result import CapacityResult
    from pytest_loadgate.capacity.search import NextProbe
    from pytest_loadgate.capacity.spec import CapacitySpec
    from pytest_loadgate.run.runner import Run

SUMMARY_PROPERTY = "loadgate.summary"
#: The baseline scope that holds a capacity test's found capacity.
CAPACITY_SCOPE = "capacity"
CALIBRATION_PROPERTY = "loadgate.calibration"


def figures(result: LoadResult) -> dict[str, dict[str, float]]:
    """A run's baseline figures, with ``p50_ref`` when the reference was measured and the
    found capacity of a capacity test."""
    reference = (result.reference or {}).get("p50_ms")
    out = figures_of(result.total, result.endpoints, reference)
    capacity = result.capacity or {}
    if capacity.get("capacity_rps") is not None and capacity.get("bound") == "found":
        out[CAPACITY_SCOPE] = {"capacity": float(capacity["capacity_rps"]),
                               "requests": float(capacity["requests"])}
    return out


class LoadFailure(AssertionError):
    """A run's verdict was negative; the message explains every failed check."""


def explain(result: LoadResult) -> str:
    """The failure message: what failed, the whole check table, invariants, problems, report."""
    verdict = result.decision
    failed = verdict.failed_checks()
    lo, hi = result.window_s
    head = (f"load test failed: {len(failed)} of {len(verdict.checks)} checks failed"
            if failed else "load test failed")
    lines = [verdict.unreliable_note] if verdict.unreliable else []
    lines += [f"{head} (mode={result.spec.mode}, {load_of(result.spec)},"
             f" window {lo:.1f}-{hi:.1f}s, {result.total.requests} requests,"
             f" host {result.host})"]
    faults = fault_lines(result)
    stalls = [line for line in faults if line.startswith("server stalled")]
    lines += stalls  # the cause first: a hung server's p99 is only its consequence
    if verdict.checks:
        lines += ["", format_table(list(verdict.checks),
                                   reference_p50_ms=(result.reference or {}).get("p50_ms"))]
    lines += [line for line in faults if line not in stalls]
    for v in verdict.violations:
        lines.append(f"invariant {v.name!r} violated {v.phase} the run at {v.at_s:.1f}s"
                     f" ({v.count} failing sample(s)): {v.message}")
    if verdict.aborted:
        lines.append(verdict.aborted)
    lines += verdict.problems
    lines += [f"note: {n}" for n in result.notes]
    if result.report_path:
        lines.append(f"report: {result.report_path}")
    return "\n".join(lines)


def load_of(spec: LoadSpec) -> str:
    """``users=10``, or the open model's ``arrival_rate=200/s, max_users=200``."""
    if spec.open is None:
        return f"users={spec.users}"
    stages = spec.open.profile.stages
    rate = (f"arrival_rate={stages[0].to_rate:g}/s" if len(stages) == 1
            else "arrival_stages=" + ",".join(f"{s.to_rate:g}/s@{s.duration_s:g}s"
                                              for s in stages))
    return f"{rate}, max_users={spec.open.max_users}, {spec.open.arrivals}"


def fault_lines(result: LoadResult) -> list[str]:
    """Sentences for stalls, censored requests and dropped iterations, naming their cause."""
    lines = [f"{c.detail} (if single requests take longer than max_stall by design, raise"
             f" max_stall={result.spec.max_stall_s:g}s)"
             for c in result.failed_checks() if c.threshold == "max_stall"]
    censored = result.total.censored
    if censored:
        lines.append(f"{censored} request(s) had no response when the run ended: counted as"
                     " failed, with the time they waited as their latency (a lower bound)")
    dropped = next((c for c in result.failed_checks() if c.threshold == "max_dropped_rate"),
                   None)
    if dropped is not None:
        behind = result.generator_saturated or result.open_behind or result.machine_busy
        cause = ("the load generator could not keep its schedule (see UNRELIABLE above: a"
                 " saturated generator or a busy machine), so they say nothing about the"
                 " server" if behind else
                 "the server did not keep up with the arrival rate (a generator that kept its"
                 " schedule; raise max_users only if iterations are long by design)")
        lines.append(f"dropped iterations: {dropped.detail}; cause: {cause}")
    return lines


class LoadGate:
    """Runs Locust against the target for one test and checks the marker's thresholds."""

    def __init__(self, *, spec: LoadSpec | None, target: Target, test_id: str,
                 settings: Settings,
                 progress_factory: Callable[[], ProgressPrinter | None],
                 record: Callable[[str, Any], None],
                 skip: Callable[[str], None] | None = None,
                 reference: ReferenceServer | None = None,
                 shared_tmp: Path | None = None,
                 worker_pool: Callable[[], Any] | None = None,
                 capacity: CapacitySpec | None = None) -> None:
        self.spec = spec
        self.capacity_spec = capacity
        self._reference = reference
        self._target = target
        self._test_id = test_id
        self._settings = settings
        self._progress_factory = progress_factory
        self._record = record
        self._skip = skip
        self._invariants: list[Invariant] = []
        self._report_errors: list[str] = []
        #: pytest's temp directory shared by every xdist worker of this session.
        self._shared_tmp = shared_tmp
        #: The session's load workers (None: in-process), started by the first run needing them.
        self._worker_pool = worker_pool or (lambda: None)
        self.results: list[LoadResult] = []

    def invariant(self, name: str, check: Callable[[], Any],
                  interval: float = DEFAULT_INTERVAL_SEC,
                  timeout: float = DEFAULT_TIMEOUT_SEC) -> None:
        """Register ``check`` (raise AssertionError or return False when broken) for the runs;
        a check that has not answered within ``timeout`` seconds is broken too."""
        if not callable(check):
            raise LoadgateConfigError(f"invariant {name!r}: check={check!r} is not callable")
        for arg, value in (("interval", interval), ("timeout", timeout)):
            if not (isinstance(value, int | float) and value > 0):
                raise LoadgateConfigError(f"invariant {name!r}: {arg}={value!r} must be > 0")
        self._invariants.append(Invariant(name, check, float(interval), float(timeout)))

    def _spec_for(self, overrides: dict[str, Any]) -> LoadSpec:
        if self.spec is None:
            defaults = session_defaults(self._settings)
            return build_spec("perf", {**defaults, **overrides},
                              where="loadgate.run() (no perf/race marker)")
        if not overrides:
            return self.spec
        return self.spec.with_overrides(overrides, where="loadgate.run() arguments")

    def _attempt(self, spec: LoadSpec, user_classes: tuple[Any, ...], shape: Any,
                 run_id: str, baseline: BaselineJudge) -> tuple[Run, LoadResult]:
        from pytest_loadgate.run.runner import LoadRun

        settings = self._settings
        reference_url = (self._reference.url() if self._reference is not None
                         and baseline.wants_reference else None)
        load = LoadRun(spec, self._target, user_classes, invariants=self._invariants,
                       progress=self._progress_factory(), watch_paths=settings.watch_paths,
                       shape=shape, workers=self._worker_pool(), log_dir=settings.report_dir,
                       test_id=self._test_id,
                       reference_url=reference_url, max_samples=settings.max_samples,
                       session_locust_options=settings.locust_options)
        for inv in self._invariants:
            inv.violations.clear()
        budget = spec.run_time_s + spec.max_stall_s + RUN_BUDGET_MARGIN_SEC
        try:
            with exclusive_run(lock_path(self._shared_tmp), holder=self._test_id,
                               budget_s=budget):
                run = load.execute()
        except RunLockTimeout as exc:  # no run happened: say why, in the test's failure
            raise LoadFailure(str(exc)) from None
        result = run.result
        result.verdict = decide(result, baseline.regression(result))
        return run, result

    def _plan_reports(self, run: Run, run_id: str) -> None:
        from pytest_loadgate.report.reports import plan_report_files

        files = plan_report_files(self._settings.report_dir, run_id)
        run.result.reports = files
        run.result.report_path = files["html"]

    def _write_reports(self, run: Run, run_id: str) -> None:
        """Write the run's reports; a directory that is read-only, missing or full is noted
        (and fails the test once its verdict is known), never a bare traceback."""
        from pytest_loadgate.report.reports import write_run_reports

        try:
            write_run_reports(run, run.result.reports, run_id)
        except OSError as exc:
            where = exc.filename or self._settings.report_dir
            self._report_errors.append(
                f"the reports of {run_id} could not be written ({where}:"
                f" {exc.strerror or exc}); set --loadgate-report-dir to a writable directory")

    def run(self, *user_classes: Any, shape: Any = None, **overrides: Any) -> LoadResult:
        """Run the user classes against the target; fail the test when the verdict is negative.

        With ``confirm=N`` a breaching run is repeated up to N times and the test fails only
        when every attempt breaches; each attempt keeps its own report.
        """
        __tracebackhide__ = True
        from pytest_loadgate.report.reports import summary_row

        spec = self._spec_for(overrides)
        run_id = self._test_id if not self.results else f"{self._test_id}-run{len(self.results)}"
        if self._settings.calibrate:
            return self._calibrate(spec, user_classes, shape, run_id)
        baseline = BaselineJudge(self._settings, run_id, spec, user_classes, self._target.label)
        attempts: list[LoadResult] = []
        confirm = spec.confirm if spec.confirm else self._settings.confirm
        while True:
            attempt_id = run_id if not attempts else f"{run_id}-attempt{len(attempts) + 1}"
            run, result = self._attempt(spec, user_classes, shape, attempt_id, baseline)
            attempts.append(result)
            retry = (not result.passed and not result.interrupted and not result.problems
                     and len(attempts) <= confirm)
            if not retry:
                break
            result.notes.append(f"breached; confirming with attempt {len(attempts) + 1}"
                                f" of {confirm + 1}")
            self._plan_reports(run, attempt_id)
            self._write_reports(run, attempt_id)
        if len(attempts) > 1:
            verdicts = ", ".join("pass" if a.passed else "breach" for a in attempts)
            result.notes.append(f"{len(attempts)} attempts ({verdicts})")
        baseline.record(result)
        self._plan_reports(run, attempt_id)
        result.attempts = [a.summary() for a in attempts]  # the last JSON lists every attempt
        self._write_reports(run, attempt_id)
        for note in result.notes:
            warnings.warn(LoadgateWarning(f"{attempt_id}: {note}"), stacklevel=2)
        self.results.append(result)
        self._report(run_id, run, result, summary_row)
        if result.interrupted:
            raise KeyboardInterrupt(f"load run interrupted; partial report: {result.report_path}")
        if self._report_errors:
            errors, self._report_errors = self._report_errors, []
            head = f"load test {result.decision.outcome}, but " + "; and ".join(errors)
            raise LoadFailure(head if result.passed else f"{head}\n{explain(result)}")
        if result.unreliable:
            if result.passed:
                warnings.warn(LoadgateWarning(
                    f"{attempt_id}: passed although {result.decision.unreliable_note}"),
                    stacklevel=2)
            elif self._settings.unreliable == "skip" and self._skip is not None:
                self._skip(f"{result.decision.unreliable_note}; report: {result.report_path}")
        if not result.passed:
            raise LoadFailure(explain(result))
        return result

    def capacity(self, *user_classes: Any, **overrides: Any) -> CapacityResult:
        """Find the highest open-model arrival rate at which the SLO holds (see
        :mod:`pytest_loadgate.capacity`); fail the test when the capacity gate says so."""
        __tracebackhide__ = True
        from pytest_loadgate.capacity.measure import probe_of, requests_per_iteration
        from pytest_loadgate.capacity.search import CapacitySearch
        from pytest_loadgate.capacity.settle import Settled, quiet_server_for, settle_notes
        from pytest_loadgate.capacity.spec import capacity_spec, probe_kwargs
        from pytest_loadgate.report.reports import summary_row

        if self.capacity_spec is None and not overrides:
            raise LoadgateConfigError("loadgate.capacity() needs @pytest.mark.capacity(slo=...)"
                                      " or its arguments, e.g. loadgate.capacity(User,"
                                      ' slo={"p95_ms": 200})')
        cap = (capacity_spec(overrides, "loadgate.capacity() arguments")
               if self.capacity_spec is None else
               self.capacity_spec.with_overrides(overrides, "loadgate.capacity() arguments")
               if overrides else self.capacity_spec)
        where = "@pytest.mark.capacity"
        defaults = session_defaults(self._settings)
        search = CapacitySearch(cap.plan, slo=cap.slo)
        off = BaselineJudge(replace(self._settings, baseline_mode="off"), self._test_id,
                            build_spec("perf", {**defaults, **probe_kwargs(
                                cap, cap.plan.start_rate, False)}, where=where),
                            user_classes, self._target.label)
        probes: dict[float, tuple[Run, LoadResult]] = {}
        per_iteration: float | None = None
        requests = 0
        process = self._target.process
        quiet = quiet_server_for(process.pid if process is not None else None,
                                 self._target.url)
        quiet.baseline()
        settles: list[Settled | None] = []
        while (step := search.next_rate()) is not None:
            # The previous probe's backlog must not be measured as this probe's.
            settles.append(quiet.wait() if search.probes else None)
            spec = build_spec("perf", {**defaults, **probe_kwargs(cap, step.rate,
                                                                   step.validation)},
                              where=f"{where} probe at {step.rate:g}/s")
            probe_id = f"{self._test_id}-capacity{len(search.probes) + 1}"
            run, result = self._attempt(spec, user_classes, None, probe_id, off)
            if result.interrupted:
                raise KeyboardInterrupt("capacity search interrupted")
            if result.problems:  # the server died, a worker was lost: no rate to judge
                self._plan_reports(run, probe_id)
                self._write_reports(run, probe_id)
                raise LoadFailure(f"capacity search stopped at {step.rate:g}/s:\n"
                                  + explain(result))
            if per_iteration is None:
                per_iteration = requests_per_iteration(result, step.rate)
            requests += result.total.requests
            search.record(probe_of(result, step.rate, per_iteration))
            probes[step.rate] = (run, result)
        found = search.result()
        shown = found.capacity_rps if found.capacity_rps in probes else (
            found.failed_at_rps if found.failed_at_rps in probes else next(reversed(probes)))
        run, result = probes[shown]
        result.capacity = capacity_document(found, requests,
                                            [step for step, _ in search.steps],
                                            [s.waited_s if s else None for s in settles])
        gate_spec = result.spec.with_overrides(
            {"max_regression": {"capacity": cap.max_regression}}, where=where) \
            if cap.max_regression is not None else result.spec
        judge = BaselineJudge(self._settings, self._test_id, gate_spec, user_classes,
                              self._target.label, fingerprint_spec=off.spec)
        result.verdict = decide(result, capacity_checks(found, cap.min_capacity_rps)
                                + judge.regression(result))
        result.notes.insert(0, found.describe())
        result.notes[1:1] = settle_notes([
            (before.rate, after.rate, s) for before, after, s
            in zip(search.probes, search.probes[1:], settles[1:], strict=False) if s])
        judge.record(result)
        self._plan_reports(run, self._test_id)
        self._write_reports(run, self._test_id)
        for note in result.notes:
            warnings.warn(LoadgateWarning(f"{self._test_id}: {note}"), stacklevel=2)
        self.results.append(result)
        self._report(self._test_id, run, result, summary_row)
        if self._report_errors:
            errors, self._report_errors = self._report_errors, []
            raise LoadFailure("; and ".join(errors))
        if found.bound in ("unknown", "below") and not result.failed_checks():
            raise LoadFailure(f"{found.describe()}\n{explain(result)}")
        if not result.passed:
            raise LoadFailure(f"{found.describe()}\n{explain(result)}")
        return found

    def _calibrate(self, spec: LoadSpec, user_classes: tuple[Any, ...], shape: Any,
                   run_id: str) -> LoadResult:
        """Run ``calibrate`` times, record the spread; thresholds are reported, not enforced."""
        from pytest_loadgate.target.calibration import calibrate

        runs = []
        result: LoadResult | None = None
        off = BaselineJudge(replace(self._settings, baseline_mode="off"), run_id, spec,
                            user_classes, self._target.label)
        for index in range(self._settings.calibrate):
            attempt_id = f"{run_id}-calibration{index + 1}"
            run, result = self._attempt(spec, user_classes, shape, attempt_id, off)
            self._plan_reports(run, attempt_id)
            self._write_reports(run, attempt_id)
            if result.problems or result.interrupted:
                raise LoadFailure(explain(result))
            runs.append(figures(result))
        assert result is not None
        configured = {"total": dict(spec.thresholds.items()),
                      **{name: dict(t.items()) for name, t in spec.endpoints.items()}}
        rows = calibrate(run_id, runs, configured)
        self._record(CALIBRATION_PROPERTY, json.dumps(rows))
        self.results.append(result)
        return result

    def _report(self, run_id: str, run: Run, result: LoadResult, summary_row: Any) -> None:
        files = result.reports
        row = summary_row(run_id, run, files)
        self._record(SUMMARY_PROPERTY, json.dumps(row))
        self._record("loadgate.verdict", row["verdict"])
        for key in ("requests", "rps", "p95_ms", "p99_ms", "error_rate"):
            self._record(f"loadgate.{key}", row[key])
        for c in result.checks:
            self._record(f"loadgate.check[{c.scope} {c.threshold}]",
                         f"{'PASS' if c.passed else 'FAIL'} measured={c.measured}"
                         f" limit={c.limit}")


def session_defaults(settings: Settings) -> dict[str, Any]:
    """Marker defaults that come from ini keys and options."""
    pairs = {"warmup": settings.warmup, "max_stall": settings.max_stall,
             "request_timeout": settings.request_timeout,
             "tags": list(settings.tags) if settings.tags else None,
             "exclude_tags": list(settings.exclude_tags) if settings.exclude_tags else None}
    return {key: value for key, value in pairs.items() if value is not None}


class BaselineJudge:
    """Applies the baseline policy (compare / add / accept / off) to one test's runs."""

    def __init__(self, settings: Settings, run_id: str, spec: LoadSpec,
                 user_classes: tuple[Any, ...], host: str,
                 fingerprint_spec: LoadSpec | None = None) -> None:
        self.mode = settings.baseline_mode
        self.max_age_days = settings.baseline_max_age_days
        self.min_requests = settings.baseline_min_requests
        self.store = BaselineStore(settings.baseline_dir)
        self.run_id = run_id
        self.spec = spec
        # A capacity test's probes change rate: its setup is the search's, not one probe's.
        fp = fingerprint_spec or spec
        self.fingerprint = fingerprint(
            users=fp.users, spawn_rate=fp.spawn_rate, user_classes=user_classes, host=host,
            workers=settings.workers.total,
            open_model=load_of(fp) if fp.open is not None else None)
        self.existing = self.store.load(run_id) if self.mode != "off" else None
        #: Whether runs need the machine-speed reference: for a p50_ref rule, and only when
        #: there is a baseline to compare with or to record into.
        self.wants_reference = "p50_ref" in spec.max_regression and (
            self.mode in ("add", "accept") or self.existing is not None)

    def regression(self, result: LoadResult) -> list[Check]:
        """Regression checks of ``result`` against the baseline (notes on fingerprint, age or
        a rule not compared go to ``result.notes``)."""
        result.notes.extend(self._store_notes())
        rules = self.spec.max_regression
        if not rules or self.mode in ("off", "accept"):
            return []
        if self.existing is None:
            result.notes.append(
                f"no baseline for {self.run_id} in {self.store.directory}: max_regression not"
                " checked; record one with --loadgate-baseline=add")
            return []
        result.notes.extend(self.existing.warnings(self.fingerprint, self.max_age_days))
        if "p50_ref" in rules and not result.reference:
            result.notes.append(
                "p50_ref not compared with the baseline: the machine-speed reference was not"
                f" measured in this run (it needs at least {MIN_PROBES} probes in the verdict"
                " window; race runs do not probe it)")
            rules = {metric: allowed for metric, allowed in rules.items() if metric != "p50_ref"}
        return compare(self.existing, figures(result), rules, result.notes, self.min_requests)

    def record(self, result: LoadResult) -> None:
        """Store the run when the policy says so; never overwrite without ``accept``."""
        if self.mode not in ("add", "accept") or result.interrupted or result.problems:
            return
        if result.machine_busy:
            result.notes.append("not added to the baseline: the machine was busy during the"
                                " run (CPU pressure or hypervisor steal), so its figures are"
                                " not a fair reference")
            return
        if self.mode == "add":
            if not result.passed:
                result.notes.append("not added to the baseline: the run did not pass")
                return
            if self.existing and self.existing.warnings(self.fingerprint, float("inf")):
                result.notes.append("not added to the baseline: recorded under a different"
                                    " setup; replace it with --loadgate-baseline=accept")
                return
        try:
            path = self.store.record(self.run_id, figures(result),
                                     self.fingerprint, replace=self.mode == "accept")
        except OSError as exc:  # read-only, full or missing mount: say so, keep the verdict
            result.notes.extend(self._store_notes())
            where = exc.filename or self.store.directory
            result.notes.append(f"not added to the baseline: {where}: {exc.strerror or exc}"
                                " (--loadgate-baseline-dir)")
            return
        result.notes.extend(self._store_notes())
        result.baseline_path = path

    def _store_notes(self) -> list[str]:
        """What the store found wrong with the baseline file (each said once)."""
        notes, self.store.notes = self.store.notes, []
        return notes


def capacity_document(found: CapacityResult, requests: int,
                      steps: list[NextProbe] | None = None,
                      settle_s: list[float | None] | None = None) -> dict[str, Any]:
    """A capacity search in the run's JSON report: the result, its explanation and every
    probe."""
    return {
        "capacity_rps": found.capacity_rps, "bound": found.bound, "reason": found.reason,
        "validated": found.validated, "generator_bound": found.generator_bound,
        "failed_at_rps": found.failed_at_rps, "limit": found.limit,
        "knee": found.knee.describe() if found.knee else None,
        "describe": found.describe(), "slo": dict(found.slo), "requests": requests,
        "probes": [{"rate": p.rate, "achieved_rps": round(p.achieved_rps, 2),
                    "p95_ms": p.p95_ms, "error_rate": round(p.error_rate, 5),
                    "slo_passed": p.slo_passed, "generator_bound": p.generator_bound,
                    "server_cpu_cores": p.server_cpu_cores,
                    "failure_reasons": list(p.failure_reasons),
                    "validation": steps[i].validation if steps else None,
                    "repeat": bool(steps[i].repeat) if steps else False,
                    "settle_s": (round(w, 2) if settle_s and (w := settle_s[i]) is not None
                                 else None)}
                   for i, p in enumerate(found.probes)]}


def capacity_checks(found: CapacityResult, min_capacity_rps: float | None) -> list[Check]:
    """The capacity gate: some rate meets the SLO, and at least ``min_capacity_rps`` (a lower
    bound from a generator-bound search counts only when it already reaches the minimum)."""
    if found.bound == "below":
        return [Check("capacity", "min_capacity_rps",
                      min_capacity_rps or found.failed_at_rps or 0.0, None, False,
                      detail=found.reason)]
    if min_capacity_rps is None:
        return []
    measured = found.capacity_rps
    passed = measured is not None and measured >= min_capacity_rps
    detail = "a lower bound (generator-bound)" if found.generator_bound and not passed else ""
    return [Check("capacity", "min_capacity_rps", min_capacity_rps, measured, passed,
                  detail=detail)]
