"""Locust's module-level event hooks, fired for each run as ``locust --headless`` fires them.

Locustfiles register listeners at import time on the global ``locust.events``
(``@events.test_start.add_listener``), and custom clients report through
``events.request.fire(...)``. A run therefore uses that global object, like Locust's command
line, and fires what only the command line fires: ``init`` once the runner exists, and
``quitting`` then ``quit`` when the run is over. Runs stay isolated: when a run ends, every
hook's listeners are put back as they were before it, so listeners the plugin added for the run
(and any a locustfile's listener added during it, e.g. from ``init``) never pile up.

Locust logs and swallows an exception raised by a listener; the command line then exits with an
error. Here each such exception is kept (:attr:`RunHooks.errors`) and fails the run's verdict.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import locust
import locust.log
from locust.event import EventHook, Events

#: What Locust's ``EventHook.fire`` logs when a listener raises.
LISTENER_ERROR_PREFIX = "Uncaught exception in event handler"


class _ListenerErrors(logging.Handler):
    """Collects Locust's "Uncaught exception in event handler" log records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(LISTENER_ERROR_PREFIX):
            self.messages.append(message)


def describe_listener_error(message: str) -> str:
    """One line from Locust's logged traceback: the listener's function and the exception."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    where = next((line for line in reversed(lines) if line.startswith("File ")), "")
    function = where.rsplit(" in ", 1)[-1] if " in " in where else "a listener"
    return f"event listener {function}() raised {lines[-1] if lines else 'an exception'}"


def hooks_of(events: Events) -> dict[str, EventHook]:
    return {name: hook for name, hook in vars(events).items() if isinstance(hook, EventHook)}


class RunHooks:
    """The global ``locust.events`` for one run, restored when it ends (a context manager)."""

    def __init__(self, events: Events | None = None) -> None:
        self.events: Events = events if events is not None else locust.events
        self._saved: dict[str, list[Any]] = {}
        self._errors = _ListenerErrors()
        self._unhandled_before = False

    @property
    def errors(self) -> list[str]:
        """Listener exceptions of this run, one line each."""
        return [describe_listener_error(m) for m in self._errors.messages]

    def __enter__(self) -> RunHooks:
        self._saved = {name: list(hook._handlers) for name, hook in hooks_of(self.events).items()}
        self._unhandled_before = locust.log.unhandled_greenlet_exception
        logging.getLogger().addHandler(self._errors)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        logging.getLogger().removeHandler(self._errors)
        for name, hook in hooks_of(self.events).items():
            hook._handlers[:] = self._saved.get(name, [])
        locust.log.unhandled_greenlet_exception = self._unhandled_before

    def fire_init(self, environment: Any, runner: Any) -> None:
        """What the command line fires once its runner exists (no web UI: headless)."""
        self.events.init.fire(environment=environment, runner=runner, web_ui=None)

    def fire_quit(self, environment: Any, runner: Any) -> None:
        """What the command line fires on shutdown: ``quitting`` (listeners in reverse
        order), then ``quit`` with the exit code it would return."""
        self.events.quitting.fire(environment=environment, reverse=True)
        self.events.quit.fire(exit_code=cli_exit_code(environment, runner,
                                                      bool(self._errors.messages)))


def cli_exit_code(environment: Any, runner: Any, listener_failed: bool) -> int:
    """The exit code ``locust --headless`` would end with (its own rule, in its order)."""
    if environment.process_exit_code is not None:
        return int(environment.process_exit_code)
    if runner is not None and (runner.errors or runner.exceptions):
        options = environment.parsed_options
        return int(getattr(options, "exit_code_on_error", 1)) if options is not None else 1
    return 2 if listener_failed else 0
