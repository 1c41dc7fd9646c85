"""A server under test that never gets ready: one clear error, within the startup timeout,
and no process left behind."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import psutil
import pytest

TEST = '''
import pytest
from users import Browse


@pytest.mark.perf(users=2, spawn_rate=2, run_time="2s")
def test_browse(loadgate):
    loadgate.run(Browse)
'''


def _gone(pid_file: Path) -> bool:
    pid = int(pid_file.read_text())
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_server_that_answers_503_is_named_with_its_last_answer(
        stdlib_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STDLIB_SERVER_FAULT", "unhealthy")
    stdlib_project.makepyfile(test_browse=TEST)
    started = time.monotonic()
    result = stdlib_project.runpytest_subprocess("-p", "no:cacheprovider",
                                                 "--loadgate-startup-timeout=3")
    assert time.monotonic() - started < 60
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*server not ready after 3s at http://127.0.0.1:*/ (HTTP 503)*"])
    assert _gone(Path(stdlib_project.path) / "server.pid")


def test_a_server_whose_port_is_taken_fails_with_its_own_words(
        stdlib_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("STDLIB_SERVER_FAULT", "port_taken")
        monkeypatch.setenv("STDLIB_SERVER_PORT", str(taken.getsockname()[1]))
        stdlib_project.makepyfile(test_browse=TEST)
        result = stdlib_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*server did not start: server process exited with code 1*",
                                 "*Address already in use*"])
    assert "Traceback (most recent call last)" not in result.stdout.str().split(
        "last lines of")[0]
