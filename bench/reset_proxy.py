"""A TCP proxy on 127.0.0.1 that resets every connection for a while when told to (SIGUSR1).

    python bench/reset_proxy.py --listen-port P --target-port T [--reset-for 2]

Forwards bytes both ways between clients and ``127.0.0.1:T``. On SIGUSR1 it enters a *reset
window* of ``--reset-for`` seconds: every client connection open at that moment is aborted
with a TCP RST (``SO_LINGER`` on, timeout 0, then close: the kernel sends RST instead of FIN
and drops unsent data), and every connection accepted during the window is reset the same way
right after the handshake. After the window it forwards normally again. This is what a
crashing load balancer, a restarted sidecar or a conntrack flush looks like to a client: the
request fails with ``ECONNRESET``; a FIN would instead look like an idle keep-alive connection
closed by the server, which HTTP clients may retry silently.

It prints ``ready`` on stdout once listening, and on SIGTERM/SIGINT prints one line of
counts (``connections=N reset=M``) on stdout and exits. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import struct
import sys
import time

CHUNK = 65536


class Proxy:
    def __init__(self, target_port: int, reset_for_s: float) -> None:
        self.target_port = target_port
        self.reset_for_s = reset_for_s
        self.reset_until = 0.0
        self.clients: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.resets = 0
        self.windows: list[float] = []

    def resetting(self) -> bool:
        return time.monotonic() < self.reset_until

    def rst(self, writer: asyncio.StreamWriter) -> None:
        """Abort the client connection with a RST."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        self.resets += 1

    def start_window(self) -> None:
        self.reset_until = time.monotonic() + self.reset_for_s
        self.windows.append(time.time())
        for writer in list(self.clients):
            self.clients.discard(writer)
            self.rst(writer)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.resetting():
            self.rst(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self.rst(writer)
            return
        self.clients.add(writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(CHUNK):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                if not dst.transport.is_closing():
                    dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self.clients.discard(writer)
            up_writer.transport.abort()
            if not writer.transport.is_closing():
                writer.transport.abort()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--reset-for", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    proxy = Proxy(args.target_port, args.reset_for)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", args.listen_port,
                                        backlog=1024)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, proxy.start_window)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    print(f"connections={proxy.connections} reset={proxy.resets}"
          f" windows={','.join(f'{t:.3f}' for t in proxy.windows)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
