"""Race semantics: spawn every user, hold them at a barrier, release all at once, one task each."""

from __future__ import annotations

import inspect
import random
from typing import Any

import gevent
from gevent.event import Event
from locust import User, constant
from locust.exception import StopUser

from pytest_loadgate.errors import LoadgateConfigError


class RaceGate:
    """Counts users arriving at and leaving the barrier; ``release()`` lets them all go."""

    def __init__(self) -> None:
        self.arrived = 0
        self.finished = 0
        self._released = Event()
        self.released_at: float | None = None

    def arrive_and_wait(self) -> None:
        self.arrived += 1
        self._released.wait()

    def release(self, at: float) -> None:
        self.released_at = at
        self._released.set()

    def finish(self) -> None:
        self.finished += 1

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
