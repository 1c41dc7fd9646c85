"""A throwaway PostgreSQL server for tests: initdb into a temp dir, start, hand out a URL, stop.

Uses the distribution's binaries (``initdb``, ``pg_ctl``; Debian keeps them under
``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root, so when the
current user is root the data directory is handed to the ``postgres`` OS user and every
server command runs through ``runuser -u postgres --`` (or ``su postgres -c``).

The cluster is tuned for tests, not for durability: ``fsync``, ``synchronous_commit`` and
``full_page_writes`` are off. It listens on no TCP address at all (``listen_addresses = ''``),
only on a unix socket inside its temp dir, and host (TCP) authentication is ``reject``. Local
connections as ``postgres`` need no password: the temp dir is mode 0700, so only the user who
started the server (and root) can reach the socket. URLs carry the socket directory as
``?host=``, which SQLAlchemy's psycopg dialect and libpq both understand.

    server = PostgresServer().start()
    try:
        engine = create_engine(server.url)
        ...
    finally:
        server.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["PostgresError", "PostgresNotFound", "PostgresServer", "find_bindir"]

INSTALL_HINT = (
    "install PostgreSQL's server binaries (Debian/Ubuntu: `apt-get install -y postgresql`), "
    "or put the directory holding initdb and pg_ctl on PATH (or in LOADGATE_PG_BINDIR)"
)
#: The port only names the socket file (``.s.PGSQL.5432``) in the cluster's own directory:
#: nothing listens on TCP, so clusters never compete for it.
PORT = 5432
#: Unix socket paths are limited to 107 bytes (``sun_path``); PostgreSQL refuses longer ones.
MAX_SOCKET_PATH_BYTES = 107
#: Settings for a disposable test cluster (safe only because the data is thrown away).
TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "autovacuum": "on",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "UTC",
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PR_SET_PDEATHSIG = 1
#: Outlives its owner only to end the cluster: SIGQUIT (immediate shutdown) then SIGKILL to
#: the postmaster, then the cluster's directory goes. It gets SIGTERM when the owner dies.
OWNER_WATCHDOG = """
import os, shutil, signal, sys, time
root, owner = sys.argv[1], int(sys.argv[2])
def end_cluster(*_):
    try:
        pid = int(open(os.path.join(root, "data", "postmaster.pid")).read().split()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        if pid is None:
            break
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                pid = None
                break
            time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)
    os._exit(0)
signal.signal(signal.SIGTERM, end_cluster)
if os.getppid() != owner:  # the owner died before the parent-death signal was armed
    end_cluster()
while True:
    signal.pause()
"""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why."""


class PostgresNotFound(PostgresError):
    """PostgreSQL's server binaries are not installed (or not found)."""


def find_bindir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: explicit, env, PATH, then Debian's dirs.

    Raises :class:`PostgresNotFound` naming what to install when none qualifies.
    """
    candidates: list[Path] = []
    for given in (explicit, os.environ.get("LOADGATE_PG_BINDIR")):
        if given:
            candidates.append(Path(given))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    debian.sort(key=lambda p: _version_key(Path(p).parent.name), reverse=True)
    candidates.extend(Path(p) for p in debian)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bindir
    searched = ", ".join(str(c) for c in candidates) or "PATH, /usr/lib/postgresql/*/bin"
    raise PostgresNotFound(
        f"PostgreSQL binaries (initdb, pg_ctl) not found in {searched}: {INSTALL_HINT}"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


class PostgresServer:
    """One PostgreSQL cluster in a temp dir, reachable only through its own unix socket.

    ``url`` (after :meth:`start`) is
    ``postgresql+psycopg://postgres@/DB?host=SOCKET_DIR&port=5432``.
    Usable as a context manager. :meth:`stop` is idempotent and also runs at interpreter
    exit if the owner forgot it.
    """

    def __init__(
        self,
        *,
        database: str = "loadgate",
        max_connections: int = 200,
        startup_timeout: float = 30.0,
        bindir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        settings: dict[str, str] | None = None,
        os_user: str = "postgres",
    ) -> None:
        _check_name(database)
        self.database = database
        self.max_connections = max_connections
        self.startup_timeout = startup_timeout
        self.bindir = find_bindir(bindir)
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.os_user = os_user
        self.port = PORT
        self.root: Path | None = None
        self._running = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- paths and URLs ----------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (PGDATA)."""
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's unix socket."""
        return self._root() / "sock"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._root() / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        if not self._running:
            raise PostgresError("the PostgreSQL server is not running")
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql+psycopg://postgres@/{database}?host={host}&port={self.port}"

    def dsn_for(self, database: str) -> str:
        """libpq connection string (for psycopg) of ``database`` on this server."""
        return make_conninfo(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=database
        )

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log (empty if there is none yet)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (OSError, PostgresError):
            return ""

    def _root(self) -> Path:
        if self.root is None:
            raise PostgresError("the PostgreSQL server has not been started")
        return self.root

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb, start, wait until it accepts connections, create the database.

        On any failure everything is torn down and :class:`PostgresError` carries the log
        tail.
        """
        if self._running:
            return self
        try:
            self.root = Path(tempfile.mkdtemp(prefix="loadgate-pg-", dir=self.base_dir))
        except OSError as exc:
            raise PostgresError(
                f"cannot create the cluster's directory in {self.base_dir or 'the temp dir'}:"
                f" {exc.strerror or exc}") from None
        atexit.register(self.stop)
        try:
            self._check_socket_path()
            self._init_cluster()
            self._write_config()
            self._pg_ctl_start()
            self._running = True
            self._watch_owner()
            self._wait_ready()
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (immediate, then SIGKILL, if that fails); remove the temp dir."""
        atexit.unregister(self.stop)
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:  # stopping it ourselves: the watchdog is not needed
            watchdog.kill()
            watchdog.wait()
        root = self.root
        if root is None:
            return
        try:
            pid_file = root / "data" / "postmaster.pid"
            if pid_file.exists():
                self._stop_postmaster(root / "data", pid_file)
        finally:
            self.root = None
            self._running = False
            shutil.rmtree(root, ignore_errors=True)

    def _watch_owner(self) -> None:
        """Start a watchdog that stops the postmaster and removes the cluster if this process
        dies without stopping it (SIGKILL, a crash): ``pg_ctl`` detaches the postmaster, so
        nothing else would end it."""
        assert self.root is not None
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", OWNER_WATCHDOG, str(self.root), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent)

    def _stop_postmaster(self, data: Path, pid_file: Path) -> None:
        pid: int | None = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
        for mode in ("fast", "immediate"):
            cmd = [self._tool("pg_ctl"), "stop", "-D", str(data), "-m", mode, "-w", "-t", "20"]
            try:
                self._run_as_owner(cmd, timeout=30)
                return
            except PostgresError:
                continue
        if pid is not None:  # pg_ctl could not stop it: the postmaster we started goes hard
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------

    def connect(self, database: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        """A psycopg connection (autocommit) to ``database``."""
        return psycopg.connect(self.dsn_for(database), autocommit=True, connect_timeout=5, **kwargs)

    def create_database(self, name: str, *, drop_existing: bool = False) -> str:
        """Create database ``name`` (optionally dropping an existing one); return its URL."""
        _check_name(name)
        with self.connect() as conn:
            if drop_existing:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        _check_name(name)
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals ---------------------------------------------------------------------------

    def _tool(self, name: str) -> str:
        return str(self.bindir / name)

    def _needs_switch(self) -> bool:
        return os.geteuid() == 0

    def _run_as_owner(self, cmd: list[str], timeout: float) -> str:
        """Run a server command as the cluster's owner; raise with its output on failure."""
        full = cmd
        if self._needs_switch():
            if shutil.which("runuser"):
                full = ["runuser", "-u", self.os_user, "--", *cmd]
            elif shutil.which("su"):
                full = ["su", self.os_user, "-s", "/bin/sh", "-c", shlex.join(cmd)]
            else:
                raise PostgresError(
                    "running as root, but neither runuser nor su is available "
                    f"to run PostgreSQL as {self.os_user!r}"
                )
        try:
            done = subprocess.run(
                full,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd="/",
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(
                f"{shlex.join(cmd)} did not finish within {timeout:.0f} s\n"
                f"server log:\n{self.log_tail()}"
            ) from exc
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise PostgresError(
                f"{shlex.join(cmd)} failed with exit code {done.returncode}:\n"
                f"{output}\nserver log:\n{self.log_tail()}"
            )
        return output

    def _init_cluster(self) -> None:
        root = self._root()
        self.socket_dir.mkdir()
        if self._needs_switch():
            try:
                owner = pwd.getpwnam(self.os_user)
            except KeyError as exc:
                raise PostgresError(
                    f"running as root: PostgreSQL refuses root and there is no {self.os_user!r} "
                    "OS user to run it as (the postgresql package creates it; or run as non-root)"
                ) from exc
            for path in (root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            root.chmod(0o700)
            _check_traversable(root, owner.pw_uid, owner.pw_gid)
        self._run_as_owner(
            [
                self._tool("initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "--auth-local=trust",  # the socket's dir is 0700: only its owner gets in
                "--auth-host=reject",  # and nothing listens on TCP anyway
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=120,
        )  # fmt: skip

    def _check_socket_path(self) -> None:
        """Fail clearly when the socket's path would be too long for a unix socket."""
        path = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
            raise PostgresError(
                f"unix socket path {path} is longer than {MAX_SOCKET_PATH_BYTES} bytes;"
                " choose a shorter base_dir"
            )

    def _write_config(self) -> None:
        """Write our settings: no TCP, socket dir, port, connections, test tuning."""
        conf = {
            **self.settings,
            "listen_addresses": "",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
        }
        lines = [f"{key} = '{value}'" for key, value in conf.items()]
        path = self.data_dir / "postgresql.auto.conf"
        path.write_text("# written by demo_api.throwaway_postgres\n" + "\n".join(lines) + "\n")
        if self._needs_switch():
            owner = pwd.getpwnam(self.os_user)
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _pg_ctl_start(self) -> None:
        self._run_as_owner(
            [
                self._tool("pg_ctl"), "start",
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-w", "-t", str(int(self.startup_timeout)),
            ],
            timeout=self.startup_timeout + 15,
        )  # fmt: skip

    def _wait_ready(self) -> None:
        """Poll with a real connection until ``SELECT 1`` answers."""
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last = exc
                time.sleep(0.1)
        raise PostgresError(
            f"PostgreSQL on {self.socket_dir} not ready within "
            f"{self.startup_timeout:.0f} s ({last})\nserver log:\n{self.log_tail()}"
        )


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"database name {name!r} must match {_NAME.pattern}")


def _check_traversable(path: Path, uid: int, gid: int) -> None:
    """Fail clearly if the OS user cannot reach ``path`` (e.g. a base dir under /root)."""
    for parent in path.parents:
        st = parent.stat()
        mode = st.st_mode
        if st.st_uid == uid:
            ok = bool(mode & 0o100)
        elif st.st_gid == gid:
            ok = bool(mode & 0o010)
        else:
            ok = bool(mode & 0o001)
        if not ok:
            raise PostgresError(
                f"{parent} is not searchable by the PostgreSQL OS user; choose another base_dir"
            )
