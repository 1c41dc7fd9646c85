"""Race semantics: spawn every user, hold them at a barrier, release all at once, one task each."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from locust import User, constant
from locust.exception import StopUser

from pytest_loadgate.errors import LoadgateConfigError


class RaceGate:
    """Counts users arriving at and leaving the barrier; ``release()`` lets them all go.

    In a distributed run the workers' gates report arrivals and finishes to the master through
    ``on_arrive``/``on_finish``, and the master's gate broadcasts the release via ``on_release``.
    """

    def __init__(self, *, on_arrive: Callable[[], None] | None = None,
                 on_finish: Callable[[], None] | None = None,
                 on_release: Callable[[], None] | None = None) -> None:
        self.arrived = 0
        self.finished = 0
        self._released = Event()
        self.released_at: float | None = None
        self._on_arrive = on_arrive
        self._on_finish = on_finish
        self._on_release = on_release

    def set_on_release(self, hook: Callable[[], None]) -> None:
        self._on_release = hook

    def arrive_and_wait(self) -> None:
        self.arrived += 1
        if self._on_arrive:
            self._on_arrive()
        self._released.wait()

    def release(self, at: float) -> None:
        self.released_at = at
        self._released.set()
        if self._on_release:
            self._on_release()

    def finish(self) -> None:
        self.finished += 1
        if self._on_finish:
            self._on_finish()

    def wait_until(self, predicate: Any, timeout_s: float, poll_s: float = 0.01) -> bool:
        """Cooperatively wait until ``predicate()`` is true; False on timeout."""
        with gevent.Timeout(timeout_s, False):
            while not predicate():
                gevent.sleep(poll_s)
            return True
        return False


def _one_shot_tasks(user_class: type[User]) -> list[Any]:
    tasks = list(getattr(user_class, "tasks", []) or [])
    if not tasks:
        raise LoadgateConfigError(f"race: user class {user_class.__name__} has no @task")
    for task in tasks:
        if not callable(task) or inspect.isclass(task):
            raise LoadgateConfigError(
                f"race: user class {user_class.__name__} uses TaskSet {task!r}; a race runs"
                " one @task method per user, so define the tasks on the user class"
            )
    return tasks


def race_user_class(user_class: type[User], gate: RaceGate) -> type[User]:
    """A subclass of ``user_class`` that waits at ``gate`` and then runs one weighted task."""
    tasks = _one_shot_tasks(user_class)

    def race_once(self: Any) -> None:
        if getattr(self, "_loadgate_ran", False):
            raise StopUser()
        self._loadgate_ran = True
        gate.arrive_and_wait()
        try:
            random.choice(tasks)(self)
        finally:
            gate.finish()
        raise StopUser()

    racer = type(user_class.__name__, (user_class,), {
        "wait_time": constant(0),
        "__module__": user_class.__module__,
        "__qualname__": user_class.__qualname__,
    })
    # Assigned after creation: Locust's metaclass would merge the base class's tasks back in.
    racer.tasks = [race_once]  # type: ignore[attr-defined]
    return racer
