"""The master side of distributed runs: Locust's MasterRunner in pytest, workers as processes."""

from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cloudpickle
import gevent
from locust import User
from locust.env import Environment
from locust.runners import MasterRunner

from pytest_loadgate.distributed_plan import WorkerPlan
from pytest_loadgate.run.open_load import OpenFigures, ScheduleLog, open_figures
from pytest_loadgate.run.protocol import (
    MSG_ARRIVED,
    MSG_FINISHED,
    MSG_FLUSH,
    MSG_OPEN_START,
    MSG_READY,
    MSG_RELEASE,
    MSG_SAMPLES,
    MSG_SETUP,
)
from pytest_loadgate.run.race import RaceGate
from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.spec import OpenModel
from pytest_loadgate.target.server import die_with_parent

WORKER_LOG_TAIL_LINES = 30
FLUSH_TIMEOUT_SEC = 5.0
SETUP_RESEND_SEC = 2.0


class WorkerError(RuntimeError):
    """Workers failed to start, connect, accept the setup, or died."""


class LocalWorker:
    """One ``python -m pytest_loadgate.run.worker`` subprocess with its log."""

    def __init__(self, index: int, master_port: int, log_path: Path) -> None:
        self.index = index
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pytest_loadgate.run.worker", "--master-host", "127.0.0.1",
                 "--master-port", str(master_port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, preexec_fn=die_with_parent)

    def death_notice(self) -> str | None:
        code = self.proc.poll()
        if code is None:
            return None
        try:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()
                             [-WORKER_LOG_TAIL_LINES:])
        except OSError:
            tail = "(no log)"
        return (f"load worker {self.index} exited with code {code};"
                f" last lines of {self.log_path}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class WorkerGroup:
    """Starts workers, sends them the user classes, collects their samples and race counts."""

    def __init__(self, environment: Environment, plan: WorkerPlan, recorder: SampleRecorder,
                 log_dir: Path) -> None:
        self.plan = plan
        self.recorder = recorder
        self.log_dir = log_dir
        self.runner: MasterRunner = environment.create_master_runner(plan.bind_host,
                                                                     plan.bind_port)
        self.port = int(self.runner.server.port)
        self.workers: list[LocalWorker] = []
        self.ready: set[str] = set()
        self.flushed: set[str] = set()
        self.gate: RaceGate | None = None
        #: Per worker: requests waiting for a response and the oldest one's send time (wall).
        self.waiting: dict[str, tuple[int, float | None]] = {}
        self.open_model: OpenModel | None = None
        self.open_logs: dict[str, tuple[int, int, int, ScheduleLog]] = {}
        self.open_peaks: dict[str, int] = {}
        self.open_origin_s = 0.0
        for msg_type, listener in ((MSG_READY, self._on_ready), (MSG_SAMPLES, self._on_samples),
                                   (MSG_ARRIVED, self._on_arrived),
                                   (MSG_FINISHED, self._on_finished)):
            self.runner.register_message(msg_type, listener)

    # -- messages ------------------------------------------------------------------------------
    def _on_ready(self, msg: Any, **_: Any) -> None:
        self.ready.add(msg.node_id)

    def _on_samples(self, msg: Any, **_: Any) -> None:
        self.recorder.ingest(msg.node_id, msg.data["samples"])
        count, oldest = msg.data.get("outstanding") or (0, None)
        self.waiting[msg.node_id] = (int(count), oldest)
        if "open" in msg.data and msg.node_id in self.open_logs:
            self.open_logs[msg.node_id][3].add(msg.data["open"], -self.recorder.wall_origin)
            self.open_peaks[msg.node_id] = int(msg.data.get("peak_busy", 0))
        if msg.data.get("final"):
            self.flushed.add(msg.node_id)

    def _on_arrived(self, msg: Any, **_: Any) -> None:
        if self.gate is not None:
            self.gate.arrived += int(msg.data["n"])

    def _on_finished(self, msg: Any, **_: Any) -> None:
        if self.gate is not None:
            self.gate.finished += int(msg.data["n"])

    def outstanding(self) -> tuple[int, float | None]:
        """Requests waiting across workers (as of their last report) and the oldest one's send
        time on the run clock."""
        count = sum(c for c, _ in self.waiting.values())
        oldest = [t for c, t in self.waiting.values() if c and t is not None]
        return count, (min(oldest) - self.recorder.wall_origin if oldest else None)

    def start_open(self, model: OpenModel) -> None:
        """Give each worker its share of the open model's schedule, starting now."""
        self.open_model = model
        self.open_origin_s = self.recorder.now()
        origin_wall = self.recorder.wall_origin + self.open_origin_s
        clients = sorted(c.id for c in self.runner.clients.all)
        for index, client_id in enumerate(clients):
            seed = random.randrange(2**32)
            self.open_logs[client_id] = (index, len(clients), seed, ScheduleLog())
            self.runner.send_message(MSG_OPEN_START, {
                "origin_wall": origin_wall, "index": index, "of": len(clients), "seed": seed},
                client_id=client_id)

    def open_figures(self, start_s: float, end_s: float) -> OpenFigures | None:
        if self.open_model is None:
            return None
        return open_figures(self.open_model, list(self.open_logs.values()), start_s, end_s,
                            self.open_origin_s, sum(self.open_peaks.values()))

    def broadcast_release(self) -> None:
        self.runner.send_message(MSG_RELEASE, {})

    # -- lifecycle -----------------------------------------------------------------------------
    def death_notice(self) -> str | None:
        for worker in self.workers:
            notice = worker.death_notice()
            if notice:
                return notice
        return None

    def connect(self, user_classes: Sequence[type[User]], *, race: bool,
                exact_percentiles: bool, request_timeout_s: float | None = None,
                drain_s: float = 0.0,
                open_model: OpenModel | None = None) -> None:
        """Start local workers, wait for all expected workers, and send them the setup."""
        for index in range(self.plan.local):
            log = self.log_dir / f"worker-{os.getpid()}-{self.port}-{index}.log"
            self.workers.append(LocalWorker(index, self.port, log))
        expected = self.plan.total
        where = (f"{self.plan.bind_host}:{self.port}" if self.plan.remote else "local")
        with gevent.Timeout(self.plan.timeout_s, False):
            while len(self.runner.clients.ready) < expected:
                notice = self.death_notice()
                if notice:
                    raise WorkerError(notice)
                gevent.sleep(0.05)
        if len(self.runner.clients.ready) < expected:
            raise WorkerError(
                f"only {len(self.runner.clients.ready)} of {expected} load workers connected to"
                f" the master at {where} within {self.plan.timeout_s:g}s"
                + (f"; start them with: python -m pytest_loadgate.run.worker --master-host"
                   f" {self.plan.bind_host} --master-port {self.port}" if self.plan.remote else ""))
        payload = base64.b64encode(cloudpickle.dumps({
            "user_classes": list(user_classes), "race": race,
            "exact_percentiles": exact_percentiles, "request_timeout_s": request_timeout_s,
            "drain_s": drain_s,
            "open": open_model})).decode()
        # Sent to each connected worker until it acknowledges (a message can be missed by a
        # worker that is still busy starting up); the worker applies the setup once.
        next_send: dict[str, float] = {}
        with gevent.Timeout(self.plan.timeout_s, False):
            while len(self.ready) < expected:
                notice = self.death_notice()
                if notice:
                    raise WorkerError(notice)
                now = time.monotonic()
                for client in self.runner.clients.all:
                    if client.id not in self.ready and next_send.get(client.id, 0) <= now:
                        self.runner.send_message(MSG_SETUP, {"payload": payload},
                                                 client_id=client.id)
                        next_send[client.id] = now + SETUP_RESEND_SEC
                gevent.sleep(0.05)
        if len(self.ready) < expected:
            raise WorkerError(f"only {len(self.ready)} of {expected} load workers accepted the"
                              " user classes (see the worker logs)")

    def finish(self) -> None:
        """Stop the users, collect the last samples from every worker, then quit them all."""
        runner = self.runner
        with gevent.Timeout(FLUSH_TIMEOUT_SEC * 2, False):
            runner.stop()
        clients = {c.id for c in runner.clients.all}
        runner.send_message(MSG_FLUSH, {})
        with gevent.Timeout(FLUSH_TIMEOUT_SEC, False):
            while not clients <= self.flushed:
                gevent.sleep(0.05)
        runner.quit()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
