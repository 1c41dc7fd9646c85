"""Load workers on other hosts: Linux network namespaces, each joined to this one by a veth pair,
stand in for worker machines. A session of load tests on two remote workers, a worker killed
mid-run, and peers without the session's token, all over real (virtual) links.

Each test claims a slot of three private /24 networks (10.231.3N.0 .. 10.231.3N+2.0, within
10.231.0-251; bench/netns.py keeps to 252-254) by creating its namespace ``lgw<N>a`` (``ip netns
add`` fails when another run holds the slot), so tests on other xdist workers never share
addresses. The master (the inner pytest, in
this namespace) listens on the first network's root side; workers in the other namespaces reach
it through their default route (a packet for an address of this namespace is delivered locally,
no forwarding). The target is a stdlib server of ours on the same address, given to the inner
run as ``--loadgate-host`` (a booted server always listens on 127.0.0.1, out of the workers'
reach). Skipped only when a namespace cannot be created (not root, no ``ip``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fault_checks import Leftovers, start_pytest, traceback_of_ours

#: The console script users run on worker hosts (``loadgate worker ...``).
LOADGATE = Path(sys.executable).with_name("loadgate")
TOKEN = "netns-session-token-0123456789"
SLOTS = 84  # 3 networks each: 10.231.0.0/24 .. 10.231.254.0/24
INNER_TIMEOUT_SEC = 90.0
WAIT_TIMEOUT_SEC = 60.0
POLL_SEC = 0.05

#: The target: answers 200 to everything on HOST (argv[1]) and a free port it writes to
#: server.port; the first request from each client address is added to clients.txt.
SERVER = '''
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SEEN = set()
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with LOCK:
            if self.client_address[0] not in SEEN:
                SEEN.add(self.client_address[0])
                with open("clients.txt", "a") as out:
                    out.write(self.client_address[0] + "\\n")
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer((sys.argv[1], 0), Handler)
Path("server.port.tmp").write_text(str(server.server_address[1]))
Path("server.port.tmp").rename("server.port")
server.serve_forever()
'''

USERS = '''
from locust import FastHttpUser, constant, task


class Browse(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def root(self):
        self.client.get("/")
'''

#: When each inner test's call phase ended (wall clock), and how.
PHASES = '''
import time


def pytest_runtest_logreport(report):
    if report.when == "call":
        with open("phases.txt", "a") as out:
            out.write(f"{report.nodeid} {report.outcome} {time.time()}\\n")
'''

INI = """
[pytest]
loadgate_health_path = /
loadgate_progress = off
loadgate_baseline = off
loadgate_report_dir = reports
"""

THREE_TESTS = '''
import pytest
from users import Browse


@pytest.mark.perf(users=4, run_time="3s", max_error_rate=0)
def test_first(loadgate):
    assert loadgate.run(Browse).worker_count == 2


@pytest.mark.perf(users=4, run_time="3s", max_error_rate=0)
def test_second(loadgate):
    assert loadgate.run(Browse).worker_count == 2


@pytest.mark.perf(users=4, run_time="3s", max_error_rate=0)
def test_third(loadgate):
    assert loadgate.run(Browse).worker_count == 2
'''

LONG_THEN_SHORT = '''
import pytest
from users import Browse


@pytest.mark.perf(users=4, run_time="30s", max_error_rate=0)
def test_long(loadgate):
    loadgate.run(Browse)


@pytest.mark.perf(users=4, run_time="3s", max_error_rate=0)
def test_next(loadgate):
    loadgate.run(Browse)
'''

ONE_TEST = '''
import pytest
from users import Browse


@pytest.mark.perf(users=4, run_time="3s", max_error_rate=0)
def test_guarded(loadgate):
    assert loadgate.run(Browse).worker_count == 2
'''

SERVED = re.compile(r"load workers: (.*); the pool has served (\d+) run\(s\) this session")
WORKER = re.compile(r"([\w-]+) \(pid (\d+) on [^)]*\)")


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Hosts:
    """Three namespaces (``a``, ``b``, ``c``), each a host with its own address and a veth link
    to this namespace, whose side of the first link is where the master listens."""

    slot: int
    namespaces: dict[str, str] = field(default_factory=dict)  # letter -> namespace name
    addresses: dict[str, str] = field(default_factory=dict)  # letter -> the host's address

    @property
    def master_ip(self) -> str:
        return f"10.231.{3 * self.slot}.1"


def held() -> tuple[set[str], str]:
    """The namespaces here, and the IPv4 addresses of this namespace (``ip -o`` lines)."""
    def run(*args: str) -> str:
        return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30).stdout
    return {line.split()[0] for line in run("netns", "list").splitlines() if line.strip()}, \
        run("-4", "-o", "addr")


def remove(namespaces: list[str]) -> None:
    """Delete namespaces (their veth ends go with them, and so do ours), the claim last."""
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", f"{ns}-r"], capture_output=True, timeout=30)


def claim_slot() -> Hosts:
    """The first free slot from one picked by our pid, claimed by creating its namespace ``a``
    (atomic); a slot whose other names or networks are still held (a run killed while
    removing them) is let go. Skips when namespaces cannot be made."""
    for step in range(SLOTS):
        slot = (os.getpid() + step) % SLOTS
        name = f"lgw{slot}a"
        try:
            done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                                  timeout=30)
        except OSError as exc:
            pytest.skip(f"network namespaces unavailable: cannot run ip ({exc})")
        if done.returncode != 0:
            if "exists" not in done.stderr:
                pytest.skip(f"network namespaces unavailable: ip netns add {name}:"
                            f" {done.stderr.strip()}")
            continue
        namespaces, addresses = held()
        if {f"lgw{slot}b", f"lgw{slot}c"} & namespaces \
                or any(f" 10.231.{3 * slot + i}." in addresses for i in range(3)):
            remove([name])
            continue
        return Hosts(slot, {"a": name})
    raise AssertionError(f"all {SLOTS} namespace slots are taken (ip netns list)")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    """Three hosts in namespaces, removed afterwards (the workers in them must be gone)."""
    net = claim_slot()
    try:
        for i, letter in enumerate("abc"):
            ns = net.namespaces.setdefault(letter, f"lgw{net.slot}{letter}")
            if letter != "a":
                ip("netns", "add", ns)
            subnet = f"10.231.{3 * net.slot + i}"
            root_end, ns_end = f"{ns}-r", f"{ns}-n"
            ip("link", "add", root_end, "type", "veth", "peer", "name", ns_end, "netns", ns)
            ip("addr", "add", f"{subnet}.1/24", "dev", root_end)
            ip("link", "set", root_end, "up")
            ip("-n", ns, "addr", "add", f"{subnet}.2/24", "dev", ns_end)
            ip("-n", ns, "link", "set", ns_end, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "route", "add", "default", "via", f"{subnet}.1")
            net.addresses[letter] = f"{subnet}.2"
        yield net
    finally:
        remove(list(reversed(net.namespaces.values())))


class RemoteWorker:
    """``loadgate worker`` run inside a namespace (``ip netns exec`` execs it: the pid we hold
    is the worker's), in a session of its own, its output in ``<name>.log``."""

    def __init__(self, root: Path, ns: str, name: str, master: str, port: int,
                 token: str | None) -> None:
        self.name = name
        self.log_path = root / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(root)}  # the user classes unpickle from users.py
        env.pop("LOADGATE_TOKEN", None)
        if token is not None:
            env["LOADGATE_TOKEN"] = token
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, str(LOADGATE), "worker", "--master-host", master,
                 "--master-port", str(port), "--name", name],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Site:
    """The inner project, its target server and the workers of one test."""

    root: Path
    hosts: Hosts
    port: int
    server: subprocess.Popen[bytes]
    server_url: str
    workers: dict[str, RemoteWorker] = field(default_factory=dict)

    def start_worker(self, letter: str, name: str, token: str | None = TOKEN) -> RemoteWorker:
        self.workers[name] = RemoteWorker(self.root, self.hosts.namespaces[letter], name,
                                          self.hosts.master_ip, self.port, token)
        return self.workers[name]

    def start_session(self, *args: str) -> subprocess.Popen[bytes]:
        return start_pytest(
            self.root, "-p", "no:randomly", f"--loadgate-host={self.server_url}",
            "--loadgate-remote-workers=2",
            f"--loadgate-master-bind={self.hosts.master_ip}:{self.port}", *args)

    def clients(self) -> set[str]:
        """The addresses the target has had requests from."""
        path = self.root / "clients.txt"
        return set(path.read_text().split()) if path.exists() else set()

    def output(self) -> str:
        return (self.root / "out.txt").read_text(errors="replace")

    def finish(self, proc: subprocess.Popen[bytes]) -> str:
        """Wait for the inner session; its output."""
        try:
            proc.wait(INNER_TIMEOUT_SEC)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the inner session ran past {INNER_TIMEOUT_SEC:g}s:\n"
                                 + self.output() + self.worker_logs()) from None
        return self.output()

    def worker_logs(self) -> str:
        return "".join(f"\n--- {w.name}.log\n{w.log()}" for w in self.workers.values())

    def reports(self) -> list[dict[str, Any]]:
        """The runs' JSON reports, first run first."""
        found = [json.loads(p.read_text()) for p in (self.root / "reports").glob("*.json")]
        return sorted(found, key=lambda r: r.get("started_unix") or 0)

    def phases(self) -> dict[str, tuple[str, float]]:
        """Test name -> (outcome, when its call phase ended)."""
        ended = {}
        for line in (self.root / "phases.txt").read_text().splitlines():
            nodeid, outcome, at = line.split()
            ended[nodeid.split("::")[-1]] = (outcome, float(at))
        return ended


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, ready: Callable[[], bool],
               proc: subprocess.Popen[bytes] | None = None, site: Site | None = None) -> None:
    """Poll ``ready`` until true; fail (with the inner output) when time runs out or the inner
    session ends first."""
    deadline = time.monotonic() + WAIT_TIMEOUT_SEC
    while not ready():
        ended = proc is not None and proc.poll() is not None
        if ended or time.monotonic() > deadline:
            why = (f"the inner session ended ({proc.returncode}) before {what}" if ended and proc
                   else f"never within {WAIT_TIMEOUT_SEC:g}s: {what}")
            raise AssertionError(why + ("\n" + site.output() + site.worker_logs() if site
                                        else ""))
        time.sleep(POLL_SEC)


@pytest.fixture
def site(pytester: pytest.Pytester, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[Site]:
    """The inner project with our target on the master's address; every worker and the server
    killed and reaped afterwards, and nothing of theirs left running."""
    monkeypatch.setenv("LOADGATE_TOKEN", TOKEN)  # the inner pytest's side of the secret
    pytester.makepyfile(users=USERS, server=SERVER, conftest=PHASES)
    pytester.makeini(INI)
    root = Path(pytester.path)
    left = Leftovers(root)
    with open(root / "server.log", "wb") as log:  # a killed worker's broken pipes land here
        server = subprocess.Popen([sys.executable, "server.py", hosts.master_ip], cwd=root,
                                  stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    built = None
    try:
        wait_until("the target server listens", (root / "server.port").exists)
        server_port = int((root / "server.port").read_text())
        built = Site(root, hosts, free_port(hosts.master_ip), server,
                     f"http://{hosts.master_ip}:{server_port}")
        yield built
    finally:
        for worker in built.workers.values() if built else ():
            worker.kill()
        server.kill()
        server.wait(10)
        stray = left.processes_after(5)
        left.kill_all()
    assert stray == [], stray


def served(report: dict[str, Any]) -> tuple[dict[str, int], int]:
    """Who served a run ({name: pid}) and how many runs the pool had served, from its notes."""
    for note in report["notes"]:
        found = SERVED.search(note)
        if found:
            return ({name: int(pid) for name, pid in WORKER.findall(found[1])},
                    int(found[2]))
    raise AssertionError(f"no 'load workers' note in {report['test']}: {report['notes']}")


def test_two_remote_workers_serve_a_whole_session(site: Site) -> None:
    site.root.joinpath("test_session.py").write_text(THREE_TESTS)
    a = site.start_worker("a", "worker-a")
    b = site.start_worker("b", "worker-b")
    out = site.finish(site.start_session("--loadgate-worker-timeout=30"))
    assert "3 passed" in out, out + site.worker_logs()
    assert not traceback_of_ours(out), traceback_of_ours(out)
    reports = site.reports()
    assert [r["test"].split("::")[-1] for r in reports] == [
        "test_first", "test_second", "test_third"], out
    counts = []
    for report in reports:
        assert report["verdict"] == "passed", report
        workers, count = served(report)
        # The same two processes, on their hosts, served every test.
        assert workers == {"worker-a": a.pid, "worker-b": b.pid}, report["notes"]
        counts.append(count)
    assert counts == [1, 2, 3], counts
    # The load came from both namespaces, and both workers are still up for the next session.
    assert site.clients() == {site.hosts.addresses["a"], site.hosts.addresses["b"]}
    assert a.proc.poll() is None and b.proc.poll() is None
    for worker in (a, b):
        assert worker.log().count("setup received from master") == 3, worker.log()


def test_a_remote_worker_killed_mid_run_is_named_then_missed(site: Site) -> None:
    site.root.joinpath("test_kill.py").write_text(LONG_THEN_SHORT)
    a = site.start_worker("a", "worker-a")
    site.start_worker("b", "worker-b")
    proc = site.start_session("--loadgate-worker-timeout=3")
    both = {site.hosts.addresses["a"], site.hosts.addresses["b"]}
    wait_until("both workers send load", lambda: site.clients() == both, proc, site)
    os.killpg(a.pid, signal.SIGKILL)
    killed_at = time.time()
    out = site.finish(proc)
    phases = site.phases()
    assert phases["test_long"][0] == "failed", out
    after_kill = phases["test_long"][1] - killed_at
    print(f"worker killed: test_long failed {after_kill:.1f} s later")
    assert after_kill < 10, out  # the 3 s silence, then the verdict
    [long_run] = [r for r in site.reports() if r["test"].endswith("::test_long")]
    assert phases["test_long"][1] - long_run["started_unix"] < 15, out  # not the 30 s run
    assert re.search(r"load worker worker-a was lost mid-run: nothing heard from it for"
                     r" \d+\.\ds", out), out
    assert phases["test_next"][0] == "failed", out
    where = f"{site.hosts.master_ip}:{site.port}"
    missing = re.search(rf"only 1 of 2 load workers connected to the master at"
                        rf" {re.escape(where)} within 3s; missing since an earlier test: (.*)",
                        out)
    assert missing, out
    assert "worker-a (load worker worker-a was lost mid-run" in missing[1], missing[0]
    assert "2 failed" in out, out
    assert not traceback_of_ours(out), traceback_of_ours(out)
    assert "worker-b" not in missing[1], missing[0]  # connected: named by its hello


def test_peers_without_the_token_are_refused(site: Site) -> None:
    site.root.joinpath("test_guarded.py").write_text(ONE_TEST)
    a = site.start_worker("a", "worker-a")
    b = site.start_worker("b", "worker-b")
    # Two intruders on a third host: one with no token, one with another session's.
    blank = site.start_worker("c", "intruder-blank", token=None)
    wrong = site.start_worker("c", "intruder-wrong", token="not-this-sessions-token-42")
    out = site.finish(site.start_session("--loadgate-worker-timeout=30"))
    assert "1 passed" in out, out + site.worker_logs()
    assert not traceback_of_ours(out), traceback_of_ours(out)
    [report] = site.reports()
    assert report["verdict"] == "passed", report
    workers, count = served(report)
    assert (workers, count) == ({"worker-a": a.pid, "worker-b": b.pid}, 1), report["notes"]
    refused = {m[1] for note in report["notes"] if (m := re.search(
        r"master dropped \d+ frame\(s\) from (\S+): bad signature", note))}
    assert len(refused) == 2, report["notes"]  # one identity per intruder
    # No load from the intruders' host; neither ever got the user classes.
    assert site.clients() == {site.hosts.addresses["a"], site.hosts.addresses["b"]}
    for intruder in (blank, wrong):
        # Never acknowledged by the master, so never set up (nor served a test).
        assert "serving a master" not in intruder.log(), intruder.log()
        assert "setup received from master" not in intruder.log(), intruder.log()
        assert intruder.proc.poll() is None, intruder.log()  # still knocking, not crashed
