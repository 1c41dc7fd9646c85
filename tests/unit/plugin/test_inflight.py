"""The in-flight tracker: requests found on the stacks of the greenlets that sent them (users'
and others'), drained and censored at the end; the timeout wrapper passes every call on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import gevent.pool
import pytest
from gevent.pywsgi import WSGIServer
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook

from pytest_loadgate.run.inflight import RESCAN_SEC, InFlight
from pytest_loadgate.run.recorder import CENSORED_GREENLET

FAST_REQUEST = FastHttpSession.__dict__["request"]
#: Slack between the wall clock and the monotonic one when a send time is converted.
CLOCKS_APART_S = 0.001


class HangingServer:
    """Answers ``/fast`` at once and holds every other path until :meth:`release`."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.gate = gevent.event.Event()
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None, error_log=None)

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path != "/fast":
            self.arrived.append(path)
            self.gate.wait(30)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    def release(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def server() -> Iterator[HangingServer]:
    hanging = HangingServer()
    hanging.server.start()
    try:
        yield hanging
    finally:
        hanging.release()
        hanging.server.stop(timeout=1)


def wait_until(condition: Any, what: str) -> None:
    with gevent.Timeout(10, AssertionError(f"timed out waiting for {what}")):
        while not condition():
            gevent.sleep(0.01)


@pytest.mark.parametrize("client", [FastHttpSession, HttpSession])
def test_a_users_request_is_found_on_its_stack_and_censored_at_the_end(
        server: HangingServer, client: type) -> None:
    events = EventHook()
    fired: list[dict[str, Any]] = []
    events.add_listener(lambda **kw: fired.append(kw))
    users = gevent.pool.Group()
    inflight = InFlight(time.monotonic, None)
    inflight.watch(users.greenlets)
    with inflight.tracking():
        session = client(server.url, events, None)
        before = time.monotonic()
        user = users.spawn(session.get, "/hang?x=1", name="held")
        other = client(server.url, events, None)  # a session sends one request at a time
        users.spawn(other.get, "/fast")  # answered: never outstanding for long
        wait_until(lambda: server.arrived == ["/hang"], "the request to reach the server")
        wait_until(lambda: [f["name"] for f in fired] == ["/fast"], "the answer to /fast")
        assert FastHttpSession.__dict__["request"] is FAST_REQUEST  # no work per request
        count, oldest = inflight.pending()
        assert count == 1
        # Dated from Locust's wall-clock send time: two clocks read microseconds apart.
        assert oldest is not None and before - CLOCKS_APART_S <= oldest <= time.monotonic()
        assert inflight.end() == {user}
        inflight.drain(0.2)  # the server does not answer: nothing drains
        assert inflight.censor(events.fire) == 1
        censored = fired[-1]
        assert censored["name"] == "held" and censored["request_type"] == "GET"
        assert censored["context"] == {CENSORED_GREENLET: user}
        assert censored["response_time"] >= 200
        assert inflight.pending() == (0, None)  # censored: no longer outstanding
        server.release()
        users.join(5)
    assert inflight.pending() == (0, None)


def test_a_request_under_someone_elses_wrapper_is_dated_when_first_found(
        server: HangingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrapper put around ``request`` before the run holds no send time: its request is
    dated when first found, not anew at each look (a stall would never last max_stall)."""
    locust_request = FastHttpSession.request

    def foreign(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        return locust_request(self, method, url, **kwargs)

    monkeypatch.setattr(FastHttpSession, "request", foreign)
    now = [100.0]
    users = gevent.pool.Group()
    inflight = InFlight(lambda: now[0], None)
    with inflight.tracking():
        session = FastHttpSession(server.url, EventHook(), None)
        users.spawn(session.get, "/hang")
        wait_until(lambda: server.arrived == ["/hang"], "the request to reach the server")
        assert inflight.pending() == (1, 100.0)
        now[0] = 105.0
        assert inflight.pending() == (1, 100.0)
        server.release()
        users.join(5)
        assert inflight.pending() == (0, None)
        assert inflight._first_seen == {}  # forgotten once answered


@pytest.mark.parametrize("client", [FastHttpSession, HttpSession])
def test_a_request_from_a_greenlet_a_task_spawned_is_found(server: HangingServer,
                                                           client: type) -> None:
    events = EventHook()
    fired: list[dict[str, Any]] = []
    events.add_listener(lambda **kw: fired.append(kw))
    inflight = InFlight(time.monotonic, None)
    with inflight.tracking():
        session = client(server.url, events, None)
        helper = gevent.spawn(session.get, "/side")  # no user: a plain gevent greenlet
        wait_until(lambda: server.arrived == ["/side"], "the request to reach the server")
        assert inflight.pending()[0] == 1
        assert inflight.end() == {helper}
        assert inflight.censor(events.fire) == 1
        assert fired[-1]["name"] == "/side"
        server.release()
        helper.join(5)


def test_a_request_answered_while_draining_is_not_censored(server: HangingServer) -> None:
    events = EventHook()
    users = gevent.pool.Group()
    inflight = InFlight(time.monotonic, None)
    with inflight.tracking():
        session = FastHttpSession(server.url, events, None)
        users.spawn(session.get, "/slow")
        wait_until(lambda: server.arrived == ["/slow"], "the request to reach the server")
        inflight.end()
        gevent.spawn_later(0.05, server.release)
        inflight.drain(5)
        assert inflight.censor(events.fire) == 0
        users.join(5)


def test_other_greenlets_are_listed_anew_at_most_every_rescan_period(
        server: HangingServer) -> None:
    """Listing every greenlet costs a pass over all objects: a stall check (10 a second) reuses
    the list for RESCAN_SEC; the users' own greenlets are read at every look."""
    now = [0.0]
    users = gevent.pool.Group()
    inflight = InFlight(lambda: now[0], None)
    inflight.watch(users.greenlets)
    with inflight.tracking():
        assert inflight.pending() == (0, None)  # listed at 0
        spawned = gevent.spawn(FastHttpSession(server.url, EventHook(), None).get, "/side")
        users.spawn(FastHttpSession(server.url, EventHook(), None).get, "/user")
        wait_until(lambda: sorted(server.arrived) == ["/side", "/user"], "both requests")
        now[0] = RESCAN_SEC / 2
        assert inflight.pending()[0] == 1  # the user's, not yet the spawned one
        now[0] = RESCAN_SEC
        assert inflight.pending()[0] == 2
        assert spawned in inflight.end()
        server.release()
        users.join(5)
        spawned.join(5)


def test_a_request_sent_before_the_run_is_not_the_runs(server: HangingServer) -> None:
    """A greenlet an earlier run left behind, still waiting on its request, is not counted."""
    session = FastHttpSession(server.url, EventHook(), None)
    leftover = gevent.spawn(session.get, "/before")
    wait_until(lambda: server.arrived == ["/before"], "the earlier request to reach the server")
    inflight = InFlight(time.monotonic, None)
    with inflight.tracking():
        assert inflight.pending() == (0, None)
        now = FastHttpSession(server.url, EventHook(), None)
        current = gevent.spawn(now.get, "/during")
        wait_until(lambda: server.arrived == ["/before", "/during"], "the run's request")
        assert len(inflight.outstanding(rescan=True)) == 1
        assert inflight.end() == {current}
        server.release()
        gevent.joinall([leftover, current], timeout=5)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((), {}),  # Locust's own ``client.get(path)``
    ((), {"name": "/items/[id]", "headers": {"a": "b"}}),
    (("body",), {}),
    (("body",), {"catch_response": True}),
])
def test_every_call_reaches_the_client_as_it_was_made(args: tuple[Any, ...],
                                                      kwargs: dict[str, Any]) -> None:
    calls = []

    def original(session: Any, method: str, url: str, *a: Any, **kw: Any) -> str:
        calls.append((session, method, url, a, kw))
        return "answer"

    request = InFlight(lambda: 0.0, None)._with_timeout(original)
    assert gevent.spawn(request, "session", "GET", "/x", *args, **kwargs).get() == "answer"
    assert calls == [("session", "GET", "/x", args, kwargs)]


def test_the_run_timeout_is_given_to_clients_that_take_one() -> None:
    seen = []
    request = InFlight(lambda: 0.0, 2.5)._with_timeout(lambda s, m, u, **kw: seen.append(kw))
    request(None, "GET", "/x")
    request(None, "GET", "/x", timeout=9)
    assert seen == [{"timeout": 2.5}, {"timeout": 9}]
