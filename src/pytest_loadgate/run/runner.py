"""Run Locust in-process for one test: spawn, watch, stop, and measure over the verdict window."""

from __future__ import annotations

import contextlib
import inspect
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import locust.stats
from locust import LoadTestShape, User
from locust.env import Environment
from locust.runners import Runner

from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.invariants import Invariant
from pytest_loadgate.report.progress import ProgressPrinter, Snapshot
from pytest_loadgate.run.distributed import WorkerError, WorkerGroup
from pytest_loadgate.run.gc_meter import GcMeter, gc_notes, heap_frozen
from pytest_loadgate.run.inflight import InFlight
from pytest_loadgate.run.locust_hooks import RunHooks
from pytest_loadgate.run.locust_options import build_parsed_options
from pytest_loadgate.run.modes import LoadMode, mode_for
from pytest_loadgate.run.monitor import (
    RESOURCE_INTERVAL_SEC,
    URL_POLL_INTERVAL_SEC,
    ProcessMonitor,
    WatchedUrl,
    cpu_stall_total_us,
    cpu_steal_ticks,
    stall_share,
    steal_share,
    watcher_cost_notes,
)
from pytest_loadgate.run.open_load import OpenLoad
from pytest_loadgate.run.pacing import PaceMeter
from pytest_loadgate.run.pool import WorkerPool
from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.run.reference_probe import ReferenceProbe
from pytest_loadgate.run.run_signals import raised_in_run
from pytest_loadgate.run.stall import (
    DEFAULT_MAX_STALL_SEC,
    Stall,
    StallDetector,
    answered_lately,
)
from pytest_loadgate.run.task_tags import tasks_restored
from pytest_loadgate.spec import LoadSpec
from pytest_loadgate.stats.histograms import (
    DEFAULT_MAX_SAMPLES,
    HIST_RELATIVE_ERROR,
    SecondBucket,
)
from pytest_loadgate.stats.metrics import EndpointStats, summarize
from pytest_loadgate.stats.samples import TOTAL_NAME, EndpointSamples, exact_bucket
from pytest_loadgate.target.server import Target
from pytest_loadgate.verdict.checks import evaluate
from pytest_loadgate.verdict.result import LoadResult

log = logging.getLogger("pytest_loadgate")

WATCH_INTERVAL_SEC = 0.1
ABORT_CHECK_INTERVAL_SEC = 0.5
RECENT_WINDOW_SEC = 2.0
LOOP_LAG_PROBE_SEC = 0.1


QUIT_TIMEOUT_SEC = 10.0


#: Locust's default FastHttpUser timeouts; a class that kept them gets the run's timeout.
LOCUST_DEFAULT_TIMEOUT_SEC = 60.0


@dataclass
class Run:
    """Everything a finished run leaves: the result and the Locust environment for reports."""

    result: LoadResult
    environment: Environment
    recorder: SampleRecorder
    history: list[Snapshot] = field(default_factory=list)


@contextlib.contextmanager
def exact_locust_histograms() -> Iterator[None]:
    """Make Locust's own stats (and HTML report) exact to 0.1 ms for the duration of a run."""
    original = locust.stats.bucket_response_time
    locust.stats.bucket_response_time = exact_bucket  # type: ignore[assignment]
    try:
        yield
    finally:
        locust.stats.bucket_response_time = original


def prepare_user_classes(user_classes: Sequence[Any], host: str,
                         request_timeout_s: float | None = None) -> list[type[User]]:
    """Subclass each user class with ``host`` set (and, for FastHttpUser classes that keep
    Locust's 60 s timeouts, ``request_timeout_s``), so the caller's classes stay untouched."""
    if not user_classes:
        raise LoadgateConfigError("loadgate.run() needs at least one Locust User class")
    prepared = []
    for cls in user_classes:
        if not (inspect.isclass(cls) and issubclass(cls, User)):
            raise LoadgateConfigError(f"loadgate.run(): {cls!r} is not a Locust User class")
        if getattr(cls, "abstract", False):
            raise LoadgateConfigError(f"loadgate.run(): {cls.__name__} is abstract")
        attrs: dict[str, Any] = {
            "host": host, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
        if request_timeout_s is not None:
            for name in ("network_timeout", "connection_timeout"):
                if getattr(cls, name, None) == LOCUST_DEFAULT_TIMEOUT_SEC:
                    attrs[name] = request_timeout_s
        prepared.append(type(cls.__name__, (cls,), attrs))
    return prepared


def call_with_timeout(check: Callable[[], Any], timeout_s: float) -> Any:
    """Run an invariant's check, giving up after ``timeout_s`` (a check waiting on a hung
    server must not hold the run; one blocking outside gevent cannot be interrupted)."""
    timer = gevent.Timeout(timeout_s)
    try:
        with timer:
            return check()
    except gevent.Timeout as exc:
        if exc is not timer:  # someone else's timeout: not ours to turn into a verdict
            raise
        raise TimeoutError(f"no answer within timeout={timeout_s:g}s") from None


def drain_seconds(spec: LoadSpec) -> float:
    """How long the end of a run waits for the requests still in flight."""
    return spec.max_stall_s if spec.max_stall_s > 0 else DEFAULT_MAX_STALL_SEC


class LoadRun:
    """One in-process Locust run on Locust's global events (put back as found when it ends,
    see locust_hooks), watched until it ends."""

    def __init__(self, spec: LoadSpec, target: Target, user_classes: Sequence[Any], *,
                 invariants: Sequence[Invariant] = (),
                 progress: ProgressPrinter | None = None,
                 watch_paths: Sequence[str] = (),
                 shape: LoadTestShape | None = None,
                 workers: WorkerPool | None = None,
                 log_dir: Path | None = None,
                 test_id: str = "",
                 reference_url: str | None = None,
                 max_samples: int = DEFAULT_MAX_SAMPLES,
                 session_locust_options: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.target = target
        self.invariants = list(invariants)
        self.progress = progress
        self.mode: LoadMode = mode_for(spec.mode, spec.open is not None, shape)
        #: The session's load workers; None runs the users in this process.
        self.pool = workers if workers is not None and workers.plan.total else None
        self.test_id = test_id
        self.log_dir = log_dir or Path("reports")
        self.group: WorkerGroup | None = None
        classes = prepare_user_classes(user_classes, target.url, spec.request_timeout_s)
        self.prepared = classes
        classes = self.mode.prepare_classes(self, classes)
        self.shape = shape
        #: Greenlets that live as long as the load (killed when it ends).
        self.watchers: list[gevent.Greenlet] = []
        self.steps: list[tuple[float, int]] = []
        self.recorder = SampleRecorder(max_samples=max_samples)
        self.inflight = InFlight(self.recorder.now, spec.request_timeout_s)
        self.stall = StallDetector(spec.max_stall_s) if spec.max_stall_s > 0 else None
        self.stalled: Stall | None = None
        self.open: OpenLoad | None = None
        self.pace_meter = PaceMeter(self.recorder.now)
        self.probe = (ReferenceProbe(reference_url, self.recorder.now)
                      if reference_url and self.mode.probes_reference else None)
        self.classes = classes
        # Parsed now, so a bad option fails before any load; the environment that carries
        # it is made when the run starts, on Locust's global events (see locust_hooks).
        self.parsed_options = build_parsed_options(
            users=None if spec.open is not None else spec.users,
            spawn_rate=None if spec.open is not None else spec.spawn_rate,
            run_time_s=spec.run_time_s, host=target.url, tags=spec.tags,
            exclude_tags=spec.exclude_tags, session=session_locust_options,
            per_test=spec.locust_options)
        self.environment: Environment | None = None
        self.watched = [WatchedUrl(target.url + (p if p.startswith("/") else "/" + p))
                        for p in watch_paths]
        self.server_monitor: ProcessMonitor | None = None
        self.generator_monitor: ProcessMonitor | None = None
        self.worker_monitors: list[ProcessMonitor] = []
        self.loop_lag: list[tuple[float, float]] = []  # (at_s, lag_ms) of this process
        #: When the lag probe now sleeping went to sleep (None while it is awake).
        self._lag_probe_since: float | None = None
        self.gc_meter = GcMeter(self.recorder.now)
        self.pressure: list[tuple[float, int]] = []  # (at_s, CPU stall total in us)
        self.steal: list[tuple[float, int, int]] = []  # (at_s, steal ticks, all ticks)
        self.spawned_at: float | None = None
        self.problems: list[str] = []
        self.aborted: str | None = None
        self.interrupted = False
        self.workers_failed = False  # the run never started: no spawning to complain about
        self.history: list[Snapshot] = []
        self._breach_since: float | None = None
        self._next_abort_check = 0.0

    def _build_environment(self, hooks: RunHooks) -> Environment:
        """The run's environment on the global events (inside ``hooks``, which put those
        events back as they were when the run ends)."""
        env = Environment(user_classes=self.classes, events=hooks.events, host=self.target.url,
                          catch_exceptions=True, shape_class=self.shape,
                          parsed_options=self.parsed_options)
        if self.pool is None:
            self.mode.attach(self, env)
        env.events.request.add_listener(self.recorder.on_request)
        env.events.spawning_complete.add_listener(self._on_spawned)
        self.environment = env
        return env

    def _on_spawned(self, user_count: int, **_: Any) -> None:
        if self.spawned_at is None:
            self.spawned_at = self.recorder.now()

    # -- window ------------------------------------------------------------------------------
    def window(self, end_s: float) -> tuple[float, float]:
        """The verdict window: after ramp-up and warm-up (perf) or from release (race)."""
        return self.mode.window(self, end_s)

    def _window_parts(self, start_s: float, end_s: float
                      ) -> tuple[dict[str, list[EndpointSamples]], dict[str, list[SecondBucket]]]:
        """Each endpoint's raw series and its overflow histograms within the window."""
        parts = dict(self.recorder.items())
        overflow = self.recorder.overflow
        buckets = {name: overflow.buckets(name, start_s, end_s)
                   for name in sorted(set(parts) | set(overflow.endpoints))}
        return parts, buckets

    @staticmethod
    def _total(parts: dict[str, list[EndpointSamples]], buckets: dict[str, list[SecondBucket]],
               start_s: float, end_s: float) -> EndpointStats:
        return summarize(TOTAL_NAME, [p for series in parts.values() for p in series],
                         start_s, end_s, max(end_s - start_s, 0.0),
                         [b for name_buckets in buckets.values() for b in name_buckets])

    def total_between(self, start_s: float, end_s: float) -> EndpointStats:
        """All endpoints' requests in ``[start_s, end_s]`` as one (no per-endpoint figures:
        what progress and step tables need, at half the cost for a single endpoint)."""
        return self._total(*self._window_parts(start_s, end_s), start_s, end_s)

    def stats_between(self, start_s: float, end_s: float
                      ) -> tuple[EndpointStats, dict[str, EndpointStats]]:
        duration = max(end_s - start_s, 0.0)
        parts, buckets = self._window_parts(start_s, end_s)
        endpoints = {name: summarize(name, parts.get(name, []), start_s, end_s, duration,
                                     buckets[name])
                     for name in buckets}
        endpoints = {k: v for k, v in endpoints.items() if v.requests}
        return self._total(parts, buckets, start_s, end_s), endpoints

    # -- watching ----------------------------------------------------------------------------
    def _snapshot(self, runner: Runner, now: float, phase: str) -> Snapshot:
        # Only the recent window is summarised: the whole run's counts are running totals,
        # so a progress line costs the same in the tenth minute as in the first second.
        recent = self.total_between(max(0.0, now - RECENT_WINDOW_SEC), now)
        users = self.mode.users(self, runner)
        return Snapshot(elapsed_s=now, total_s=self.spec.run_time_s, users=users,
                        rps=recent.rps, p95_ms=recent.p95_ms, requests=self.recorder.requests,
                        failures=self.recorder.failures, phase=phase)

    def _check_abort(self, now: float) -> bool:
        """True when thresholds were breached continuously for the grace period."""
        start, _ = self.window(now)
        if now - start < 1.0:
            return False
        total, endpoints = self.stats_between(max(start, now - RECENT_WINDOW_SEC), now)
        failed = [c for c in evaluate(self.spec, total, endpoints)
                  if not c.passed and c.measured is not None]
        if not failed:
            self._breach_since = None
            return False
        if self._breach_since is None:
            self._breach_since = now
        if now - self._breach_since >= self.spec.abort_grace_s:
            self.aborted = (f"aborted at {now:.1f}s: breached for {now - self._breach_since:.1f}s"
                            f" (abort_grace={self.spec.abort_grace_s:g}s): "
                            + "; ".join(c.describe() for c in failed))
            return True
        return False

    def _create_runner(self, env: Environment) -> Runner:
        if self.pool is None:
            return env.create_local_runner()
        self.group = WorkerGroup(env, self.pool, self.recorder, self.test_id)
        self.mode.connected(self, self.group)
        return self.group.runner

    def _watch_invariant(self, inv: Invariant) -> None:
        while True:
            gevent.sleep(inv.interval_s)
            inv.evaluate(self.recorder.now(), "during", call=call_with_timeout)

    def _watch_resources(self) -> None:
        while True:
            gevent.sleep(RESOURCE_INTERVAL_SEC)
            now = self.recorder.now()
            for monitor in (self.server_monitor, self.generator_monitor, *self.worker_monitors):
                if monitor is not None:
                    monitor.sample(now)
            stall = cpu_stall_total_us()
            if stall is not None:
                self.pressure.append((now, stall))
            steal = cpu_steal_ticks()
            if steal is not None:
                self.steal.append((now, *steal))

    def _watch_loop_lag(self) -> None:
        """How late a short sleep wakes up: a busy or CPU-starved generator wakes up late."""
        while True:
            start = self._lag_probe_since = self.recorder.now()
            gevent.sleep(LOOP_LAG_PROBE_SEC)
            end = self.recorder.now()
            self._lag_probe_since = None
            self.loop_lag.append((end, max(0.0, (end - start - LOOP_LAG_PROBE_SEC) * 1000)))

    def _close_lag_probe(self, end: float) -> None:
        """A probe still asleep at the end is at least this late: counted, or a loop so busy
        that no probe woke up in the window would look like one without lag."""
        since = self._lag_probe_since
        if since is not None and end - since > LOOP_LAG_PROBE_SEC:
            self.loop_lag.append((end, (end - since - LOOP_LAG_PROBE_SEC) * 1000))

    def _watch_urls(self) -> None:
        while True:
            for watched in self.watched:
                watched.poll(self.recorder.now())
            gevent.sleep(URL_POLL_INTERVAL_SEC)

    def track_steps(self, runner: Runner, now: float) -> None:
        target = runner.target_user_count
        if not self.steps or self.steps[-1][1] != target:
            self.steps.append((now, target))

    def _outstanding(self) -> tuple[int, float | None]:
        """Requests waiting for a response now, and when the oldest of them was sent."""
        if self.group is not None:
            return self.group.outstanding()
        return self.inflight.pending()

    def _check_stall(self, now: float) -> bool:
        """True when no response arrived for ``max_stall`` while requests were waiting."""
        if self.stall is None:
            return False
        last = self.recorder.last_response_s
        # Looking up what is in flight walks the users' stacks: only when it can matter.
        lately = answered_lately(now, last, self.stall.max_stall_s)
        count, oldest = (0, None) if lately else self._outstanding()
        stall = self.stall.observe(now, last, oldest, count)
        if stall is not None:
            self.stalled = stall
            return True
        return False

    def _should_stop(self, runner: Runner, deadline: float, now: float) -> bool:
        notice = self.target.check_alive() or (self.group.death_notice() if self.group else None)
        if notice:
            self.problems.append(notice)
            return True
        if self._check_stall(now):
            return True
        if self.spec.abort_on_fail and now >= self._next_abort_check:
            self._next_abort_check = now + ABORT_CHECK_INTERVAL_SEC
            if self._check_abort(now):
                return True
        return self.mode.done(self, runner, now, deadline)

    def execute(self) -> Run:
        """Run the load and return its figures (the verdict is decided by the gate)."""
        # Pace is measured where the users run: in-process perf runs (a race waits on purpose).
        measure_pace = self.mode.measures_pace and self.pool is None
        pacing = self.pace_meter.measuring() if measure_pace else contextlib.nullcontext()
        with RunHooks() as hooks, tasks_restored(self.classes), exact_locust_histograms(), \
                pacing, self.inflight.tracking(), raised_in_run(), heap_frozen(), \
                self.gc_meter.measuring():
            env = self._build_environment(hooks)
            self.recorder.restart()
            runner = self._create_runner(env)
            if self.group is None:  # users here: their stacks are read at every look
                self.inflight.watch(runner.user_greenlets.greenlets,
                                    *([self.open.group.greenlets] if self.open else []))
            hooks.fire_init(env, runner)
            history = gevent.spawn(locust.stats.stats_history, runner)
            if self.target.process is not None and self.target.process.pid is not None:
                self.server_monitor = ProcessMonitor(self.target.process.pid)
            self.generator_monitor = ProcessMonitor(os.getpid(), tree=False)
            watchers = self.watchers
            watchers.extend(gevent.spawn(self._watch_invariant, inv) for inv in self.invariants)
            watchers.append(gevent.spawn(self._watch_resources))
            watchers.append(gevent.spawn(self._watch_loop_lag))
            if self.watched:
                watchers.append(gevent.spawn(self._watch_urls))
            started = self.recorder.now()
            deadline = started + self.spec.run_time_s
            next_progress = started
            try:
                if self.group is not None:
                    self.group.connect(self.prepared, race=self.mode.barrier,
                                       exact_percentiles=True,
                                       request_timeout_s=self.spec.request_timeout_s,
                                       drain_s=drain_seconds(self.spec),
                                       open_model=self.spec.open)
                    # In a distributed run the workers generate the load: watch them instead.
                    self.worker_monitors = [ProcessMonitor(w.proc.pid, tree=False)
                                            for w in self.group.pool.workers]
                    self.recorder.restart()
                    deadline = self.recorder.now() + self.spec.run_time_s
                if self.probe is not None:  # on the recorder's clock, which starts here
                    watchers.append(gevent.spawn(self.probe.run))
                deadline = self.mode.start(self, runner, deadline)
                while True:
                    now = self.recorder.now()
                    if self._should_stop(runner, deadline, now):
                        break
                    if measure_pace:
                        self.pace_meter.record_users(now, runner.user_count)
                    if now >= next_progress:
                        snap = self._snapshot(runner, now, self.spec.mode)
                        self.history.append(snap)
                        if self.progress:
                            self.progress.show(snap)
                            next_progress = now + self.progress.interval_s
                        else:
                            next_progress = now + 1.0
                    # End on the deadline, not up to a watch interval after it.
                    gevent.sleep(min(WATCH_INTERVAL_SEC, max(0.001, deadline - now)))
                self.mode.after_load(self)
            except KeyboardInterrupt:
                self.interrupted = True
            except WorkerError as exc:
                self.problems.append(str(exc))
                self.workers_failed = True
            finally:
                end = self.recorder.now()
                self._close_lag_probe(end)
                gevent.killall(watchers)  # the open model's scheduler too: no new arrivals
                # What was in flight at the end still belongs to the run: answered while
                # draining, or censored (workers do the same when stopped, see worker.py).
                self.recorder.close(end, late=self.inflight.end())
                if self.group is None:
                    if self.stalled is None:
                        self.inflight.drain(drain_seconds(self.spec))
                    self.inflight.censor(env.events.request.fire)
                self.mode.stop(self)
                if self.group is not None:
                    self.group.finish()
                    self.group.close()
                else:
                    with gevent.Timeout(QUIT_TIMEOUT_SEC, False):
                        runner.quit()
                history.kill()
                locust.stats.update_stats_history(runner)
                if self.progress:
                    self.progress.close()
            hooks.fire_quit(env, runner)
            self.problems.extend(hooks.errors)
            for inv in self.invariants:
                inv.evaluate(self.recorder.now(), "after", call=call_with_timeout)
            for watched in self.watched:
                watched.poll(self.recorder.now())
        return Run(self._result(runner, end), env, self.recorder, self.history)

    def _samples_summary(self) -> dict[str, float | None]:
        overflow = self.recorder.overflow
        return {"raw_kept": self.recorder.kept, "max_samples": self.recorder.max_samples,
                "histogram_requests": overflow.requests,
                "histogram_from_s": round(overflow.first_s, 3)
                if overflow.first_s is not None else None}

    def _cap_notes(self) -> list[str]:
        overflow = self.recorder.overflow
        if not overflow.requests or overflow.first_s is None:
            return []
        return [f"raw samples capped at {self.recorder.max_samples}"
                f" (--loadgate-max-samples): the {overflow.requests} requests from"
                f" {overflow.first_s:.1f}s on are summarised by per-second HdrHistograms"
                f" (latencies within {HIST_RELATIVE_ERROR * 100:g}%, window edges rounded to"
                " whole seconds)"]

    def _generator_summary(self, start: float, stop: float) -> dict[str, float] | None:
        """CPU of the load generator (this process, or the busiest local worker) and, for an
        in-process run, its event-loop lag."""
        monitors = self.worker_monitors or (
            [self.generator_monitor] if self.generator_monitor else [])
        summaries = [s for m in monitors if (s := m.summary(start, stop))]
        summary = max(summaries, key=lambda s: s["cpu_avg"]) if summaries else None
        lags = sorted(lag for at, lag in self.loop_lag if start <= at <= stop)
        if summary is not None and lags and not self.worker_monitors:
            summary = {**summary, "loop_lag_p50_ms": round(lags[len(lags) // 2], 1),
                       "loop_lag_max_ms": round(lags[-1], 1)}
        if summary is not None and not self.worker_monitors:
            summary = {**summary, **self.gc_meter.summary(start, stop)}
        return summary

    def _timeline(self, end: float, bin_s: float = 1.0) -> list[dict[str, Any]]:
        """Per-second requests, rps, p95 and failures over the whole run, with each
        endpoint's requests and p95 (the index's latency chart)."""
        out = []
        start = 0.0
        while start < end:
            stop = min(start + bin_s, end)
            total, endpoints = self.stats_between(start, stop)
            out.append({"start_s": round(start, 2), "requests": total.requests,
                        "rps": round(total.rps, 1), "p95_ms": total.p95_ms,
                        "failures": total.failures,
                        "gc_ms": self.gc_meter.paused_ms(start, stop),
                        "endpoints": {name: {"requests": e.requests, "p95_ms": e.p95_ms}
                                      for name, e in sorted(endpoints.items())}})
            start = stop
        return out

    def _step_stats(self, end: float) -> list[dict[str, Any]]:
        """p95 and rps per step of a shape (where the system bends)."""
        out = []
        bounds = [*self.steps, (end, -1)]
        for (start, users), (stop, _) in itertools.pairwise(bounds):
            if stop - start < 0.5:
                continue
            total = self.total_between(start, stop)
            out.append({"users": users, "start_s": round(start, 2), "end_s": round(stop, 2),
                        "requests": total.requests, "rps": round(total.rps, 1),
                        "p95_ms": total.p95_ms, "error_rate": round(total.error_rate, 4)})
        return out

    def _result(self, runner: Runner, end: float) -> LoadResult:
        start, stop = self.window(end)
        total, endpoints = self.stats_between(start, stop)
        server = self.server_monitor.summary(start, stop) if self.server_monitor else None
        generator = self._generator_summary(start, stop)
        stalls = self.stall.finish(end) if self.stall is not None else []
        open_figures = self.mode.open_figures(self, start, stop)
        problems = list(self.problems)
        group_notes: list[str] = []
        if self.group is not None:
            problems.extend(self.group.run_problems)
            group_notes = self.group.summary_notes()
        if (self.spec.mode == "perf" and self.spawned_at is None and not self.interrupted
                and not self.workers_failed):
            problems.append(f"spawning of {self.spec.users} users did not finish within"
                            f" run_time={self.spec.run_time_s:g}s; nothing left to judge")
        violations = [v for inv in self.invariants if (v := inv.summary())]
        exceptions = [{"count": e["count"], "msg": e["msg"], "traceback": e["traceback"]}
                      for e in runner.exceptions.values()]
        return LoadResult(
            spec=self.spec, host=self.target.url, total=total, endpoints=endpoints,
            window_s=(round(start, 3), round(stop, 3)), duration_s=round(end, 3),
            started_unix=round(self.recorder.wall_origin, 3),
            violations=violations, problems=problems, exceptions=exceptions,
            aborted=self.aborted, interrupted=self.interrupted,
            worker_count=self.pool.plan.total if self.pool is not None else 0,
            server_resources=server, generator_resources=generator,
            pace=(pace.as_dict() if (pace := self.pace_meter.summary(
                start, stop, total.requests, total.avg_ms,
                request_s=max(self.recorder.waits.overlap(start, stop)
                              + self.inflight.waiting_seconds(start, stop),
                              total.requests * total.avg_ms / 1000 if total.requests else 0.0),
            )) else None),
            stalls=[s.as_dict() for s in stalls],
            samples=self._samples_summary(),
            notes=(self._cap_notes() + watcher_cost_notes(self.watched, end) + group_notes
                   + gc_notes(generator)),
            open=open_figures.as_dict() if open_figures is not None else None,
            machine_stall=(None if (share := stall_share(self.pressure, start, stop)) is None
                           else round(share, 3)),
            machine_steal=(None if (stolen := steal_share(self.steal, start, stop)) is None
                           else round(stolen, 3)),
            reference=self.probe.summary(start, stop) if self.probe else None,
            watched=[w.as_dict() for w in self.watched], steps=self._step_stats(end),
            timeline=self._timeline(end),
            resource_samples={
                "server": self.server_monitor.as_list() if self.server_monitor else [],
                "generator": self.generator_monitor.as_list() if self.generator_monitor else [],
                **{f"worker-{i}": m.as_list() for i, m in enumerate(self.worker_monitors)},
            },
        )

