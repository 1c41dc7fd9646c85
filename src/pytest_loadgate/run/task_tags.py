"""Tag filtering that leaves the user's classes as it found them.

Locust applies ``--tags``/``--exclude-tags`` by rewriting the ``tasks`` list of every User and
TaskSet class in place (``Environment._filter_tasks_by_tags``). The command line runs once per
process, so that never matters there; a pytest session runs many tests, and nested TaskSet
classes are shared between them. :func:`tasks_restored` puts every rewritten list back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any


def task_holders(user_classes: Iterable[type]) -> list[type]:
    """Every User and TaskSet class reachable from ``user_classes`` through ``tasks``."""
    found: list[type] = []
    seen: set[int] = set()
    stack: list[Any] = list(user_classes)
    while stack:
        holder = stack.pop()
        if not isinstance(holder, type) or id(holder) in seen:
            continue
        seen.add(id(holder))
        found.append(holder)
        stack.extend(t for t in getattr(holder, "tasks", ()) if isinstance(t, type))
    return found


@contextlib.contextmanager
def tasks_restored(user_classes: Iterable[type]) -> Iterator[None]:
    """While active, Locust may filter the classes' tasks; afterwards each is as before."""
    saved = [(h, "tasks" in h.__dict__, list(getattr(h, "tasks", ())))
             for h in task_holders(user_classes)]
    try:
        yield
    finally:
        for holder, own, tasks in saved:
            if own:
                holder.tasks = tasks  # type: ignore[attr-defined]
            elif "tasks" in holder.__dict__:
                delattr(holder, "tasks")
