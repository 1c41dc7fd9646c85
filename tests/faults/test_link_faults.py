"""The master↔worker link under attack: forged, garbled and stray frames are dropped and
noted, a worker never unpickles what it cannot authenticate, and the verdict is unaffected."""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq
from locust.rpc import Message

from pytest_loadgate.run.wire_auth import TO_MASTER, TO_WORKER, FrameSigner, link_key

TOKEN = "the-right-token-for-this-session"
LOADGATE = str(Path(sys.executable).with_name("loadgate"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_worker(port: int, log: Path, token: str | None, *extra: str,
                 env_extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "LOADGATE_TOKEN"}
    env.update(env_extra or {})
    if token is not None:
        env["LOADGATE_TOKEN"] = token
    with log.open("wb") as out:
        return subprocess.Popen([LOADGATE, "worker", "--master-host", "127.0.0.1",
                                 "--master-port", str(port), *extra],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def run_remote_session(project: pytest.Pytester, port: int, *args: str) -> pytest.RunResult:
    """The project's tests with one remote worker expected on 127.0.0.1:``port``."""
    return project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--loadgate-remote-workers=1",
        f"--loadgate-master-bind=127.0.0.1:{port}", f"--loadgate-token={TOKEN}", *args,
        timeout=120)


def wait_for(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Planted:
    """Unpickling this runs a command: it must never happen on a worker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_a_worker_drops_forged_master_frames_and_never_unpickles_them(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    context = zmq.Context()
    master = context.socket(zmq.ROUTER)
    master.setsockopt(zmq.LINGER, 0)
    port = master.bind_to_random_port("tcp://127.0.0.1")
    log = tmp_path / "worker.log"
    worker = start_worker(port, log, TOKEN, "--once")
    try:
        assert master.poll(20_000), log.read_text()
        identity = master.recv_multipart()[0]  # the worker's (signed) client_ready
        payload = Message("loadgate_setup", {"payload": pickle.dumps(Planted(marker)),
                                             "echo": 0.0}, "master").serialize()
        forger = FrameSigner(link_key("a-token-that-is-not-the-one"), sends=TO_WORKER,
                             receives=TO_MASTER)
        master.send_multipart([identity, payload])  # unsigned
        master.send_multipart([identity, *forger.seal(identity, payload)])  # wrong key
        master.send_multipart([identity, b"\x00" * 8 + payload, b"\x01" * 32])  # bad mac
        wait_for(lambda: log.read_text().count("worker dropped a frame from the master") >= 3,
                 20, "the worker to drop three frames")
        text = log.read_text()
        assert "malformed frame" in text and "bad signature" in text, text
        assert "setup received" not in text
        assert not marker.exists()
        assert worker.poll() is None  # still waiting for a real master
    finally:
        stop(worker)
        context.destroy(linger=0)


ATTACKER = '''
import sys, time
import zmq
from locust.rpc import Message
from pytest_loadgate.run.wire_auth import TO_MASTER, TO_WORKER, FrameSigner, link_key

port, token = int(sys.argv[1]), sys.argv[2]
context = zmq.Context()
sock = context.socket(zmq.DEALER)
sock.setsockopt(zmq.IDENTITY, b"intruder")
sock.setsockopt(zmq.LINGER, 0)
sock.connect(f"tcp://127.0.0.1:{port}")
signer = FrameSigner(link_key(token), sends=TO_MASTER, receives=TO_WORKER)
forger = FrameSigner(link_key("not-the-token-at-all-000"), sends=TO_MASTER, receives=TO_WORKER)
forged = {"samples": {"GET /forged": [[time.monotonic(), 1.0, 200, 0, 1.0, 0]] * 50},
          "final": False, "outstanding": [0, None]}
samples = Message("loadgate_samples", forged, "intruder").serialize()
while True:
    sock.send_multipart([b"garbage"], zmq.NOBLOCK)
    sock.send_multipart(forger.seal(b"intruder", samples), zmq.NOBLOCK)
    sock.send_multipart(signer.seal(b"intruder", b"\\xc1 not msgpack"), zmq.NOBLOCK)
    # Signed (a token holder) but no worker of this run, and one claiming another's name.
    sock.send_multipart(signer.seal(b"intruder", samples), zmq.NOBLOCK)
    other = Message("loadgate_samples", forged, "someone-else").serialize()
    sock.send_multipart(signer.seal(b"intruder", other), zmq.NOBLOCK)
    time.sleep(0.2)
'''


def test_intruders_are_dropped_and_the_verdict_stands(stdlib_project: pytest.Pytester) -> None:
    project = stdlib_project
    project.makepyfile(attacker=ATTACKER, test_linked="""
        import pytest
        from users import Browse

        @pytest.mark.perf(users=2, run_time="4s", warmup=0, max_error_rate=0)
        def test_linked(loadgate):
            result = loadgate.run(Browse)
            assert "GET /forged" not in result.endpoints
            assert result.total.requests == result.endpoint("GET /").requests
    """)
    root = Path(project.path)
    port = free_port()
    worker = start_worker(port, root / "worker.log", TOKEN, "--name", "honest")
    attacker = subprocess.Popen([sys.executable, "attacker.py", str(port), TOKEN], cwd=root,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        result = run_remote_session(project, port)
        result.assert_outcomes(passed=1)
        report = json.loads(next((root / "reports").glob("*test_linked*.json")).read_text())
        notes = "\n".join(report["notes"])
        for reason in ("malformed frame", "bad signature", "undecodable message",
                       "loadgate_samples from a worker not in this run",
                       "node id 'someone-else' is not the sender's identity"):
            assert f"from intruder: {reason}" in notes, notes
        assert "load workers: honest" in notes
    finally:
        stop(attacker)
        stop(worker)


SKEWED_CLOCKS = '''
import time

_wall, _mono = time.time, time.monotonic
time.time = lambda: _wall() + 3600.0  # an hour ahead
time.monotonic = lambda: _mono() + 12345.0  # booted at another time
'''


def test_a_worker_with_skewed_clocks_lands_its_samples_in_the_window(
        stdlib_project: pytest.Pytester, tmp_path: Path) -> None:
    project = stdlib_project
    project.makepyfile(test_skew="""
        import pytest
        from users import Browse

        @pytest.mark.perf(users=2, run_time="4s", warmup=1, max_error_rate=0)
        def test_skew(loadgate):
            result = loadgate.run(Browse)
            start, end = result.window_s
            assert end - start > 2.5
            # Every second of the window has requests: none were moved out of it.
            seconds = [t for t in result.timeline if start <= t["start_s"] < end - 1]
            assert seconds and all(t["requests"] > 20 for t in seconds), result.timeline
    """)
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(SKEWED_CLOCKS)
    port = free_port()
    path = os.pathsep.join([str(skew), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    log = Path(project.path) / "worker.log"
    worker = start_worker(port, log, TOKEN, "--name", "skewed", env_extra={"PYTHONPATH": path})
    try:
        result = run_remote_session(project, port)
        result.assert_outcomes(passed=1)
        report = json.loads(next((Path(project.path) / "reports").glob("*.json")).read_text())
        offsets = [n for n in report["notes"] if n.startswith("worker clock offsets")]
        assert offsets, report["notes"]
        found = re.search(r"skewed ([+-][\d.]+) ms \(±([\d.]+) ms\)", offsets[0])
        assert found, offsets
        measured_ms, bound_ms = float(found[1]), float(found[2])
        assert abs(measured_ms - 12_345_000) <= bound_ms + 1.0, offsets
    finally:
        stop(worker)
        print("worker log:", log.read_text(), sep="\n")  # shown when the test fails


LOSE_FIRST_FLUSH = '''
import os
from pathlib import Path

from locust.runners import WorkerRunner

from pytest_loadgate.run.protocol import MSG_FLUSH

_register = WorkerRunner.register_message


def _lose_first(listener):
    def on_flush(*args, **kwargs):
        marker = Path(os.environ["LOST_FLUSH_MARKER"])
        if not marker.exists():  # this ask never arrived
            marker.write_text("lost")
            return None
        return listener(*args, **kwargs)
    return on_flush


def register_message(self, msg_type, listener, *args, **kwargs):
    if msg_type == MSG_FLUSH:
        listener = _lose_first(listener)
    return _register(self, msg_type, listener, *args, **kwargs)


WorkerRunner.register_message = register_message
'''


def test_a_lost_ask_for_the_last_samples_is_asked_again(
        stdlib_project: pytest.Pytester, tmp_path: Path) -> None:
    """The master's ask for a worker's last samples (or the answer) can be lost on a loaded
    machine: the master asks again, and the run ends with every request counted."""
    project = stdlib_project
    project.makepyfile(test_flush="""
        import pytest
        from users import Browse

        @pytest.mark.perf(users=1, run_time="2s", warmup=0, max_error_rate=0)
        def test_flush(loadgate):
            loadgate.run(Browse)
    """)
    lossy = tmp_path / "lossy"
    lossy.mkdir()
    (lossy / "sitecustomize.py").write_text(LOSE_FIRST_FLUSH)
    marker = tmp_path / "lost"
    port = free_port()
    path = os.pathsep.join([str(lossy), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    log = Path(project.path) / "worker.log"
    worker = start_worker(port, log, TOKEN, "--name", "lossy",
                          env_extra={"PYTHONPATH": path, "LOST_FLUSH_MARKER": str(marker)})
    try:
        result = run_remote_session(project, port)
        assert marker.exists(), log.read_text()  # the first ask was dropped
        result.assert_outcomes(passed=1)
        assert log.read_text().count("last samples sent to master") == 1
        report = json.loads(next((Path(project.path) / "reports").glob("*.json")).read_text())
        assert report["total"]["requests"] > 0
        assert not report["problems"], report["problems"]
    finally:
        stop(worker)
        print("worker log:", log.read_text(), sep="\n")  # shown when the test fails


def test_a_worker_serves_one_session_after_another(stdlib_project: pytest.Pytester) -> None:
    """``loadgate worker`` outlives a session's master and joins the next session's."""
    project = stdlib_project
    project.makepyfile(test_again="""
        import pytest
        from users import Browse

        @pytest.mark.perf(users=2, run_time="2s", warmup=0, max_error_rate=0)
        def test_again(loadgate):
            loadgate.run(Browse)
    """)
    port = free_port()
    log = Path(project.path) / "worker.log"
    worker = start_worker(port, log, TOKEN, "--name", "steady")
    try:
        for _ in range(2):
            result = run_remote_session(project, port, "--loadgate-worker-timeout=30")
            result.assert_outcomes(passed=1)
            result.stdout.fnmatch_lines(["*load workers: steady (pid *"])
        assert worker.poll() is None
        assert log.read_text().count("setup received from master") == 2
    finally:
        stop(worker)
