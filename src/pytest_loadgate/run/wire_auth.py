"""Signed frames on the master↔worker link: every Locust message carries an HMAC-SHA256 of the
session token, a direction and a counter; forged, replayed or malformed frames are dropped and
counted, never unpacked (so a worker never unpickles a payload it cannot authenticate).

A frame is ``[counter (8 bytes) + msgpack payload, mac]``; the MAC covers the direction, the
worker's identity (sender or receiver), the counter and the payload, so a message can be neither
replayed (within a session: the master's record of counters lasts the session; a worker's
identity is new for each test), reflected back to its sender, nor re-addressed to another
worker. A counter starts at the sender's wall clock in nanoseconds, so a restarted peer keeps
counting upwards. A frame replayed into a later session can reach Locust's bookkeeping but never
a run: a worker joins a run only by acknowledging that run's own setup (see
pytest_loadgate.run.distributed).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import time
from collections import Counter
from typing import Any

import msgpack
import zmq.error as zmqerr
import zmq.green as zmq
from locust.exception import RPCError, RPCSendError
from locust.rpc import Message, zmqrpc
from locust.rpc.protocol import decode

TO_WORKER = b"loadgate m>w"
TO_MASTER = b"loadgate w>m"
_KEY_CONTEXT = b"pytest-loadgate worker link v1\x00"
_COUNTER = struct.Struct(">Q")
_MAC_BYTES = hashlib.sha256().digest_size
#: Refusals logged per peer and reason before the log goes quiet (they are still counted).
LOGGED_REFUSALS = 3

log = logging.getLogger(__name__)


def link_key(token: str | None) -> bytes:
    """The MAC key of a session token (no token: an empty secret, for loopback links only)."""
    return hashlib.sha256(_KEY_CONTEXT + (token or "").encode()).digest()


class Refused(Exception):
    """A frame that did not authenticate (the message says why)."""


class Refusals:
    """Frames dropped on one side of the link, counted by peer and reason."""

    def __init__(self, side: str) -> None:
        self.side = side
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, peer: str, reason: str) -> None:
        self.counts[(peer, reason)] += 1
        if self.counts[(peer, reason)] <= LOGGED_REFUSALS:
            log.warning("%s dropped a frame from %s: %s", self.side, peer or "?", reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def notes(self) -> list[str]:
        """One line per peer and reason, e.g. for a run's notes."""
        return [f"{self.side} dropped {n} frame(s) from {peer or '?'}: {reason}"
                for (peer, reason), n in sorted(self.counts.items())]


class FrameSigner:
    """Seals outgoing and opens incoming frames of one side of the link."""

    def __init__(self, key: bytes, *, sends: bytes, receives: bytes) -> None:
        self._key = key
        self._sends = sends
        self._receives = receives
        self._counter = time.time_ns()
        #: Highest counter accepted per peer identity (only authenticated peers get an entry).
        self._last_seen: dict[bytes, int] = {}

    def _mac(self, direction: bytes, identity: bytes, body: bytes) -> bytes:
        head = direction + _COUNTER.pack(len(identity)) + identity
        return hmac.new(self._key, head + body, hashlib.sha256).digest()

    def seal(self, identity: bytes, payload: bytes) -> list[bytes]:
        self._counter += 1
        body = _COUNTER.pack(self._counter) + payload
        return [body, self._mac(self._sends, identity, body)]

    def open(self, identity: bytes, frames: list[bytes]) -> bytes:
        """The payload of an authentic, fresh frame; raises Refused otherwise."""
        if len(frames) != 2 or len(frames[1]) != _MAC_BYTES or len(frames[0]) < _COUNTER.size:
            raise Refused(f"malformed frame ({len(frames)} part(s), not [body, mac])")
        body, mac = frames
        if not hmac.compare_digest(mac, self._mac(self._receives, identity, body)):
            raise Refused("bad signature (no token, or not this session's token)")
        (counter,) = _COUNTER.unpack_from(body)
        if counter <= self._last_seen.get(identity, 0):
            raise Refused("replayed frame (counter did not increase)")
        self._last_seen[identity] = counter
        return body[_COUNTER.size:]


def decode_message(payload: bytes) -> Message:
    """A Locust message from an authenticated payload; Refused when it is not one."""
    try:
        fields = msgpack.loads(payload, raw=False, strict_map_key=False, object_hook=decode)
    except Exception as exc:  # msgpack raises many kinds; none may end the listener
        raise Refused(f"undecodable message ({type(exc).__name__})") from None
    if not (isinstance(fields, list) and len(fields) == 3 and isinstance(fields[0], str)
            and isinstance(fields[2], (str, type(None)))):
        raise Refused("not a message: [type, data, node id] expected")
    return Message(*fields)


class SignedServer:
    """The master's Locust RPC server (bound by Locust) with every frame signed and checked.

    Wraps the server object in place: Locust's listener looks ``recv_from_client`` and
    ``send_to_client`` up on each call.
    """

    def __init__(self, server: Any, key: bytes, *, signer: FrameSigner | None = None,
                 refusals: Refusals | None = None) -> None:
        self._server = server
        self.socket = server.socket
        self.port = server.port
        #: Shared by every master of a session, so a frame seen once is never accepted again.
        self.signer = signer or FrameSigner(key, sends=TO_WORKER, receives=TO_MASTER)
        self.refusals = refusals or Refusals("master")
        self.closed = False

    def send_to_client(self, msg: Message) -> None:
        if self.closed:  # Locust's quitting listener says goodbye again after the run
            return
        identity = str(msg.node_id).encode()
        try:
            self.socket.send_multipart([identity, *self.signer.seal(identity, msg.serialize())])
        except zmqerr.ZMQError as exc:
            raise RPCSendError("ZMQ sent failure") from exc

    def recv_from_client(self) -> tuple[str, Message]:
        while True:
            try:
                frames = self.socket.recv_multipart()
            except zmqerr.ZMQError as exc:
                raise RPCError("ZMQ network broken") from exc
            peer = frames[0].decode(errors="replace") if frames else ""
            try:
                payload = self.signer.open(frames[0], frames[1:])
                msg = decode_message(payload)
                if msg.node_id != peer:
                    raise Refused(f"node id {msg.node_id!r} is not the sender's identity")
            except Refused as refused:
                self.refusals.add(peer, str(refused))
                continue
            return peer, msg

    def close(self, linger: int | None = None) -> None:
        self.closed = True
        self._server.close(linger=linger)


class SignedClient(zmqrpc.Client):
    """A worker's Locust RPC client with every frame signed and checked (see install)."""

    key = link_key(None)
    refusals = Refusals("worker")

    def __init__(self, host: str, port: int, identity: str) -> None:
        super().__init__(host, port, identity)  # type: ignore[no-untyped-call]
        self.identity = identity.encode()
        self.signer = FrameSigner(self.key, sends=TO_MASTER, receives=TO_WORKER)

    def send(self, msg: Message) -> None:
        try:
            self.socket.send_multipart(self.signer.seal(self.identity, msg.serialize()),
                                       zmq.NOBLOCK)
        except zmqerr.ZMQError as exc:
            raise RPCSendError("ZMQ sent failure") from exc

    def recv(self) -> Message:
        while True:
            try:
                frames = self.socket.recv_multipart()
            except zmqerr.ZMQError as exc:
                raise RPCError("ZMQ network broken") from exc
            try:
                return decode_message(self.signer.open(self.identity, frames))
            except Refused as refused:
                self.refusals.add("the master", str(refused))


def install_worker_auth(token: str | None) -> None:
    """Make every Locust worker runner of this process sign and check its frames (a worker
    process is ours alone; Locust builds its client as ``rpc.Server``'s sibling by name)."""
    SignedClient.key = link_key(token)
    zmqrpc.Client = SignedClient  # type: ignore[misc]
