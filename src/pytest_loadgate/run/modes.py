"""How each kind of run applies its load: the closed model (users), a shape, the open model
(arrivals) and a race. A mode starts the load, says when the run is done and where its verdict
window lies; :class:`pytest_loadgate.run.runner.LoadRun` does everything the modes share
(recording, watching, stalls, aborts, ending) and never branches on the kind of run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gevent
from locust import LoadTestShape
from locust.env import Environment
from locust.runners import STATE_STOPPED, Runner

from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.run.open_load import OpenFigures, OpenLoad
from pytest_loadgate.run.race import RaceGate, race_user_class

if TYPE_CHECKING:
    from pytest_loadgate.run.distributed import WorkerGroup
    from pytest_loadgate.run.runner import LoadRun

#: How long a race waits (beyond its spawn time) for every user to reach the barrier.
RACE_SPAWN_TIMEOUT_SEC = 30.0


class ClosedLoad:
    """``users`` users spawned at ``spawn_rate``, looping over their tasks until the deadline.
    The verdict window starts when spawning completed, plus the warm-up."""

    #: Whether the users' pace (achieved vs implied rate) is measured, in-process only.
    measures_pace = True
    #: Whether the machine-speed reference is probed during the run.
    probes_reference = True
    #: Whether users wait at a barrier to start together (workers put in their own).
    barrier = False

    def prepare_classes(self, run: LoadRun, classes: list[type]) -> list[type]:
        return classes

    def attach(self, run: LoadRun, env: Environment) -> None:
        """Hook into the run's environment before the runner exists (in-process runs)."""

    def start(self, run: LoadRun, runner: Runner, deadline: float) -> float:
        """Start the load; returns the run's deadline (on the recorder's clock)."""
        spec = run.spec
        if run.group is not None:  # MasterRunner.start blocks while dispatching
            run.watchers.append(gevent.spawn(runner.start, spec.users, spec.spawn_rate))
        else:
            runner.start(spec.users, spec.spawn_rate)
        return deadline

    def window(self, run: LoadRun, end_s: float) -> tuple[float, float]:
        spawned = run.spawned_at if run.spawned_at is not None else end_s
        return min(spawned + run.spec.warmup_s, end_s), end_s

    def done(self, run: LoadRun, runner: Runner, now: float, deadline: float) -> bool:
        return now >= deadline

    def users(self, run: LoadRun, runner: Runner) -> int:
        return runner.user_count

    def connected(self, run: LoadRun, group: WorkerGroup) -> None:
        """The run's workers (a distributed run) are known."""

    def after_load(self, run: LoadRun) -> None:
        """The load ended normally (not interrupted): a last look at what it did."""

    def stop(self, run: LoadRun) -> None:
        """Stop what the mode started itself (however the run ended)."""

    def open_figures(self, run: LoadRun, start_s: float, end_s: float) -> OpenFigures | None:
        return None


class ShapeLoad(ClosedLoad):
    """A ``LoadTestShape`` decides the users over time and when the run ends (capped by
    ``run_time``); the window starts after the warm-up."""

    def __init__(self, shape: LoadTestShape) -> None:
        self.shape = shape

    def start(self, run: LoadRun, runner: Runner, deadline: float) -> float:
        runner.start_shape()
        return deadline

    def window(self, run: LoadRun, end_s: float) -> tuple[float, float]:
        return min(run.spec.warmup_s, end_s), end_s

    def done(self, run: LoadRun, runner: Runner, now: float, deadline: float) -> bool:
        run.track_steps(runner, now)
        # A shape that ends stops the runner (headless: quits it, which also kills the
        # shape's own greenlet before it can clear runner.shape_greenlet).
        shape_done = runner.shape_greenlet is None or runner.shape_greenlet.dead
        return (now > 1.0 and shape_done and runner.state == STATE_STOPPED) or now >= deadline


class OpenArrivals(ClosedLoad):
    """The open model: iterations start on a schedule, whatever the server does; the window
    starts after the warm-up (the schedule has no ramp of users)."""

    measures_pace = False

    def attach(self, run: LoadRun, env: Environment) -> None:
        assert run.spec.open is not None
        run.open = OpenLoad(env, env.user_classes, run.spec.open, run.recorder.now,
                            run.recorder.iterations)

    def start(self, run: LoadRun, runner: Runner, deadline: float) -> float:
        assert run.spec.open is not None
        run.spawned_at = 0.0
        if run.open is not None:
            run.watchers.append(gevent.spawn(run.open.run))
            return deadline
        assert run.group is not None
        run.group.start_open(run.spec.open)
        # The run lasts the schedule: from the workers' common origin.
        return run.group.open_origin_s + run.spec.run_time_s

    def window(self, run: LoadRun, end_s: float) -> tuple[float, float]:
        return min(run.spec.warmup_s, end_s), end_s

    def users(self, run: LoadRun, runner: Runner) -> int:
        return run.open.busy if run.open is not None else runner.user_count

    def stop(self, run: LoadRun) -> None:
        if run.open is not None:
            run.open.stop()

    def open_figures(self, run: LoadRun, start_s: float, end_s: float) -> OpenFigures | None:
        if run.open is not None:
            return run.open.figures(start_s, end_s)
        if run.group is not None:
            return run.group.open_figures(start_s, end_s)
        return None


class Race(ClosedLoad):
    """Every user waits at a barrier, all are released at once and each runs one task; the
    run ends when all have finished (or at ``run_time`` after the release). The window starts
    at the release."""

    measures_pace = False
    probes_reference = False
    barrier = True

    def __init__(self) -> None:
        self.gate = RaceGate()

    def prepare_classes(self, run: LoadRun, classes: list[type]) -> list[type]:
        if run.pool is not None:  # each worker puts its own barrier in (see worker.py)
            return classes
        return [race_user_class(c, self.gate) for c in classes]

    def start(self, run: LoadRun, runner: Runner, deadline: float) -> float:
        super().start(run, runner, deadline)
        gate, users = self.gate, run.spec.users
        spawn_budget = users / run.spec.spawn_rate + RACE_SPAWN_TIMEOUT_SEC
        if not gate.wait_until(lambda: gate.arrived >= users or
                               run.target.check_alive() is not None, spawn_budget):
            run.problems.append(
                f"race: only {gate.arrived} of {users} users reached the barrier"
                f" within {spawn_budget:.0f}s")
        gate.release(run.recorder.now())
        return run.recorder.now() + run.spec.run_time_s

    def window(self, run: LoadRun, end_s: float) -> tuple[float, float]:
        released = self.gate.released_at
        return (released if released is not None else end_s), end_s

    def done(self, run: LoadRun, runner: Runner, now: float, deadline: float) -> bool:
        return self.gate.finished >= run.spec.users or now >= deadline

    def connected(self, run: LoadRun, group: WorkerGroup) -> None:
        self.gate.set_on_release(group.broadcast_release)
        group.gate = self.gate

    def after_load(self, run: LoadRun) -> None:
        missing = run.spec.users - self.gate.finished
        if missing > 0 and not run.problems and not run.aborted:
            run.problems.append(
                f"race: {missing} of {run.spec.users} users had not finished their task after"
                f" run_time={run.spec.run_time_s:g}s")


LoadMode = ClosedLoad


def mode_for(spec_mode: str, has_open: bool, shape: Any) -> LoadMode:
    """The mode of a run: ``race``, the open model, a shape, or the closed model."""
    if shape is not None and (spec_mode == "race" or not isinstance(shape, LoadTestShape)):
        raise LoadgateConfigError(
            f"loadgate.run(): shape={shape!r} must be a LoadTestShape instance (perf only)")
    if shape is not None and has_open:
        raise LoadgateConfigError(
            f"loadgate.run(): shape={type(shape).__name__}() cannot drive the open model"
            " (arrival_rate/arrival_stages); use arrival_stages for a changing rate")
    if spec_mode == "race":
        return Race()
    if shape is not None:
        return ShapeLoad(shape)
    return OpenArrivals() if has_open else ClosedLoad()
