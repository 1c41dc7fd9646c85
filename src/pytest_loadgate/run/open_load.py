"""The open workload model: start one task iteration at each scheduled instant.

Locust's users run a closed loop (send, wait for the answer, wait, send again), so when the
server stalls the users stop asking and the stall hides (coordinated omission). Here a
scheduler starts iterations on the schedule of :mod:`pytest_loadgate.arrivals` whatever the
server does: each takes a free user of the chosen class (by ``weight``) from a pool that grows
up to ``max_users`` and runs one of its tasks, without ``wait_time``. An arrival that finds
every user busy is *dropped* and counted. The first request of each iteration is measured from
its scheduled start (see :class:`pytest_loadgate.run.recorder.IterationClock`).
"""

from __future__ import annotations

import logging
import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.pool import Group
from locust import User
from locust.exception import (
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopUser,
)
from locust.user.task import DefaultTaskSet

from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.run.recorder import IterationClock
from pytest_loadgate.spec import OpenModel
from pytest_loadgate.stats.metrics import percentile

log = logging.getLogger("pytest_loadgate")

#: The scheduler starts every arrival due within this much of now in one go.
BATCH_SEC = 0.0005


@dataclass(frozen=True)
class OpenFigures:
    """What the schedule asked for in a window and what was started."""

    scheduled: int
    started: int
    dropped: int
    asked_rate: float  # iterations/s the profile asks for over the window
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_max_ms: float
    max_users: int
    peak_busy: int  # the most users busy at once

    @property
    def send_rate(self) -> float:
        """Started / scheduled (1.0 when nothing was scheduled)."""
        return self.started / self.scheduled if self.scheduled else 1.0

    @property
    def dropped_rate(self) -> float:
        return self.dropped / self.scheduled if self.scheduled else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"scheduled": self.scheduled, "started": self.started, "dropped": self.dropped,
                "send_rate": round(self.send_rate, 4), "dropped_rate": round(self.dropped_rate, 4),
                "asked_rate": round(self.asked_rate, 2),
                "lateness_p50_ms": round(self.lateness_p50_ms, 3),
                "lateness_p99_ms": round(self.lateness_p99_ms, 3),
                "lateness_max_ms": round(self.lateness_max_ms, 3),
                "max_users": self.max_users, "peak_busy": self.peak_busy}


def check_open_classes(user_classes: Sequence[type[User]]) -> None:
    """The open model picks classes by ``weight``; ``fixed_count`` has no meaning there."""
    for cls in user_classes:
        if getattr(cls, "fixed_count", 0):
            raise LoadgateConfigError(
                f"loadgate.run(): {cls.__name__}.fixed_count={cls.fixed_count} cannot be used"
                " with the open model (arrival_rate/arrival_stages): iterations are shared by"
                " weight; use weight instead")


class WeightedPicker:
    """Deterministic smooth weighted round robin: each class gets its share, interleaved."""

    def __init__(self, classes: Sequence[type[User]]) -> None:
        self.classes = list(classes)
        self.weights = [max(0, int(getattr(c, "weight", 1) or 0)) for c in self.classes]
        if not any(self.weights):
            self.weights = [1] * len(self.classes)
        self.current = [0] * len(self.classes)

    def pick(self) -> type[User]:
        total = sum(self.weights)
        for i, w in enumerate(self.weights):
            self.current[i] += w
        best = max(range(len(self.classes)), key=lambda i: self.current[i])
        self.current[best] -= total
        return self.classes[best]


class OpenLoad:
    """Runs the schedule in this process (or this worker's share of it)."""

    def __init__(self, environment: Any, user_classes: Sequence[type[User]], model: OpenModel,
                 clock: Callable[[], float], iterations: IterationClock, *,
                 index: int = 0, of: int = 1, seed: int | None = None) -> None:
        check_open_classes(user_classes)
        self.environment = environment
        self.model = model
        self.clock = clock
        self.iterations = iterations
        self.index, self.of = index, of
        self.seed = seed if seed is not None else random.randrange(2**32)
        self.max_users = max(1, model.max_users // of + (1 if index < model.max_users % of
                                                          else 0))
        self.picker = WeightedPicker(user_classes)
        self.free: dict[type[User], list[User]] = {c: [] for c in user_classes}
        self.created = 0
        self.busy = 0
        self.peak_busy = 0
        self.group = Group()
        self.log = ScheduleLog()
        self.done = False

    # -- the scheduler ---------------------------------------------------------------------------
    def run(self, origin_s: float = 0.0) -> None:
        """Start iterations on schedule until the profile ends (``origin_s``: schedule zero on
        the run clock)."""
        for at in self.model.profile.schedule(self.model.arrivals, index=self.index, of=self.of,
                                              seed=self.seed):
            due = origin_s + at
            delay = due - self.clock()
            if delay > BATCH_SEC:
                gevent.sleep(delay)
            self._arrive(due)
        self.done = True

    def _arrive(self, scheduled_s: float) -> None:
        cls = self.picker.pick()
        pool = self.free[cls]
        if pool:
            user = pool.pop()
        elif self.created < self.max_users:
            user = cls(self.environment)
            self.created += 1
        else:
            self.log.dropped_at.append(scheduled_s)
            return
        self.busy += 1
        self.peak_busy = max(self.peak_busy, self.busy)
        self.group.spawn(self._iterate, user, scheduled_s)

    # -- one iteration -----------------------------------------------------------------------------
    def _iterate(self, user: User, scheduled_s: float) -> None:
        me = gevent.getcurrent()
        self.log.started_at.append(scheduled_s)
        self.log.lateness_ms.append(max(0.0, self.clock() - scheduled_s) * 1000.0)
        self.iterations.begin(me, scheduled_s)
        keep = True
        try:
            tasks = user._taskset_instance
            if tasks is None:
                user._state = "running"
                tasks = user._taskset_instance = DefaultTaskSet(user)
                user.on_start()
            if not tasks._task_queue:
                tasks.schedule_task(tasks.get_next_task())
            tasks.execute_next_task()
        except (RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet):
            pass
        except StopUser:
            keep = False
            self._stop_user(user)
        except gevent.GreenletExit:
            keep = False
            raise
        except Exception as exc:  # a task's own error: reported like Locust reports it
            self.environment.events.user_error.fire(user_instance=user, exception=exc,
                                                    tb=exc.__traceback__)
            log.error("%s: %s", type(user).__name__, exc, exc_info=exc)
        finally:
            self.iterations.end(me)
            self.busy -= 1
            if keep:
                self.free[type(user)].append(user)
            else:
                self.created -= 1

    @staticmethod
    def _stop_user(user: User) -> None:
        try:
            user.on_stop()
        except Exception as exc:
            log.error("%s.on_stop: %s", type(user).__name__, exc, exc_info=exc)

    def stop(self) -> None:
        """Kill every iteration still running (after their requests were censored)."""
        self.group.kill(block=True, timeout=5)

    def figures(self, start_s: float, end_s: float, origin_s: float = 0.0) -> OpenFigures:
        """Scheduled, started and dropped arrivals whose scheduled time is in the window."""
        return open_figures(self.model, [(self.index, self.of, self.seed, self.log)],
                            start_s, end_s, origin_s, self.peak_busy)


@dataclass
class ScheduleLog:
    """Scheduled start of every started and dropped arrival (one clock), and how late each
    started one began."""

    started_at: array[float] = field(default_factory=lambda: array("d"))
    lateness_ms: array[float] = field(default_factory=lambda: array("d"))
    dropped_at: array[float] = field(default_factory=lambda: array("d"))

    def drain(self) -> dict[str, list[float]]:
        """Everything logged since the last drain (what a worker ships), then forget it."""
        out = {"started_at": list(self.started_at), "lateness_ms": list(self.lateness_ms),
               "dropped_at": list(self.dropped_at)}
        self.started_at, self.lateness_ms, self.dropped_at = array("d"), array("d"), array("d")
        return out

    def add(self, shipped: dict[str, list[float]], shift_s: float) -> None:
        """Append a worker's drained log, moving its times by ``shift_s``."""
        self.started_at.extend(t + shift_s for t in shipped["started_at"])
        self.lateness_ms.extend(shipped["lateness_ms"])
        self.dropped_at.extend(t + shift_s for t in shipped["dropped_at"])


def scheduled_count(model: OpenModel, index: int, of: int, seed: int | None,
                    start_s: float, end_s: float, origin_s: float) -> int:
    """Arrivals of generator ``index`` of ``of`` scheduled in the window (regenerated: the
    schedule is deterministic for a seed)."""
    n = 0
    for at in model.profile.schedule(model.arrivals, index=index, of=of, seed=seed):
        if origin_s + at > end_s:
            break
        n += origin_s + at >= start_s
    return n


def _in_window(values: array[float], start_s: float, end_s: float) -> int:
    ordered = sorted(values)
    return bisect_right(ordered, end_s) - bisect_left(ordered, start_s)


def open_figures(model: OpenModel, logs: Sequence[tuple[int, int, int | None, ScheduleLog]],
                 start_s: float, end_s: float, origin_s: float, peak_busy: int) -> OpenFigures:
    """The open model's figures over a window, from each generator's log (``(index, of, seed,
    log)``): arrivals a late scheduler never reached count as scheduled and not started."""
    started = sum(_in_window(log.started_at, start_s, end_s) for *_, log in logs)
    dropped = sum(_in_window(log.dropped_at, start_s, end_s) for *_, log in logs)
    scheduled = sum(scheduled_count(model, i, of, seed, start_s, end_s, origin_s)
                    for i, of, seed, _ in logs)
    late = sorted(lat for *_, log in logs
                  for at, lat in zip(log.started_at, log.lateness_ms, strict=True)
                  if start_s <= at <= end_s)
    duration = end_s - start_s
    asked = (model.profile.count_between(start_s - origin_s, end_s - origin_s) / duration
             if duration > 0 else 0.0)
    return OpenFigures(
        scheduled=max(scheduled, started + dropped), started=started, dropped=dropped,
        asked_rate=asked,
        lateness_p50_ms=percentile(late, 0.5) if late else 0.0,
        lateness_p99_ms=percentile(late, 0.99) if late else 0.0,
        lateness_max_ms=late[-1] if late else 0.0,
        max_users=model.max_users, peak_busy=peak_busy)
