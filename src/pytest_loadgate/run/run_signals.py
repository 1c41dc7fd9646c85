"""Signal handlers that raise (pytest-timeout's SIGALRM) reach the run itself.

A Python signal handler runs in whichever greenlet happens to be executing. During a load run
that is usually a Locust user: an exception it raises would end that user's greenlet (gevent
prints it and carries on) instead of the test, so a test's timeout would be lost and its run
would finish as if nothing happened. While a run is on, such a handler is wrapped: raised in a
user's greenlet, its exception is thrown into the greenlet running the load instead.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import gevent

#: Signals whose Python handlers may raise to end the test (pytest-timeout uses SIGALRM).
FORWARDED = (signal.SIGALRM,)


@contextlib.contextmanager
def raised_in_run() -> Iterator[None]:
    """Within: exceptions from Python handlers of FORWARDED signals reach this greenlet."""
    runner = gevent.getcurrent()
    hub = gevent.get_hub()
    originals: dict[int, Any] = {}

    def wrap(original: Callable[[int, FrameType | None], Any]) -> Callable[..., None]:
        def forward(signum: int, frame: FrameType | None) -> None:
            if gevent.getcurrent() is runner:
                original(signum, frame)
                return
            try:
                original(signum, frame)
            except BaseException as exc:
                hub.loop.run_callback(runner.throw, exc)
        return forward

    for signum in FORWARDED:
        handler = signal.getsignal(signum)
        if callable(handler):
            originals[signum] = handler
            signal.signal(signum, wrap(handler))
    try:
        yield
    finally:
        for restored, previous in originals.items():
            signal.signal(restored, previous)
