"""The shop's throwaway PostgreSQL that cannot start: one PostgresError naming the cause, no
postmaster and no cluster directory left behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from demo_api.throwaway_postgres import (
    MAX_SOCKET_PATH_BYTES,
    PostgresError,
    PostgresNotFound,
    PostgresServer,
    find_bindir,
)

try:
    find_bindir()
except PostgresNotFound as exc:
    pytestmark = pytest.mark.skip(reason=str(exc))


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A directory of this test's own in the system temp dir, reachable by the ``postgres``
    OS user (the clusters go there, so what is left in it is what the fault left)."""
    path = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _postmasters(base: Path) -> list[str]:
    """Live processes whose command line names a cluster under ``base``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(base) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"pid {proc.info['pid']}: {cmdline}")
    return found


def _start_fails(server: PostgresServer, base: Path) -> str:
    """Start ``server``, expecting PostgresError; check that nothing is left; its message."""
    started = time.monotonic()
    with pytest.raises(PostgresError) as info:
        server.start()
    assert time.monotonic() - started < 60
    assert info.type is PostgresError  # not a bare OSError or CalledProcessError
    assert server.root is None
    assert list(base.iterdir()) == []  # the cluster's temp dir is gone
    assert _postmasters(base) == []
    return str(info.value)


def test_a_server_that_refuses_its_settings_is_named_by_its_log(base_dir: Path) -> None:
    server = PostgresServer(base_dir=base_dir, settings={"shared_buffers": "lots"},
                            startup_timeout=20)
    message = _start_fails(server, base_dir)
    assert "pg_ctl start" in message and "failed with exit code" in message
    assert 'invalid value for parameter "shared_buffers": "lots"' in message


def test_an_initdb_that_fails_is_named_with_its_output(base_dir: Path) -> None:
    bindir = base_dir.parent / f"{base_dir.name}-bin"
    bindir.mkdir(mode=0o755)
    try:
        for tool in ("initdb", "pg_ctl"):
            script = bindir / tool
            script.write_text("#!/bin/sh\necho \"$0: error: could not create directory:"
                              " No space left on device\" >&2\nexit 1\n")
            script.chmod(0o755)
        message = _start_fails(PostgresServer(base_dir=base_dir, bindir=bindir), base_dir)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
    assert f"{bindir / 'initdb'} -D " in message
    assert "failed with exit code 1" in message
    assert "initdb: error: could not create directory: No space left on device" in message


def test_a_socket_path_too_long_is_refused_before_anything_runs(base_dir: Path) -> None:
    deep = base_dir / ("d" * (MAX_SOCKET_PATH_BYTES - len(str(base_dir))))
    deep.mkdir()
    message = _start_fails(PostgresServer(base_dir=deep), deep)
    assert f"longer than {MAX_SOCKET_PATH_BYTES} bytes; choose a shorter base_dir" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another user")
def test_a_base_dir_the_postgres_user_cannot_reach_is_named(base_dir: Path) -> None:
    private = base_dir / "private"
    private.mkdir(mode=0o700)
    message = _start_fails(PostgresServer(base_dir=private), private)
    assert f"{private} is not searchable by the PostgreSQL OS user" in message


def test_a_missing_base_dir_is_a_postgres_error(base_dir: Path) -> None:
    missing = base_dir / "missing"
    with pytest.raises(PostgresError, match=f"cannot create the cluster's directory in {missing}"):
        PostgresServer(base_dir=missing).start()


OWNER = """
import sys, time
from demo_api.throwaway_postgres import PostgresServer
server = PostgresServer(base_dir=sys.argv[1]).start()
print("ready", flush=True)
time.sleep(600)
"""


def test_a_cluster_does_not_outlive_its_owner_killed_by_sigkill(base_dir: Path) -> None:
    import subprocess
    import sys

    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(base_dir)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        assert _postmasters(base_dir)  # running, under the test's own directory
        killed = time.monotonic()
        owner.kill()  # no finalizer, no atexit: only the watchdog is left to clean up
        owner.wait()
        deadline = killed + 30
        while (_postmasters(base_dir) or list(base_dir.iterdir())) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert _postmasters(base_dir) == [] and list(base_dir.iterdir()) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
