"""Boot the system under test as its own process and know when it is ready or dead."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_loadgate.errors import LoadgateConfigError, LoadgateServerError

if TYPE_CHECKING:
    from pytest_loadgate.settings import Settings

LOG_TAIL_LINES = 40
PR_SET_PDEATHSIG = 1  # linux/prctl.h
READY_POLL_INTERVAL_SEC = 0.1
STOP_TIMEOUT_SEC = 10.0
#: uvicorn waits for open requests on SIGTERM without end by default; a hung app would then
#: hold every stop for STOP_TIMEOUT_SEC until SIGKILL. Past this, uvicorn cancels them itself.
GRACEFUL_SHUTDOWN_SEC = 2


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when pytest dies, even by SIGKILL (Linux), so no
    server outlives a killed test run. A no-op where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


#: A process of its own that outlives pytest only to end a server's whole process group: the
#: parent-death signal reaches the process pytest started, not the children it started (a
#: ``sh -c 'migrate && serve'`` command). It gets SIGTERM when pytest dies (even by SIGKILL).
GROUP_WATCHDOG = """
import os, signal, sys, time
pgid, parent = int(sys.argv[1]), int(sys.argv[2])
def end_group(*_):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                os._exit(0)
            time.sleep(0.05)
    os._exit(0)
signal.signal(signal.SIGTERM, end_group)
if os.getppid() != parent:  # pytest died before the parent-death signal was armed
    end_group()
while True:
    signal.pause()
"""


def health_problem(url: str, timeout_s: float = 2.0) -> str | None:
    """None when ``url`` answers 2xx; otherwise what it answered (``HTTP 503``) or why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_command(app: str, port: int, *, factory: bool = False) -> list[str]:
    """The command that serves an ASGI import path with uvicorn on 127.0.0.1.

    uvicorn is an optional dependency (the ``asgi`` extra); without it this raises
    :class:`LoadgateServerError` saying what to install.
    """
    if importlib.util.find_spec("uvicorn") is None:
        raise LoadgateServerError(
            f"loadgate: serving the ASGI app {app!r} needs uvicorn, which is not installed in"
            f" {sys.executable}: pip install 'pytest-loadgate[asgi]' (or start your server with"
            " the ini key loadgate_server_command, or point --loadgate-host at a running one)")
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log", "--log-level", "warning",
           "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SEC)]
    if factory:
        cmd.append("--factory")
    return cmd


def split_command(template: str, where: str = "ini loadgate_server_command") -> list[str]:
    """The words of a shell-style command template; a clear error when it cannot be split."""
    try:
        words = shlex.split(template)
    except ValueError as exc:  # e.g. "No closing quotation"
        raise LoadgateConfigError(f"{where} = {template!r}: {exc}") from None
    if not words:
        raise LoadgateConfigError(f"{where} = {template!r}: the command is empty")
    return words


def expand_command(template: str, port: int) -> list[str]:
    """Split a shell-style command template and substitute ``{port}`` and ``{python}``;
    any other brace is the command's own (a shell snippet, a JSON argument)."""
    return [part.replace("{port}", str(port)).replace("{python}", sys.executable)
            for part in split_command(template)]


@dataclass
class Target:
    """Where load goes. ``process`` is None for an external host the plugin did not start."""

    url: str
    process: ServerProcess | None = None
    #: What the target is, stable across sessions (baselines compare it): the external URL,
    #: or the app/command the plugin booted (whose port changes every session).
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.url

    def check_alive(self) -> str | None:
        """None while the target may be used; otherwise why not (with the log tail)."""
        return None if self.process is None else self.process.death_notice()


class ServerProcess:
    """A server started as a subprocess with its output in a log file."""

    def __init__(self, command: Sequence[str], *, url: str, health_path: str,
                 log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.command = list(command)
        self.url = url.rstrip("/")
        self.health_url = self.url + (health_path if health_path.startswith("/")
                                      else "/" + health_path)
        self.log_path = log_path
        self._env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start the process (does not wait for readiness)."""
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "wb")  # noqa: SIM115 (closed below, once started)
        except OSError as exc:
            raise LoadgateServerError(
                f"cannot write the server's log {self.log_path}: {exc.strerror or exc}; set"
                " --loadgate-report-dir to a writable directory") from None
        with log:
            self._proc = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env, cwd=self._cwd, start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", GROUP_WATCHDOG, str(self._proc.pid), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent)

    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"

    def death_notice(self) -> str | None:
        """None while running; otherwise a message with the exit code and log tail."""
        code = self.exit_code()
        if code is None:
            return None
        return (f"server process exited with code {code} ({shlex.join(self.command)});"
                f" last lines of {self.log_path}:\n{self.log_tail()}")

    def wait_ready(self, timeout_s: float) -> None:
        """Poll the health URL until it answers 2xx; raise with the log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            notice = self.death_notice()
            if notice:
                raise LoadgateServerError(f"server did not start: {notice}")
            problem = health_problem(self.health_url)
            if problem is None:
                return
            last_error = problem
            time.sleep(READY_POLL_INTERVAL_SEC)
        self.stop()
        raise LoadgateServerError(
            f"server not ready after {timeout_s:g}s at {self.health_url} ({last_error});"
            f" last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Terminate the process group, then kill it if it lingers (also when the process
        pytest started has exited but children it started still run)."""
        proc = self._proc
        if proc is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_SEC
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT_SEC)
        try:
            while time.monotonic() < deadline:
                os.killpg(proc.pid, 0)  # anyone left in the group?
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_SEC)
        except ProcessLookupError:
            pass
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()


def server_command(settings: Settings, port: int) -> list[str]:
    """The command that starts the configured system under test on ``port``."""
    if settings.server_command:
        return expand_command(settings.server_command, port)
    if settings.app:
        return uvicorn_command(settings.app, port, factory=settings.app_factory)
    raise LoadgateServerError(
        "loadgate: nothing to load-test: set --loadgate-host URL, the ini key loadgate_app"
        " (an ASGI import path) or loadgate_server_command, or override the loadgate_server"
        " fixture")


def worker_log_path(log_dir: Path, stem: str, suffix: str = "") -> Path:
    """``<log_dir>/<stem>-<xdist worker or main><suffix>.log``: one log per pytest process."""
    return log_dir / f"{stem}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}{suffix}.log"


def start_local_server(command_for_port: Callable[[int], list[str]], *, health_path: str,
                       log_path: Path, timeout_s: float,
                       env: Mapping[str, str] | None = None) -> ServerProcess:
    """Start a server on a free 127.0.0.1 port and wait until it answers (raises with the
    log tail otherwise)."""
    port = free_port()
    server = ServerProcess(command_for_port(port), url=f"http://127.0.0.1:{port}",
                           health_path=health_path, log_path=log_path, env=env)
    server.start()
    server.wait_ready(timeout_s)
    return server


@contextlib.contextmanager
def boot_target(settings: Settings, env: Mapping[str, str], *,
                name: str = "") -> Iterator[Target]:
    """The target for a session: the external host, or a server booted, awaited and stopped.

    ``name`` tells apart several servers of one session in log file names.
    """
    if settings.host:
        yield Target(settings.host)
        return
    server = start_local_server(lambda port: server_command(settings, port),
                               health_path=settings.health_path,
                               log_path=worker_log_path(settings.report_dir, "server", name),
                               timeout_s=settings.startup_timeout_s, env=env)
    try:
        yield Target(server.url, server,
                     label=f"booted: {settings.server_command or settings.app}")
    finally:
        server.stop()
