"""A CPU-bound toy ASGI app whose cost per request is known: ``/work`` burns ``WORK_MS``
milliseconds of CPU, ``/health`` answers at once.

The work is SHA-256 over a small block until this thread has used ``WORK_MS`` ms of CPU time
(``time.thread_time()``), without awaiting: under one uvicorn process it holds the event loop,
so the server handles about ``1000 / (WORK_MS + overhead)`` requests per second on one core
whatever else the machine does (time spent descheduled does not count as work). Pure ASGI (no
framework) keeps the overhead small next to the work::

    WORK_MS=2 .venv/bin/python -m uvicorn cpu_app:app --app-dir bench --port 8000

``WORK_MS`` (default 2, 0 allowed) is read once, at import.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

WORK_MS = float(os.environ.get("WORK_MS", "2"))
if not 0 <= WORK_MS <= 10_000:
    raise SystemExit(f"cpu_app: WORK_MS={WORK_MS!r} must be 0..10000 milliseconds")
#: Hashed over and over: small, so the clock is read often (overshoot of a few microseconds).
BURN_BLOCK = b"x" * 256
OK = b"ok"
NOT_FOUND = b"not found"


def burn_cpu(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU time."""
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        hashlib.sha256(BURN_BLOCK).digest()


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """``/work``: burn WORK_MS ms of CPU, then 200 ``ok``; ``/health``: 200 ``ok``; else 404."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/work":
        if WORK_MS:
            burn_cpu(WORK_MS / 1000)
        await _answer(send, 200, OK)
    elif path == "/health":
        await _answer(send, 200, OK)
    else:
        await _answer(send, 404, NOT_FOUND)
