"""A small ASGI app for the locustfile equivalence benchmark (pure ASGI, no framework).

``/`` ok; ``/slow`` answers after 10 ms; ``/error`` 500; ``/json`` a JSON object; ``/items/N``
an item (404 for N >= 100); ``POST /login`` sets nothing, answers 200; ``/health`` ok.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def _send(send: Any, status: int, body: bytes = b"ok",
                ctype: bytes = b"text/plain") -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path in ("/", "/health") or (path == "/login" and scope["method"] == "POST"):
        await _send(send, 200)
    elif path == "/slow":
        await asyncio.sleep(0.01)
        await _send(send, 200)
    elif path == "/error":
        await _send(send, 500, b"boom")
    elif path == "/json":
        await _send(send, 200, json.dumps({"ok": True, "items": [1, 2, 3]}).encode(),
                    b"application/json")
    elif path.startswith("/items/"):
        try:
            number = int(path.rsplit("/", 1)[1])
        except ValueError:
            number = 999
        if number >= 100:
            await _send(send, 404, b"no such item")
        else:
            await _send(send, 200, json.dumps({"id": number}).encode(), b"application/json")
    else:
        await _send(send, 404, b"not found")
