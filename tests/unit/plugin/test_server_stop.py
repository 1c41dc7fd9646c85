"""Stopping the uvicorn the plugin boots: a hung request must not hold the stop until SIGKILL."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
import urllib.request
from pathlib import Path

from pytest_loadgate.target.server import start_local_server, uvicorn_command

APP_DIR = Path(__file__).parent


def _hold_a_request(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/maybe-hang")
        conn.getresponse()
    except (OSError, http.client.HTTPException):
        pass  # the server went away: what this test wants
    finally:
        conn.close()


def _hanging(url: str) -> int:
    with urllib.request.urlopen(url + "/state", timeout=10) as resp:
        return int(json.load(resp)["hanging"])


def test_uvicorn_with_a_hung_request_ends_on_sigterm_without_being_killed(
        tmp_path: Path) -> None:
    server = start_local_server(
        lambda port: uvicorn_command("target_app:app", port), health_path="/health",
        log_path=tmp_path / "server.log", timeout_s=30,
        env={"HANG_AFTER_S": "0", "PYTHONPATH": str(APP_DIR)})
    port = int(server.url.rsplit(":", 1)[1])
    holder = threading.Thread(target=_hold_a_request, args=(port,), daemon=True)
    try:
        holder.start()
        deadline = time.monotonic() + 30
        while _hanging(server.url) < 1:  # readiness: the app itself says it holds the request
            assert time.monotonic() < deadline, "the hung request never reached the app"
            time.sleep(0.05)
    finally:
        server.stop()
    holder.join(30)
    # SIGKILL would mean uvicorn waited on the hung request until stop() gave up on it.
    assert server.exit_code() != -signal.SIGKILL, server.log_tail()
    assert "graceful shutdown exceeded" in server.log_tail()
