"""The master side of one distributed run: a Locust MasterRunner in pytest for this test, on
the session's worker pool (see pytest_loadgate.run.pool).

Workers report every request on their own monotonic clock; the offset between that clock and
this process's is measured when each worker acknowledges the setup (half the round trip is the
error bound), so a worker host whose wall clock is off cannot move samples in or out of the
verdict window.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle
import gevent
from locust import User
from locust.env import Environment
from locust.exception import RPCError
from locust.rpc import Message, zmqrpc
from locust.runners import STATE_INIT, STATE_STOPPED, STATE_STOPPING

from pytest_loadgate.run.open_load import OpenFigures, ScheduleLog, open_figures
from pytest_loadgate.run.pool import WorkerError, WorkerPool, WorkerSeen
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
    WORKER_SILENCE_SEC,
)
from pytest_loadgate.run.race import RaceGate
from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.spec import OpenModel

__all__ = ["WorkerError", "WorkerGroup"]

#: A healthy worker flushes in well under a second; a loaded machine may take seconds.
FLUSH_TIMEOUT_SEC = 10.0
FLUSH_RESEND_SEC = 2.0
SETUP_RESEND_SEC = 2.0
STOP_POLL_SEC = 0.02
#: A gap this long between two liveness checks means this process stalled, not the workers.
DEAF_AFTER_SEC = 1.0
#: How long the closing master keeps unsent frames (the workers' quit) before it lets go.
CLOSE_LINGER_MS = 1000

log = logging.getLogger(__name__)


@dataclass
class ClockLink:
    """A worker's clock minus ours (seconds), from the setup round trip that was shortest."""

    offset_s: float
    round_trip_s: float


class WorkerGroup:
    """This test's master: sends the user classes, collects samples and race counts, and
    notices a worker that goes silent."""

    def __init__(self, environment: Environment, pool: WorkerPool, recorder: SampleRecorder,
                 test_name: str = "") -> None:
        self.pool = pool
        self.plan = pool.plan
        self.recorder = recorder
        self.test_name = test_name
        self.runner, self.server = pool.bind(environment)
        self.port = pool.port
        self.ready: set[str] = set()
        self.flushed: set[str] = set()
        #: Per worker: the challenges its setup carried (an acknowledgement must echo one).
        self.sent_echoes: dict[str, set[float]] = {}
        self.names: dict[str, str] = {}
        self.places: dict[str, str] = {}
        self.pids: dict[str, Any] = {}
        self.clocks: dict[str, ClockLink] = {}
        self.last_heard: dict[str, float] = {}
        self.lost: dict[str, str] = {}
        self._last_check: float | None = None
        self.gate: RaceGate | None = None
        #: Per worker: requests waiting for a response and the oldest one's send time (ours).
        self.waiting: dict[str, tuple[int, float | None]] = {}
        self.open_model: OpenModel | None = None
        self.open_logs: dict[str, tuple[int, int, int, ScheduleLog]] = {}
        self.open_peaks: dict[str, int] = {}
        self.open_origin_s = 0.0
        self.run_problems: list[str] = []
        self.notes: list[str] = pool.take_notes()
        self.runner.reset_connection = self._reset_connection  # type: ignore[method-assign]
        for msg_type, listener in ((MSG_HELLO, self._on_hello), (MSG_READY, self._on_ready),
                                   (MSG_SAMPLES, self._on_samples),
                                   (MSG_ARRIVED, self._on_arrived),
                                   (MSG_FINISHED, self._on_finished)):
            self.runner.register_message(msg_type, self._guarded(msg_type, listener))

    def _reset_connection(self) -> None:
        """Locust's recovery from a broken socket, on the session's port and still signed
        (Locust's own would bind an unsigned server, on a new port when the first was 0)."""
        if self.server.closed:  # the run is over: nothing to recover
            return
        log.warning("resetting the master's socket on %s", self.pool.where)
        self.server.close(linger=0)
        try:
            raw = zmqrpc.Server(self.plan.bind_host, self.pool.port)
        except RPCError as exc:
            log.error("could not listen again on %s: %s; will retry", self.pool.where, exc)
            return
        self.server = self.pool.sign(raw, self.server.refusals)
        self.runner.server = self.server  # type: ignore[assignment]
        self.runner.connection_broken = False

    # -- messages ------------------------------------------------------------------------------
    def _guarded(self, msg_type: str, listener: Callable[[Any], None]
                 ) -> Callable[..., None]:
        """A listener that drops (with a note) what it cannot use instead of raising into
        Locust's receive loop."""
        def receive(msg: Any, **_: Any) -> None:
            node = str(msg.node_id)
            if msg_type not in (MSG_READY, MSG_HELLO) and node not in self.ready:
                self.server.refusals.add(node, f"{msg_type} from a worker not in this run")
                return
            try:
                listener(msg)
            except Exception as exc:  # a peer with the token sent something malformed
                self.server.refusals.add(node, f"malformed {msg_type}: {type(exc).__name__}"
                                               f" {exc}")
                return
            self.last_heard[node] = time.perf_counter()
        return receive

    def _on_hello(self, msg: Any) -> None:
        self._identify(str(msg.node_id), msg.data)

    def _identify(self, node: str, data: dict[str, Any]) -> None:
        self.names[node] = str(data.get("name") or node)
        self.places[node] = f"pid {data.get('pid', '?')} on {data.get('host', '?')}"
        self.pids[node] = data.get("pid")

    def _on_ready(self, msg: Any) -> None:
        data = msg.data
        now = time.perf_counter()
        sent = float(data["echo"])
        if sent not in self.sent_echoes.get(str(msg.node_id), ()):
            raise ValueError("it acknowledges a setup this run never sent it (a replay?)")
        link = ClockLink(float(data["clock"]) - (sent + now) / 2, now - sent)
        node = str(msg.node_id)
        if node not in self.clocks or link.round_trip_s < self.clocks[node].round_trip_s:
            self.clocks[node] = link
        self._identify(node, data)
        self.ready.add(node)

    def run_origin(self, node: str) -> float:
        """This run's second 0 on a worker's clock."""
        return self.clocks[node].offset_s + self.recorder.started_at

    def to_run_clock(self, node: str, worker_s: float) -> float:
        """A time on a worker's clock as seconds of this run."""
        return worker_s - self.run_origin(node)

    def _on_samples(self, msg: Any) -> None:
        node = str(msg.node_id)
        data = msg.data
        self.recorder.ingest(node, data["samples"], self.run_origin(node))
        count, oldest = data.get("outstanding") or (0, None)
        self.waiting[node] = (int(count),
                              None if oldest is None else self.to_run_clock(node, oldest))
        if "open" in data and node in self.open_logs:
            self.open_logs[node][3].add(data["open"], -self.run_origin(node))
            self.open_peaks[node] = int(data.get("peak_busy", 0))
        if data.get("final"):
            self.flushed.add(node)

    def _on_arrived(self, msg: Any) -> None:
        if self.gate is not None:
            self.gate.arrived += int(msg.data["n"])

    def _on_finished(self, msg: Any) -> None:
        if self.gate is not None:
            self.gate.finished += int(msg.data["n"])

    def outstanding(self) -> tuple[int, float | None]:
        """Requests waiting across workers (as of their last report) and the oldest one's send
        time on the run clock."""
        count = sum(c for c, _ in self.waiting.values())
        oldest = [t for c, t in self.waiting.values() if c and t is not None]
        return count, (min(oldest) if oldest else None)

    def start_open(self, model: OpenModel) -> None:
        """Give each worker its share of the open model's schedule, starting now."""
        self.open_model = model
        self.open_origin_s = self.recorder.now()
        clients = sorted(c.id for c in self.runner.clients.all if c.id in self.ready)
        for index, client_id in enumerate(clients):
            seed = random.randrange(2**32)
            self.open_logs[client_id] = (index, len(clients), seed, ScheduleLog())
            origin = self.open_origin_s + self.run_origin(client_id)
            self.runner.send_message(MSG_OPEN_START, {
                "origin": origin, "index": index, "of": len(clients), "seed": seed},
                client_id=client_id)

    def open_figures(self, start_s: float, end_s: float) -> OpenFigures | None:
        if self.open_model is None:
            return None
        return open_figures(self.open_model, list(self.open_logs.values()), start_s, end_s,
                            self.open_origin_s, sum(self.open_peaks.values()))

    def broadcast_release(self) -> None:
        self.runner.send_message(MSG_RELEASE, {})

    # -- lifecycle -----------------------------------------------------------------------------
    def name(self, node: str) -> str:
        return self.names.get(node, node)

    def death_notice(self) -> str | None:
        """Why the run cannot go on: a local worker exited, or a worker went silent."""
        notice = self.pool.death_notice()
        if notice:
            return notice
        now = time.perf_counter()
        # While this process was not listening (its own loop stalled), nobody was heard: that
        # time does not count against the workers.
        deaf = now - (self._last_check or now) - DEAF_AFTER_SEC
        if deaf > 0:
            self.last_heard = {node: t + deaf for node, t in self.last_heard.items()}
        self._last_check = now
        for node in sorted(self.ready - self.lost.keys()):
            silent = now - self.last_heard.get(node, now)
            if silent >= WORKER_SILENCE_SEC:
                self.lost[node] = (f"load worker {self.name(node)} was lost mid-run: nothing"
                                   f" heard from it for {silent:.1f}s (killed, cut off or"
                                   " frozen); its requests since then are missing")
                return self.lost[node]
        return None

    def connect(self, user_classes: Sequence[type[User]], *, race: bool,
                exact_percentiles: bool, request_timeout_s: float | None = None,
                drain_s: float = 0.0,
                open_model: OpenModel | None = None) -> None:
        """Wait for every expected worker and send them this test's setup."""
        expected = self.plan.total
        with gevent.Timeout(self.plan.timeout_s, False):
            while len(self.runner.clients.ready) < expected:
                notice = self.pool.death_notice()
                if notice:
                    raise WorkerError(notice)
                gevent.sleep(0.02)
        connected = len(self.runner.clients.ready)
        if connected < expected:
            raise WorkerError(self._missing_message(connected, expected))
        payload = base64.b64encode(cloudpickle.dumps({
            "user_classes": list(user_classes), "race": race,
            "exact_percentiles": exact_percentiles, "request_timeout_s": request_timeout_s,
            "drain_s": drain_s,
            "open": open_model})).decode()
        # Sent to each connected worker until it acknowledges (a message can be missed by a
        # worker that is still busy starting up); the worker applies the setup once.
        next_send: dict[str, float] = {}
        with gevent.Timeout(self.plan.timeout_s, False):
            # Every connected worker gets users from Locust's dispatcher: all must be set up.
            while len(self.ready) < expected or any(
                    c.id not in self.ready for c in self.runner.clients.all):
                notice = self.pool.death_notice()
                if notice:
                    raise WorkerError(notice)
                now = time.perf_counter()
                for client in self.runner.clients.all:
                    if client.id not in self.ready and next_send.get(client.id, 0) <= now:
                        echo = time.perf_counter()
                        self.sent_echoes.setdefault(client.id, set()).add(echo)
                        self.runner.send_message(MSG_SETUP, {"payload": payload, "echo": echo},
                                                 client_id=client.id)
                        next_send[client.id] = now + SETUP_RESEND_SEC
                gevent.sleep(0.02)
        if len(self.ready) < expected:
            raise WorkerError(f"only {len(self.ready)} of {expected} load workers accepted the"
                              " user classes (see the worker logs)")
        # A peer Locust counts as a worker but that never took this run's setup gets no users.
        strays = [c.id for c in self.runner.clients.all if c.id not in self.ready]
        for stray in strays:
            del self.runner.clients[stray]
        if strays:
            self.notes.append(f"{len(strays)} connected peer(s) never accepted this run's setup"
                              f" and got no users: {', '.join(sorted(strays))}")
        now = time.perf_counter()
        self.last_heard = {node: now for node in self.ready}
        # Two clocks on one host agree; elsewhere the offset is known to half a round trip.
        skewed = [f"{self.name(n)} {c.offset_s * 1000:+.1f} ms"
                  f" (±{c.round_trip_s * 500:.1f} ms)" for n, c in sorted(self.clocks.items())
                  if abs(c.offset_s) > max(c.round_trip_s, 0.001)]
        if skewed:
            self.notes.append("worker clock offsets (mapped onto the master's clock): "
                              + ", ".join(skewed))

    def _missing_message(self, connected: int, expected: int) -> str:
        where = f"{self.pool.where}" if self.plan.remote else "local"
        message = (f"only {connected} of {expected} load workers connected to the master at"
                   f" {where} within {self.plan.timeout_s:g}s")
        present = {self.name(c.id) for c in self.runner.clients.ready}
        gone = [f"{s.name} ({s.lost or 'last seen in ' + s.last_test})"
                for s in self.pool.seen.values() if s.name not in present]
        if gone:
            message += "; missing since an earlier test: " + "; ".join(gone)
        if self.plan.remote:
            message += (f"; start them with: loadgate worker --master-host"
                        f" {self.plan.bind_host} --master-port {self.port}"
                        + (" (and LOADGATE_TOKEN set)" if self.pool.token else ""))
        return message

    def _stop_users(self) -> None:
        """Locust's ``MasterRunner.stop()`` in its order (test_stopping, stop to every worker,
        wait for no users, test_stop), but polling every 20 ms: Locust's loop sleeps a whole
        second, most of a pooled test's overhead."""
        runner = self.runner
        if runner.state in (STATE_INIT, STATE_STOPPED, STATE_STOPPING):
            return
        env = runner.environment
        env.events.test_stopping.fire(environment=env)
        runner.final_user_classes_count = {**runner.reported_user_classes_count}
        runner.update_state(STATE_STOPPING)
        if runner.shape_greenlet is not None:
            runner.shape_greenlet.kill(block=True)
            runner.shape_greenlet = None
            runner.shape_last_tick = None
        runner._users_dispatcher = None
        for client in runner.clients.all:
            self.server.send_to_client(Message("stop", None, client.id))
        while runner.user_count != 0 and not self.pool.death_notice():
            gevent.sleep(STOP_POLL_SEC)
        env.events.test_stop.fire(environment=env)

    def finish(self) -> None:
        """Stop the users, collect the last samples from every worker, then let the workers go
        back to waiting for the next test, and free the port."""
        runner = self.runner
        with gevent.Timeout(FLUSH_TIMEOUT_SEC * 2, False):
            self._stop_users()
        clients = {c.id for c in runner.clients.all} & self.ready
        asked = self._flush(clients)
        dead = self.pool.dead_pids()
        for node in sorted(self.ready - self.flushed):
            if node not in self.lost and self.pids.get(node) not in dead:
                heard = self.last_heard.get(node)
                since = ("" if heard is None else
                         f", last heard from {time.perf_counter() - heard:.1f}s ago")
                self.run_problems.append(
                    f"load worker {self.name(node)} did not send its last samples within"
                    f" {FLUSH_TIMEOUT_SEC:g}s of the end (asked {asked.get(node, 0)} time(s)"
                    f"{since}): its final requests are missing")
        # Not runner.quit(): its listener keeps answering for half a second after the goodbye,
        # and a worker reconnecting at once would be welcomed by this master, about to go.
        # The socket closes right after the quit frames are queued (linger sends them).
        # The listener is told to end before the socket closes under it (no error logged).
        for client in runner.clients.all:
            self.server.send_to_client(Message("quit", None, client.id))
        runner.greenlet.kill(block=False)
        self.server.close(linger=CLOSE_LINGER_MS)
        runner.greenlet.join(FLUSH_TIMEOUT_SEC)
        # Done: Locust's quitting listener would say goodbye again and wait half a second.
        runner.quit = lambda: None  # type: ignore[method-assign]

    def _flush(self, clients: set[str]) -> dict[str, int]:
        """Ask ``clients`` for their last samples, again every ``FLUSH_RESEND_SEC`` until each
        has answered (a request or reply lost on a loaded machine or a reconnected link is
        asked for again; a worker answers each ask); returns how often each was asked."""
        asked = dict.fromkeys(clients, 0)
        next_ask = 0.0
        with gevent.Timeout(FLUSH_TIMEOUT_SEC, False):
            while waiting := clients - self.lost.keys() - self.flushed:
                now = time.perf_counter()
                if now >= next_ask:
                    for node in sorted(waiting):
                        self.runner.send_message(MSG_FLUSH, {}, client_id=node)
                        asked[node] += 1
                    next_ask = now + FLUSH_RESEND_SEC
                gevent.sleep(0.05)
        return asked

    def close(self) -> None:
        """Remember who served this test (and who was lost) for the next one."""
        self.pool.tests_served += 1
        for node in self.ready:
            self.pool.seen[self.name(node)] = WorkerSeen(self.name(node), self.test_name,
                                                         self.lost.get(node))

    def summary_notes(self) -> list[str]:
        """Who served this run, and what the link dropped (refused peers, stray messages)."""
        served = ", ".join(f"{self.name(n)} ({self.places.get(n, '?')})"
                           for n in sorted(self.ready, key=self.name))
        notes = [f"load workers: {served}; the pool has served {self.pool.tests_served}"
                 " run(s) this session"] if served else []
        return notes + self.notes + self.server.refusals.notes()
