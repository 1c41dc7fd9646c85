"""The session's load workers: started once, serving every load test (and every attempt).

The pool owns the master's address (the port chosen by the first test is kept for the session),
the link key, and the local worker processes. Each test binds a Locust master there for its run
and closes it at the end; the workers stay up and reconnect to the next test's master (see
pytest_loadgate.run.worker). A local worker that died is started again for the next test, and
the test says so.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.exception import RPCError
from locust.runners import MasterRunner

from pytest_loadgate.distributed_plan import TOKEN_ENV, WorkerPlan
from pytest_loadgate.run.wire_auth import (
    TO_MASTER,
    TO_WORKER,
    FrameSigner,
    Refusals,
    SignedServer,
    link_key,
)
from pytest_loadgate.target.server import die_with_parent

WORKER_LOG_TAIL_LINES = 30
#: How long a port left by the previous test's master may stay busy before binding fails.
REBIND_TIMEOUT_SEC = 5.0
WORKER_STOP_TIMEOUT_SEC = 5.0


class WorkerError(RuntimeError):
    """Workers failed to start, connect, accept the setup, or were lost."""


class LocalWorker:
    """One ``python -m pytest_loadgate.run.worker`` subprocess with its log; the token travels
    in its environment, never on a command line."""

    def __init__(self, index: int, master_port: int, token: str | None, log_path: Path) -> None:
        self.index = index
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        env.pop(TOKEN_ENV, None)
        if token is not None:
            env[TOKEN_ENV] = token
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pytest_loadgate.run.worker", "--master-host", "127.0.0.1",
                 "--master-port", str(master_port), "--name", f"local worker {index}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, preexec_fn=die_with_parent)

    @property
    def name(self) -> str:
        return f"local worker {self.index}"

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
                self.proc.wait(WORKER_STOP_TIMEOUT_SEC)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WORKER_STOP_TIMEOUT_SEC)


@dataclass
class WorkerSeen:
    """What the pool remembers of a worker between tests."""

    name: str
    last_test: str
    lost: str | None = None  # why it left, when it did not leave with its test


class WorkerPool:
    """Master address, link key and local workers shared by every load test of a session."""

    def __init__(self, plan: WorkerPlan, log_dir: Path) -> None:
        self.plan = plan
        # Local workers only: a fresh secret nobody else knows. Remote workers need the user's.
        self.token = plan.token if plan.token is not None or plan.remote else \
            secrets.token_urlsafe(32)
        self.key = link_key(self.token)
        self.signer = FrameSigner(self.key, sends=TO_WORKER, receives=TO_MASTER)
        self.log_dir = log_dir
        self.port = plan.bind_port
        self.workers: list[LocalWorker] = []
        self.seen: dict[str, WorkerSeen] = {}
        self.tests_served = 0
        #: Notes for the next test (a local worker restarted, a worker lost before).
        self.carried_notes: list[str] = []

    @property
    def where(self) -> str:
        return f"{self.plan.bind_host}:{self.port}"

    def bind(self, environment: Environment) -> tuple[MasterRunner, SignedServer]:
        """A Locust master for one test on the pool's address, its frames signed."""
        deadline = time.monotonic() + REBIND_TIMEOUT_SEC
        while True:
            try:
                runner = environment.create_master_runner(self.plan.bind_host, self.port)
                break
            except RPCError as exc:
                busy = "in use" in str(exc)  # "Address already in use": the last test's master
                if not (self.port and busy and time.monotonic() < deadline):
                    raise WorkerError(f"the master could not listen on {self.where}: {exc}"
                                      + (" (another process holds that port?)" if busy else "")
                                      ) from None
                gevent.sleep(0.1)
        server = self.sign(runner.server)
        runner.server = server  # type: ignore[assignment]  # same methods, signed frames
        self.port = int(server.port)
        self._start_local_workers()
        return runner, server

    def sign(self, server: Any, refusals: Refusals | None = None) -> SignedServer:
        """A bound Locust RPC server with this session's signed frames."""
        return SignedServer(server, self.key, signer=self.signer, refusals=refusals)

    def _start_local_workers(self) -> None:
        if not self.workers:
            self.workers = [self._spawn(i) for i in range(self.plan.local)]
            return
        for i, worker in enumerate(self.workers):
            notice = worker.death_notice()
            if notice is not None:
                self.carried_notes.append(
                    f"{worker.name} had exited (code {worker.proc.returncode}) and was started"
                    " again for this test")
                self.workers[i] = self._spawn(i)

    def _spawn(self, index: int) -> LocalWorker:
        log = self.log_dir / f"worker-{os.getpid()}-{index}.log"
        return LocalWorker(index, self.port, self.token, log)

    def death_notice(self) -> str | None:
        for worker in self.workers:
            notice = worker.death_notice()
            if notice:
                return notice
        return None

    def dead_pids(self) -> set[int]:
        """Process ids of local workers that have exited."""
        return {w.proc.pid for w in self.workers if w.proc.poll() is not None}

    def take_notes(self) -> list[str]:
        notes, self.carried_notes = self.carried_notes, []
        return notes

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []
