"""A machine-speed reference: a trivial server loaded alongside the app during a run.

The same machine serves the app and a do-nothing ASGI app (one uvicorn process, same HTTP
stack) while a probe in the load generator asks the reference at a steady rate. The
reference's latency is what a request costs on this machine at this moment without any app
code: client, network stack, uvicorn. Subtracting it from an endpoint's latency and dividing
by it gives the app's own time in machine units, which stays put when the whole machine gets
faster or slower between a baseline and a later run, and moves when the app itself does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_loadgate.target.server import (
    ServerProcess,
    start_local_server,
    uvicorn_command,
    worker_log_path,
)

#: Probe requests per second: enough for a stable median over a 10 s window, light enough
#: (a few % of one core) not to load the machine it measures.
#: A median of fewer probes is not used (and ``p50_ref`` is then not compared).
MIN_PROBES = 50
STARTUP_TIMEOUT_SEC = 30.0
BODY = b'{"ok":true}'


async def app(scope: dict[str, Any], receive: Callable[..., Any],
              send: Callable[..., Any]) -> None:
    """The reference ASGI app: every HTTP request gets the same tiny JSON answer."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


class ReferenceServer:
    """The reference app in its own uvicorn process, started on first use."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._process: ServerProcess | None = None

    def url(self) -> str:
        """The reference's URL, booting it (and waiting until it answers) the first time."""
        if self._process is None or self._process.exit_code() is not None:
            self._process = start_local_server(
                lambda port: uvicorn_command("pytest_loadgate.target.reference:app", port),
                health_path="/", log_path=worker_log_path(self.log_dir, "reference"),
                timeout_s=STARTUP_TIMEOUT_SEC)
        return self._process.url

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None


