"""A tiny ASGI app that plugin tests load: fast, slow, failing, dying and a stock counter.

Environment knobs: ``SLOW_MS`` (latency of /slow), ``STOCK`` (initial units for /buy),
``SPIN_LOOPS`` (CPU work of /spin: a fixed number of loop turns, so it scales with machine speed),
``HANG_AFTER_S`` (this many seconds after its first request, /maybe-hang stops answering),
``STALL_MS``/``STALL_EVERY_S`` (/stall answers nothing in the first STALL_MS of every period).
"""

import asyncio
import json
import os
import time

STARTED = time.monotonic()

STATE = {"stock": int(os.environ.get("STOCK", "5")), "log": [], "hanging": 0}

if os.environ.get("TARGET_APP_PIDFILE"):  # lets a test find the server process
    with open(os.environ["TARGET_APP_PIDFILE"], "w") as fh:
        fh.write(str(os.getpid()))


async def _send(send, status, body=b"ok", ctype=b"text/plain"):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype)]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    method = scope["method"]
    if path in ("/", "/health"):
        await _send(send, 200)
    elif path == "/slow":
        await asyncio.sleep(float(os.environ.get("SLOW_MS", "50")) / 1000)
        await _send(send, 200)
    elif path == "/spin":
        total = 0
        for i in range(int(os.environ.get("SPIN_LOOPS", "20000"))):
            total += i
        await _send(send, 200, str(total).encode())
    elif path == "/maybe-hang":
        first = STATE.setdefault("first_hang_request", time.monotonic())
        if time.monotonic() - first >= float(os.environ.get("HANG_AFTER_S", "1e9")):
            STATE["hanging"] += 1
            await asyncio.Event().wait()  # never set: the request hangs
        await _send(send, 200)
    elif path == "/stall":
        every = float(os.environ.get("STALL_EVERY_S", "3"))
        phase = (time.monotonic() - STARTED) % every
        stall = float(os.environ.get("STALL_MS", "1000")) / 1000
        if phase < stall:
            await asyncio.sleep(stall - phase)
        await _send(send, 200)
    elif path == "/error":
        await _send(send, 500, b"boom")
    elif path == "/die":
        os._exit(3)
    elif path == "/register":
        STATE["log"].append("register")
        await _send(send, 200)
    elif path == "/buy" and method == "POST":
        STATE["log"].append("buy")
        if STATE["stock"] > 0:
            STATE["stock"] -= 1
            await _send(send, 201)
        else:
            await _send(send, 409)
    elif path == "/state":
        body = json.dumps({"stock": STATE["stock"], "log": STATE["log"],
                           "hanging": STATE["hanging"]}).encode()
        await _send(send, 200, body, b"application/json")
    else:
        await _send(send, 404, b"not found")
