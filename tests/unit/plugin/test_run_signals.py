"""A signal handler that raises (pytest-timeout) ends the run, wherever the signal lands."""

from __future__ import annotations

import signal
import time
from types import FrameType

import gevent
import pytest

from pytest_loadgate.run.run_signals import raised_in_run


class Expired(Exception):
    pass


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Expired("timeout")


def _busy_user() -> None:
    """A user that keeps the CPU: the signal's handler runs in this greenlet."""
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        pass


def test_a_raising_handler_in_a_user_greenlet_reaches_the_run() -> None:
    previous = signal.signal(signal.SIGALRM, _raise)
    try:
        with pytest.raises(Expired), raised_in_run():
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            user = gevent.spawn(_busy_user)  # it runs when this greenlet waits, below
            gevent.sleep(5)  # the run's greenlet waits in the hub, as LoadRun's loop does
        assert user.dead and not isinstance(user.exception, Expired)  # the user was spared
        assert signal.getsignal(signal.SIGALRM) is _raise  # put back as found
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
