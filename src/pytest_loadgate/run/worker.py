"""A Locust worker process for pytest-loadgate's distributed runs.

Run as ``loadgate worker --master-host HOST --master-port PORT`` (or ``python -m
pytest_loadgate.run.worker ...``), with the session's token in ``LOADGATE_TOKEN``. The worker
serves one test's master at a time: the master sends the user classes (cloudpickled, inside a
signed frame) once the worker has connected; the worker ships every request's raw sample back
on its own monotonic clock, so percentiles stay exact across workers and clock skew cannot move
them. When the test's master quits, the worker connects again and waits for the next one (the
next test, or the next session: a restarted master is found again).
"""

from __future__ import annotations

import argparse
import base64
import gc
import logging
import os
import socket
import sys
import time
from typing import Any

os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)  # a worker is a plain Locust process

import cloudpickle
import gevent
import locust
import locust.runners
import locust.stats
from locust.env import Environment
from locust.exception import RPCError

from pytest_loadgate.distributed_plan import TOKEN_ENV
from pytest_loadgate.run.gc_meter import heap_frozen
from pytest_loadgate.run.inflight import InFlight
from pytest_loadgate.run.locust_hooks import RunHooks
from pytest_loadgate.run.open_load import OpenLoad
from pytest_loadgate.run.protocol import (
    MSG_ARRIVED,
    MSG_FINISHED,
    MSG_FLUSH,
    MSG_HELLO,
    MSG_OPEN_START,
    MSG_READY,
    MSG_RELEASE,
    MSG_SAMPLES,
    MSG_SETUP,
    SAMPLE_SHIP_INTERVAL_SEC,
)
from pytest_loadgate.run.race import RaceGate, race_user_class
from pytest_loadgate.run.recorder import IterationClock, request_origin, service_and_latency
from pytest_loadgate.run.stall import answered_lately
from pytest_loadgate.run.wire_auth import install_worker_auth
from pytest_loadgate.stats.samples import (
    ANSWERED_LATE,
    CENSORED,
    WireSample,
    exact_bucket,
    status_of,
)

#: Pause between attempts to reach a master that is not there (between tests or sessions).
RECONNECT_PAUSE_SEC = 0.2
#: A master silent this long is gone (Locust waits 60 s): connect again for the next one.
MASTER_SILENCE_SEC = 10
clock = time.monotonic

log = logging.getLogger("pytest_loadgate.worker")


class WorkerSession:
    """One test as a worker: receives the setup, runs users, ships samples, mirrors the race
    gate. Built inside ``RunHooks`` so nothing it adds to Locust's global events outlives it."""

    def __init__(self, hooks: RunHooks, master_host: str, master_port: int, name: str) -> None:
        self.name = name
        self.pending: dict[str, list[WireSample]] = {}
        self.set_up = False
        # Locust's global events, as under ``locust --worker``: the locustfile's module-level
        # listeners and custom clients (events.request.fire) reach this worker's figures.
        self.environment = Environment(user_classes=[], events=hooks.events,
                                       catch_exceptions=True)
        self.environment.events.request.add_listener(self._on_request)
        # Blocks until a master acknowledges (Locust retries); ConnectionError after minutes.
        self.runner = self.environment.create_worker_runner(master_host, master_port)
        self.gate: RaceGate | None = None
        self.inflight = InFlight(clock, None)
        self.inflight.watch(self.runner.user_greenlets.greenlets)
        self.last_answered: float | None = None
        self.iterations = IterationClock()
        self.open_model: Any = None
        self.open: OpenLoad | None = None
        self.open_greenlet: gevent.Greenlet | None = None
        self.late: set[Any] = set()
        self.drain_s = 0.0
        # Before Locust stops the users: what is still unanswered enters the figures.
        self.environment.events.test_stopping.add_listener(self._on_stopping)
        self.runner.register_message(MSG_SETUP, self._on_setup)
        self.runner.register_message(MSG_OPEN_START, self._on_open_start)
        self.runner.register_message(MSG_RELEASE, self._on_release)
        self.runner.register_message(MSG_FLUSH, self._on_flush)
        self.runner.send_message(MSG_HELLO, self._identity())

    def _identity(self) -> dict[str, Any]:
        return {"name": self.name, "pid": os.getpid(), "host": socket.gethostname()}

    def _on_request(self, request_type: str, name: str, response_time: float | None,
                    response: Any = None, exception: BaseException | None = None,
                    context: Any = None, start_time: float | None = None,
                    **_: Any) -> None:
        now = clock()
        censored, greenlet = request_origin(exception, context)
        flag = CENSORED if censored else 0
        if not censored:
            self.last_answered = now
            if greenlet in self.late:  # in flight when the run ended
                self.late.discard(greenlet)
                flag = ANSWERED_LATE
        # Locust dates a request's start on the wall clock: moved onto ours.
        start = start_time - time.time() + now if isinstance(start_time, float) else None
        service, latency = service_and_latency(self.iterations, greenlet, response_time, start,
                                               now)
        self.pending.setdefault(f"{request_type} {name}", []).append(
            (now, latency, status_of(response, exception), 1 if exception is not None else 0,
             service, flag))

    def _on_stopping(self, **_: Any) -> None:
        if self.inflight.closed:
            return
        if self.open_greenlet is not None:
            self.open_greenlet.kill()
        self.late = self.inflight.end()
        self.inflight.drain(self.drain_s)
        self.inflight.censor(self.environment.events.request.fire)
        if self.open is not None:
            self.open.stop()

    def _ship(self, final: bool = False) -> None:
        batch, self.pending = self.pending, {}
        # The master's last response is at least as recent as ours (drain_s is max_stall).
        lately = answered_lately(clock(), self.last_answered, self.drain_s)
        outstanding = [0, None] if lately else list(self.inflight.pending())
        message: dict[str, Any] = {"samples": batch, "final": final,
                                   "outstanding": outstanding}
        if self.open is not None:
            message["open"] = self.open.log.drain()
            message["peak_busy"] = self.open.peak_busy
        # Sent even when empty: a worker in a run that stops shipping is lost (the heartbeat).
        self.runner.send_message(MSG_SAMPLES, message)

    def _on_setup(self, msg: Any, **_: Any) -> None:
        ack = {"echo": msg.data.get("echo"), "clock": clock(), **self._identity()}
        if self.set_up:  # a repeated setup: acknowledge again
            self.runner.send_message(MSG_READY, ack)
            return
        log.info("setup received from master")
        setup = cloudpickle.loads(base64.b64decode(msg.data["payload"]))
        classes = setup["user_classes"]
        if setup["race"]:
            self.gate = RaceGate(
                on_arrive=lambda: self.runner.send_message(MSG_ARRIVED, {"n": 1}),
                on_finish=lambda: self.runner.send_message(MSG_FINISHED, {"n": 1}),
            )
            classes = [race_user_class(c, self.gate) for c in classes]
        self.environment.user_classes = classes
        self.inflight.request_timeout_s = setup.get("request_timeout_s")
        self.drain_s = float(setup.get("drain_s", 0.0))
        self.open_model = setup.get("open")
        if setup["exact_percentiles"]:
            locust.stats.bucket_response_time = exact_bucket  # type: ignore[assignment]
        # The user classes' modules are imported now (unpickled): their init listeners run.
        self.environment.events.init.fire(environment=self.environment, runner=self.runner,
                                          web_ui=None)
        self.set_up = True
        self.runner.send_message(MSG_READY, ack)

    def _on_open_start(self, msg: Any, **_: Any) -> None:
        """Run this worker's share of the open model's schedule (times on this worker's
        clock)."""
        data = msg.data
        self.open = OpenLoad(self.environment, self.environment.user_classes, self.open_model,
                             clock, self.iterations, index=int(data["index"]),
                             of=int(data["of"]), seed=int(data["seed"]))
        self.inflight.watch(self.runner.user_greenlets.greenlets, self.open.group.greenlets)
        self.open_greenlet = gevent.spawn(self.open.run, float(data["origin"]))

    def _on_release(self, msg: Any, **_: Any) -> None:
        if self.gate is not None:
            self.gate.release(clock())

    def _on_flush(self, msg: Any, **_: Any) -> None:
        """Send what is left, marked final; the master asks again until it has the answer, so
        each ask is answered (what was already sent is not sent twice)."""
        self._on_stopping()  # an open-model run never started Locust's users: stop it here
        self._ship(final=True)
        log.info("last samples sent to master")

    def run(self) -> None:
        """Serve until this test's master quits (or stops answering)."""
        shipper = gevent.spawn(self._ship_forever)
        try:
            with self.inflight.tracking(), heap_frozen(collect=False):
                self.runner.greenlet.join()
        finally:
            shipper.kill()
            if self.set_up:
                self.environment.events.quitting.fire(environment=self.environment,
                                                      reverse=True)
                self.environment.events.quit.fire(exit_code=0)
            self.runner.client.close(linger=0)

    def _ship_forever(self) -> None:
        while True:
            gevent.sleep(SAMPLE_SHIP_INTERVAL_SEC)
            if self.set_up:
                self._ship()


def serve(master_host: str, master_port: int, name: str, *, once: bool = False) -> None:
    """Serve one master after another (the tests of a session, then the next session)."""
    while True:
        # The last session's garbage (its socket among it) is collected before the next
        # session opens its own: collected after it (seen in CI), it broke the new link and
        # the next test's run got no requests.
        gc.collect()
        with RunHooks() as hooks:
            try:
                session = WorkerSession(hooks, master_host, master_port, name)
            except (ConnectionError, OSError, RPCError) as exc:
                log.info("no master at %s:%s (%s); trying again", master_host, master_port,
                         exc)
                gevent.sleep(RECONNECT_PAUSE_SEC)
                continue
            log.info("serving a master at %s:%s", master_host, master_port)
            session.run()
        if once:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadgate worker", description=(
        "A load worker for pytest-loadgate's distributed runs: serves every load test of every"
        f" session whose master it reaches. The token comes from ${TOKEN_ENV}."))
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--name", default=f"{socket.gethostname()} pid {os.getpid()}",
                        help="how verdicts name this worker (default: HOST pid PID)")
    parser.add_argument("--once", action="store_true",
                        help="exit after serving one master instead of waiting for the next")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_worker_auth(os.environ.get(TOKEN_ENV))
    locust.runners.MASTER_HEARTBEAT_TIMEOUT = MASTER_SILENCE_SEC
    serve(args.master_host, args.master_port, args.name, once=args.once)
    return 0


if __name__ == "__main__":
    sys.exit(main())
