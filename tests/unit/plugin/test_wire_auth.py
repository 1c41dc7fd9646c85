"""Signed master↔worker frames: what opens, what is refused and why, and that a listener on a
real zmq socket drops forged, malformed and replayed frames and keeps serving good peers."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

import gevent
import msgpack
import pytest
import zmq.green as zmq
from hypothesis import given, settings
from hypothesis import strategies as st
from locust.rpc import Message, zmqrpc

from pytest_loadgate.run import wire_auth
from pytest_loadgate.run.wire_auth import (
    LOGGED_REFUSALS,
    TO_MASTER,
    TO_WORKER,
    FrameSigner,
    Refusals,
    Refused,
    SignedClient,
    SignedServer,
    decode_message,
    link_key,
)

TOKEN = "correct-horse-battery-staple"
OTHER_TOKEN = "not-this-sessions-token-at-all"
KEY = link_key(TOKEN)
#: Seconds any receive may take before the test fails instead of hanging.
RECV_TIMEOUT_SEC = 5.0

T = TypeVar("T")


def _master(key: bytes = KEY) -> FrameSigner:
    return FrameSigner(key, sends=TO_WORKER, receives=TO_MASTER)


def _worker(key: bytes = KEY) -> FrameSigner:
    return FrameSigner(key, sends=TO_MASTER, receives=TO_WORKER)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def _within(call: Callable[[], T]) -> T:
    """``call()``, failing the test (gevent.Timeout) if it blocks longer than the limit."""
    with gevent.Timeout(RECV_TIMEOUT_SEC):
        return call()


# -- keys ---------------------------------------------------------------------------------------
def test_a_link_key_is_a_32_byte_digest_of_the_token() -> None:
    assert len(KEY) == 32
    assert link_key(TOKEN) == KEY
    assert link_key(OTHER_TOKEN) != KEY
    assert link_key(None) == link_key("") != KEY


# -- FrameSigner --------------------------------------------------------------------------------
def test_a_sealed_frame_opens_to_its_payload_both_ways() -> None:
    master, worker = _master(), _worker()
    up = worker.seal(b"w1", b"samples")
    down = master.seal(b"w1", b"spawn")
    assert len(up) == 2 and len(up[1]) == 32
    assert master.open(b"w1", up) == b"samples"
    assert worker.open(b"w1", down) == b"spawn"


def test_an_empty_payload_round_trips() -> None:
    assert _master().open(b"w1", _worker().seal(b"w1", b"")) == b""


def test_frames_between_tokenless_peers_open_but_a_token_holder_refuses_them() -> None:
    frame = _worker(link_key(None)).seal(b"w1", b"hello")
    assert _master(link_key(None)).open(b"w1", list(frame)) == b"hello"
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"w1", frame)


def test_a_frame_signed_with_another_token_is_refused() -> None:
    frame = _worker(link_key(OTHER_TOKEN)).seal(b"w1", b"samples")
    with pytest.raises(Refused, match=r"^bad signature \(no token, or not this session's"):
        _master().open(b"w1", frame)


@pytest.mark.parametrize("index", [0, 7, 8, -1], ids=["counter-high", "counter-low",
                                                      "payload-first", "payload-last"])
def test_a_tampered_body_is_refused(index: int) -> None:
    body, mac = _worker().seal(b"w1", b"samples")
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"w1", [_flip(body, index % len(body)), mac])


@pytest.mark.parametrize("index", [0, 31])
def test_a_tampered_mac_is_refused(index: int) -> None:
    body, mac = _worker().seal(b"w1", b"samples")
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"w1", [body, _flip(mac, index)])


def test_a_payload_appended_to_a_signed_body_is_refused() -> None:
    body, mac = _worker().seal(b"w1", b"samples")
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"w1", [body + b"more", mac])


def test_the_same_frame_opens_once() -> None:
    master = _master()
    frame = _worker().seal(b"w1", b"samples")
    assert master.open(b"w1", frame) == b"samples"
    with pytest.raises(Refused, match=r"^replayed frame \(counter did not increase\)"):
        master.open(b"w1", frame)


def test_an_older_frame_after_a_newer_one_is_a_replay() -> None:
    master, worker = _master(), _worker()
    first = worker.seal(b"w1", b"first")
    second = worker.seal(b"w1", b"second")
    assert master.open(b"w1", second) == b"second"
    with pytest.raises(Refused, match=r"^replayed"):
        master.open(b"w1", first)


def test_counters_are_kept_per_peer() -> None:
    master = _master()
    late_starter = _worker().seal(b"w2", b"from w2")  # a smaller counter than w1's below
    w1_frame = _worker().seal(b"w1", b"from w1")
    assert master.open(b"w1", w1_frame) == b"from w1"
    assert master.open(b"w2", late_starter) == b"from w2"


def test_a_forged_frame_does_not_move_the_replay_counter() -> None:
    master = _master()
    forged_body = (2**64 - 1).to_bytes(8, "big") + b"samples"
    with pytest.raises(Refused, match=r"^bad signature"):
        master.open(b"w1", [forged_body, bytes(32)])
    assert master.open(b"w1", _worker().seal(b"w1", b"good")) == b"good"


def test_a_restarted_sender_keeps_counting_upwards(monkeypatch: pytest.MonkeyPatch) -> None:
    wall_ns = iter([1_000, 2_000, 3_000])
    monkeypatch.setattr(wire_auth, "time", SimpleNamespace(time_ns=lambda: next(wall_ns)))
    before, after = _worker(), _worker()  # the same worker, restarted later
    master = _master()
    for _ in range(3):
        master.open(b"w1", before.seal(b"w1", b"before"))
    assert master.open(b"w1", after.seal(b"w1", b"after")) == b"after"


def test_a_frame_for_one_worker_cannot_be_opened_as_another() -> None:
    to_a = _master().seal(b"worker-a", b"spawn")
    with pytest.raises(Refused, match=r"^bad signature"):
        _worker().open(b"worker-b", to_a)
    from_a = _worker().seal(b"worker-a", b"samples")
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"worker-b", from_a)


def test_a_frame_cannot_be_reflected_in_the_other_direction() -> None:
    to_worker = _master().seal(b"w1", b"spawn")
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"w1", to_worker)  # sent back to the master as if the worker said it
    to_master = _worker().seal(b"w1", b"samples")
    with pytest.raises(Refused, match=r"^bad signature"):
        _worker().open(b"w1", to_master)


def test_an_identity_prefix_does_not_shift_into_the_body() -> None:
    # The identity's length is part of the MAC: "w1" + body and "w" + "1"-prefixed body differ.
    body, mac = _worker().seal(b"w1", b"samples")
    with pytest.raises(Refused, match=r"^bad signature"):
        _master().open(b"w", [b"1" + body, mac])


def _good_frame() -> list[bytes]:
    return _worker().seal(b"w1", b"samples")


@pytest.mark.parametrize(("frames", "parts"), [
    ([], 0),
    ([_good_frame()[0]], 1),
    ([*_good_frame(), b"extra"], 3),
    ([_good_frame()[0], _good_frame()[1][:31]], 2),  # short mac
    ([_good_frame()[0], _good_frame()[1] + b"\0"], 2),  # long mac
    ([b"1234567", _good_frame()[1]], 2),  # body shorter than its counter
    ([b"", b""], 2),
], ids=["none", "one-part", "three-parts", "short-mac", "long-mac", "short-body", "empty"])
def test_a_malformed_frame_is_refused_as_malformed(frames: list[bytes], parts: int) -> None:
    with pytest.raises(Refused, match=rf"^malformed frame \({parts} part\(s\), not \[body, mac\]"):
        _master().open(b"w1", frames)


# -- decode_message -----------------------------------------------------------------------------
def test_a_locust_message_decodes() -> None:
    sent = Message("spawning_complete", {"user_classes_count": {"U": 3}, "count": 3}, "w1")
    msg = decode_message(sent.serialize())
    assert (msg.type, msg.data, msg.node_id) == (sent.type, sent.data, sent.node_id)
    assert decode_message(Message("quit", None, None).serialize()).node_id is None


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "undecodable message (ValueError)"),
    (b"\xc1", "undecodable message"),  # a byte msgpack never uses
    (b"\x93\xa1t", "undecodable message"),  # a 3-array cut short
    (Message("t", None, "w1").serialize() + b"\x00", "undecodable message (ExtraData)"),
    (msgpack.packb(7), "not a message"),
    (msgpack.packb(("t", None)), "not a message"),
    (msgpack.packb(("t", None, "w1", "more")), "not a message"),
    (msgpack.packb(("t", {"__datetime__": True}, "w1")), "undecodable message (KeyError)"),
    (msgpack.packb(("t", {"__datetime__": True, "as_str": "x"}, "w1")),
     "undecodable message (ValueError)"),
    (msgpack.packb((1, None, "w1")), "not a message"),
    (msgpack.packb((b"t", None, "w1")), "not a message"),
    (msgpack.packb(("t", None, 5)), "not a message"),
    (msgpack.packb(("t", None, ["w1"])), "not a message"),
    (msgpack.packb(b"abc"), "not a message"),  # ints 97..99
])
def test_a_payload_that_is_not_a_locust_message_is_refused(payload: bytes,
                                                           reason: str) -> None:
    with pytest.raises(Refused) as info:
        decode_message(payload)
    assert str(info.value).startswith(reason)


@pytest.mark.parametrize("shape", ["abc", {"type": 1, "data": 2, "node": 3}])
def test_a_three_item_non_tuple_is_refused(shape: Any) -> None:
    with pytest.raises(Refused):
        decode_message(msgpack.packb(shape))


def _decoded_or_refused(payload: bytes) -> None:
    """The property: a Message with a string type and node id, or Refused; nothing else."""
    try:
        msg = decode_message(payload)
    except Refused as refused:
        assert str(refused)
        return
    assert isinstance(msg, Message)
    assert isinstance(msg.type, str)
    assert msg.node_id is None or isinstance(msg.node_id, str)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_are_refused(payload: bytes) -> None:
    _decoded_or_refused(payload)


_PLAIN = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() \
    | st.text(max_size=8) | st.binary(max_size=8)
_VALUES = st.recursive(_PLAIN, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=12), inner, max_size=4)
                       | st.dictionaries(st.sampled_from(["__datetime__", "__ObjectId__",
                                                          "as_str"]), inner, max_size=3),
                       max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_any_msgpack_value_decodes_or_is_refused(value: Any) -> None:
    _decoded_or_refused(msgpack.packb(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(_VALUES, min_size=3, max_size=3))
def test_any_three_item_array_decodes_or_is_refused(items: list[Any]) -> None:
    _decoded_or_refused(msgpack.packb(items))


# -- Refusals -----------------------------------------------------------------------------------
def test_refusals_are_counted_per_peer_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    refusals = Refusals("master")
    caplog.set_level(logging.WARNING, logger=wire_auth.__name__)
    for _ in range(LOGGED_REFUSALS + 2):
        refusals.add("w2", "bad signature")
    refusals.add("w1", "replayed frame")
    refusals.add("", "malformed frame")
    assert refusals.total == LOGGED_REFUSALS + 4
    assert refusals.counts[("w2", "bad signature")] == LOGGED_REFUSALS + 2
    assert refusals.notes() == [
        "master dropped 1 frame(s) from ?: malformed frame",
        "master dropped 1 frame(s) from w1: replayed frame",
        f"master dropped {LOGGED_REFUSALS + 2} frame(s) from w2: bad signature",
    ]
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count("master dropped a frame from w2: bad signature") == LOGGED_REFUSALS
    assert "master dropped a frame from ?: malformed frame" in logged


def test_no_refusals_no_notes() -> None:
    refusals = Refusals("worker")
    assert (refusals.total, refusals.notes()) == (0, [])


# -- over zmq -----------------------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[SignedServer]:
    """A Locust RPC server on a free loopback port, its frames signed with KEY."""
    signed = SignedServer(zmqrpc.Server("127.0.0.1", 0), KEY)
    try:
        yield signed
    finally:
        signed.close(linger=0)


@pytest.fixture
def worker_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """SignedClient signs with KEY and counts into a fresh Refusals (both put back after)."""
    monkeypatch.setattr(SignedClient, "key", KEY)
    monkeypatch.setattr(SignedClient, "refusals", Refusals("worker"))


@pytest.fixture
def context() -> Iterator[Any]:
    """A zmq context for raw sockets (each test closes its sockets with linger 0)."""
    ctx = zmq.Context()
    try:
        yield ctx
    finally:
        ctx.term()


def _reasons(refusals: Refusals, peer: str) -> Counter[str]:
    """How many frames from ``peer`` were dropped, by reason without its detail."""
    reasons: Counter[str] = Counter()
    for (who, reason), n in refusals.counts.items():
        if who == peer:
            reasons[reason.split(" (")[0]] += n
    return reasons


def _dealer(context: Any, port: int, identity: bytes) -> Any:
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port}")
    return sock


@pytest.mark.usefixtures("worker_key")
def test_a_signed_client_and_server_exchange_locust_messages(server: SignedServer) -> None:
    client: Any = SignedClient("127.0.0.1", server.port, "w1")
    try:
        client.send(Message("client_ready", "2.47.0", "w1"))
        peer, msg = _within(server.recv_from_client)
        assert (peer, msg.type, msg.data, msg.node_id) == ("w1", "client_ready", "2.47.0", "w1")
        server.send_to_client(Message("spawn", {"user_classes_count": {"U": 2}}, "w1"))
        reply = _within(client.recv)
        assert (reply.type, reply.data, reply.node_id) == (
            "spawn", {"user_classes_count": {"U": 2}}, "w1")
        client.send(Message("heartbeat", {"state": "running"}, "w1"))
        assert _within(server.recv_from_client)[1].data == {"state": "running"}
        assert server.refusals.total == 0 and SignedClient.refusals.total == 0
    finally:
        client.close(linger=0)


def test_a_client_with_another_token_is_not_heard(server: SignedServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SignedClient, "refusals", Refusals("worker"))
    monkeypatch.setattr(SignedClient, "key", link_key(OTHER_TOKEN))
    stranger: Any = SignedClient("127.0.0.1", server.port, "stranger")
    monkeypatch.setattr(SignedClient, "key", KEY)
    good: Any = SignedClient("127.0.0.1", server.port, "w1")
    try:
        stranger.send(Message("client_ready", "2.47.0", "stranger"))
        # Frames of two peers are fair-queued, not ordered: the good worker keeps talking
        # until the stranger's frame has been read (and dropped).
        with gevent.Timeout(RECV_TIMEOUT_SEC):
            while not server.refusals.total:
                good.send(Message("heartbeat", None, "w1"))
                assert server.recv_from_client()[0] == "w1"
        assert server.refusals.counts == {
            ("stranger", "bad signature (no token, or not this session's token)"): 1}
    finally:
        stranger.close(linger=0)
        good.close(linger=0)


def test_the_master_drops_bad_frames_and_keeps_listening(server: SignedServer,
                                                         context: Any) -> None:
    peer_signer = _worker()  # a worker with the token, speaking raw zmq
    sock = _dealer(context, server.port, b"w-raw")

    def heartbeat(n: int, node_id: str = "w-raw") -> bytes:
        return bytes(Message("heartbeat", {"n": n}, node_id).serialize())

    try:
        for frames in (
            [b"junk"],
            [b"a", b"b", b"c"],
            [b"1234567", bytes(32)],
            _worker(link_key(OTHER_TOKEN)).seal(b"w-raw", heartbeat(0)),
            _worker().seal(b"someone-else", heartbeat(0)),
            # Authentic, but not a message from this peer: they still count as seen.
            peer_signer.seal(b"w-raw", b"\xc1 not msgpack"),
            peer_signer.seal(b"w-raw", heartbeat(0, node_id="w1")),
        ):
            sock.send_multipart(frames)
        replayed = peer_signer.seal(b"w-raw", heartbeat(1))
        sock.send_multipart(replayed)
        sock.send_multipart(replayed)
        sock.send_multipart(peer_signer.seal(b"w-raw", heartbeat(2)))
        # One peer's frames arrive in order: the first good one, then (past the replay) the
        # second.
        peer, first = _within(server.recv_from_client)
        assert (peer, first.data) == ("w-raw", {"n": 1})
        peer, second = _within(server.recv_from_client)
        assert (peer, second.data) == ("w-raw", {"n": 2})
        reasons = _reasons(server.refusals, "w-raw")
        assert reasons == {"malformed frame": 3, "bad signature": 2,
                           "undecodable message": 1,
                           "node id 'w1' is not the sender's identity": 1,
                           "replayed frame": 1}
        assert server.refusals.total == 8
    finally:
        sock.close(linger=0)


def test_a_peer_whose_identity_is_not_utf8_is_dropped_by_name(server: SignedServer,
                                                               context: Any) -> None:
    sock = _dealer(context, server.port, b"\xfe\xffw")
    good = _dealer(context, server.port, b"w1")
    try:
        sock.send_multipart([b"junk", b"junk"])
        signer = _worker()
        with gevent.Timeout(RECV_TIMEOUT_SEC):
            while not server.refusals.total:
                good.send_multipart(signer.seal(b"w1", Message("heartbeat", None,
                                                               "w1").serialize()))
                assert server.recv_from_client()[0] == "w1"
        assert list(server.refusals.counts) == [
            ("\ufffd\ufffdw", "malformed frame (2 part(s), not [body, mac])")]
    finally:
        sock.close(linger=0)
        good.close(linger=0)


@pytest.mark.usefixtures("worker_key")
def test_a_worker_drops_forged_and_replayed_frames_from_its_master(context: Any) -> None:
    master_sock = context.socket(zmq.ROUTER)
    master_sock.setsockopt(zmq.LINGER, 0)
    port = master_sock.bind_to_random_port("tcp://127.0.0.1")
    client: Any = SignedClient("127.0.0.1", port, "w1")
    try:
        client.send(Message("client_ready", "2.47.0", "w1"))  # the router learns the route
        identity, *frames = _within(master_sock.recv_multipart)
        assert identity == b"w1"
        assert decode_message(_master().open(b"w1", frames)).type == "client_ready"
        signer = _master()
        ack = signer.seal(b"w1", Message("ack", {"index": 0}, "w1").serialize())
        for frames in (
            [b"junk"],
            _master(link_key(OTHER_TOKEN)).seal(b"w1", Message("quit", None, "w1").serialize()),
            _master().seal(b"w2", Message("quit", None, "w1").serialize()),
            _worker().seal(b"w1", Message("quit", None, "w1").serialize()),  # reflected
            ack,
            ack,
            signer.seal(b"w1", b"\x93\x01"),
            signer.seal(b"w1", Message("spawn", {"n": 5}, "w1").serialize()),
        ):
            master_sock.send_multipart([b"w1", *frames])
        assert _within(client.recv).type == "ack"
        spawn = _within(client.recv)
        assert (spawn.type, spawn.data) == ("spawn", {"n": 5})
        reasons = _reasons(SignedClient.refusals, "the master")
        assert reasons == {"malformed frame": 1, "bad signature": 3, "replayed frame": 1,
                           "undecodable message": 1}
    finally:
        client.close(linger=0)
        master_sock.close(linger=0)


def test_a_closed_server_ignores_locusts_late_goodbye(server: SignedServer,
                                                      context: Any) -> None:
    sock = _dealer(context, server.port, b"w1")
    try:
        sock.send_multipart(_worker().seal(b"w1", Message("client_ready", "x", "w1")
                                           .serialize()))
        assert _within(server.recv_from_client)[0] == "w1"
        server.close(linger=0)
        assert server.closed
        server.send_to_client(Message("quit", None, "w1"))  # no RPCSendError from a closed socket
    finally:
        sock.close(linger=0)
