"""Truth under failure: hung servers, in-flight requests, stalls, the open model's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _report(project: pytest.Pytester, test: str) -> dict:
    (path,) = (project.path / "reports").glob(f"*_{test}.json")
    return json.loads(Path(path).read_text())


def test_a_hung_server_fails_and_ends_the_run_early(project: pytest.Pytester, run,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds a silent server would pass; the stall and the censored requests fail it."""
    monkeypatch.setenv("HANG_AFTER_S", "2")
    project.makepyfile(test_hang="""
        import pytest, users

        @pytest.mark.perf(users=5, run_time='60s', warmup=0, p95_ms=500, max_error_rate=0.01)
        def test_fast(loadgate):
            loadgate.run(users.Hanger)

        @pytest.mark.perf(users=3, run_time='60s', warmup=0, p95_ms=500, max_error_rate=0.01)
        def test_requests(loadgate):
            loadgate.run(users.RequestsHanger)
    """)
    result = run()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*server stalled: no response for 2.* s from 2.* s while 5 requests were outstanding*",
        "*5 request(s) had no response when the run ended: counted as failed*",
        "*server stalled: no response for * s from 0.0 s while 3 requests were outstanding*",
    ])
    # Never blamed on the generator (a machine busy with tests run side by side may be named).
    result.stdout.no_fnmatch_line("*UNRELIABLE: the load generator*")
    result.stdout.no_fnmatch_line("*UNRELIABLE: the users reached*")
    for test, users in (("test_fast", 5), ("test_requests", 3)):
        doc = _report(project, test)
        assert doc["total"]["censored"] == users
        assert doc["endpoints"]["GET /maybe-hang"]["censored"] == users
        assert doc["duration_s"] < 20, "the run must end at the stall, not after 60 s"
        (stall,) = doc["stalls"]
        assert stall["ongoing"] and stall["outstanding"] == users
        checks = {c["threshold"]: c for c in doc["checks"]}
        assert not checks["max_stall"]["passed"]
        assert [r for r in doc["unreliable_reasons"] if "machine was busy" not in r] == []


def test_hung_requests_from_greenlets_a_task_spawned_fail_the_run(
        project: pytest.Pytester, run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests a task sends from greenlets of its own (concurrent requests in a task) are
    in flight too: a server that stops answering them stalls and fails the run."""
    monkeypatch.setenv("HANG_AFTER_S", "1")
    project.makepyfile(test_spawned="""
        import gevent, pytest
        from locust import FastHttpUser, constant, task

        class FanOut(FastHttpUser):
            wait_time = constant(0.01)

            @task
            def fan_out(self):
                gevent.joinall([gevent.spawn(self.client.get, "/maybe-hang")
                                for _ in range(2)])

        @pytest.mark.perf(users=2, run_time='60s', warmup=0, max_error_rate=0.01)
        def test_spawned(loadgate):
            loadgate.run(FanOut)
    """)
    result = run()
    result.assert_outcomes(failed=1)
    # Up to 4 hung (2 users x 2 greenlets); a busy machine may catch the stall before the
    # last of them is sent.
    result.stdout.fnmatch_lines(["*server stalled: no response for 2.* s from 1.* s while"
                                 " * requests were outstanding*"])
    doc = _report(project, "test_spawned")
    (stall,) = doc["stalls"]
    assert 1 <= stall["outstanding"] <= doc["total"]["censored"] <= 4
    assert doc["duration_s"] < 20, "the run must end at the stall, not after 60 s"


def test_in_flight_requests_enter_percentiles_and_errors(project: pytest.Pytester, run,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """With stall detection off, requests left unanswered are still counted: as failures
    whose latency is at least the time they waited."""
    monkeypatch.setenv("HANG_AFTER_S", "1")
    project.makepyfile(test_censor="""
        import pytest, users

        @pytest.mark.perf(users=4, run_time='3s', warmup=0, max_stall=0, max_ms=60000)
        def test_censor(loadgate):
            result = loadgate.run(users.Hanger)
            stats = result.endpoint("GET /maybe-hang")
            assert stats.censored == 4 and stats.failures == 4
            assert stats.max_ms >= 1500  # hung from ~1 s to the end at 3 s
            assert result.status_counts() [0] == 4
            assert not result.stalls
    """)
    result = run()
    result.assert_outcomes(passed=1)
    (csv_path,) = (project.path / "reports").glob("*_test_censor.csv")
    assert "no response after" in csv_path.read_text()  # Locust's own failures table names them


def test_a_request_timeout_frees_users_of_a_hung_server(project: pytest.Pytester, run,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("HANG_AFTER_S", "0")
    project.makepyfile(test_timeout="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='4s', warmup=0, max_stall=0)
        def test_timeout(loadgate):
            result = loadgate.run(users.Hanger, request_timeout=0.5)
            # Each user times out every 0.5 s instead of waiting out Locust's 60 s.
            assert result.total.failures >= 8
            assert result.total.censored <= 2
    """)
    result = run()
    result.assert_outcomes(passed=1)


OPEN_USERS = '''
import gevent
from locust import FastHttpUser, LoadTestShape, task


class Thinker(FastHttpUser):
    @task
    def think_then_ask(self):
        gevent.sleep(0.2)  # before its first request: the user waits, the schedule does not
        self.client.get("/", name="first")
        self.client.get("/", name="second")


class Slow(FastHttpUser):
    @task
    def slow(self):
        self.client.get("/slow")


class Stalling(FastHttpUser):
    @task
    def stall(self):
        self.client.get("/stall")


class Fixed(FastHttpUser):
    fixed_count = 1

    @task
    def root(self):
        self.client.get("/")


class Shape(LoadTestShape):
    def tick(self):
        return None
'''


def test_open_model_keeps_its_rate_and_weights(project: pytest.Pytester, run) -> None:
    project.makepyfile(open_users=OPEN_USERS, test_open="""
        import pytest, open_users, users

        @pytest.mark.perf(arrival_rate=80, run_time='4s', warmup=1, p99_ms=500,
                          max_error_rate=0)
        def test_rate(loadgate):
            result = loadgate.run(users.Often, users.Rarely)
            o = result.open
            assert o["scheduled"] == 240 and o["started"] == o["scheduled"]
            assert o["dropped"] == 0 and o["send_rate"] == 1.0
            often = result.endpoint("GET often").requests
            rarely = result.endpoint("GET rarely").requests
            # By completion time: an iteration at a window edge may land on either side.
            assert abs(often + rarely - 240) <= 2 and abs(often - 3 * rarely) <= 4

        @pytest.mark.perf(arrival_rate=20, run_time='3s', warmup=0)
        def test_corrected(loadgate):
            result = loadgate.run(open_users.Thinker)
            first, second = result.endpoint("GET first"), result.endpoint("GET second")
            # Measured from the scheduled start: the 0.2 s before the request counts ...
            assert first.p50_ms >= 200 and first.service_p50_ms < 100
            # ... for the iteration's first request only.
            assert second.p50_ms == second.service_p50_ms < 100

        @pytest.mark.perf(arrival_rate=50, arrivals='poisson', max_users=20,
                          max_dropped_rate=0.5, run_time='3s', warmup=0)
        def test_poisson(loadgate):
            result = loadgate.run(users.Often)
            o = result.open
            assert result.spec.open.arrivals == "poisson" and o["max_users"] == 20
            assert 100 <= o["scheduled"] <= 200 and o["started"] == o["scheduled"]

        @pytest.mark.perf(users=2, run_time='2s')
        def test_override_to_open(loadgate):
            result = loadgate.run(users.Often, arrival_stages=[
                {"rate": 30, "duration": 0}, {"rate": 30, "duration": "3s"}])
            assert result.open["scheduled"] > 0 and result.spec.open is not None
            assert result.spec.run_time_s == 3
    """)
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_open_model_fails_stalls_and_drops(project: pytest.Pytester, run,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A stall of 0.6 s in every 2 s: the open model keeps arriving and fails p99 (how blind
    the closed model is depends on its users and waits; bench/fault_matrix.py compares them).
    A pool too small for the server's pace drops iterations."""
    monkeypatch.setenv("STALL_MS", "600")
    monkeypatch.setenv("STALL_EVERY_S", "2")
    monkeypatch.setenv("SLOW_MS", "100")
    project.makepyfile(open_users=OPEN_USERS, test_stall="""
        import pytest, open_users, users

        @pytest.mark.perf(arrival_rate=40, run_time='6s', warmup=0, p99_ms=300)
        def test_open_sees_it(loadgate):
            loadgate.run(open_users.Stalling)

        @pytest.mark.perf(arrival_rate=50, max_users=2, run_time='3s', warmup=0)
        def test_dropped(loadgate):
            loadgate.run(open_users.Slow)
    """)
    result = run("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*test_open_sees_it*",
        "*total*p99_ms*<= 300.0 ms*FAIL*",
    ])
    result.stdout.fnmatch_lines([
        "*total*max_dropped_rate*<= 0.00%*FAIL*",
        "*dropped iterations: * of * scheduled iterations dropped: all 2 users of the pool"
        " (max_users) were still busy*cause: the server did not keep up*",
    ])
    doc = _report(project, "test_dropped")
    assert doc["open"]["dropped"] > 0 and doc["open"]["peak_busy"] == 2
    assert doc["open"]["send_rate"] < 1


def test_open_model_refuses_shapes_and_fixed_counts(project: pytest.Pytester, run) -> None:
    project.makepyfile(open_users=OPEN_USERS, test_refuse="""
        import pytest, open_users, users

        @pytest.mark.perf(arrival_rate=10, run_time='2s')
        def test_shape(loadgate):
            loadgate.run(users.Often, shape=open_users.Shape())

        @pytest.mark.perf(arrival_rate=10, run_time='2s')
        def test_fixed(loadgate):
            loadgate.run(open_users.Fixed)

        @pytest.mark.perf(arrival_rate=10, users=3, run_time='2s')
        def test_both(loadgate):
            pass
    """)
    result = run("-rE")
    result.assert_outcomes(failed=2, errors=1)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.perf: users=3 is not used by the open model*max_users*",
        "*shape=Shape() cannot drive the open model*use arrival_stages*",
        "*Fixed.fixed_count=1 cannot be used with the open model*",
    ])


def test_session_options_set_stall_and_timeout_defaults(project: pytest.Pytester, run
                                                        ) -> None:
    project.makepyfile(test_defaults="""
        import pytest, users

        @pytest.mark.perf(users=1, run_time='1s')
        def test_defaults(loadgate):
            assert loadgate.spec.max_stall_s == 5 and loadgate.spec.request_timeout_s == 3

        @pytest.mark.race(users=1, max_stall=0)
        def test_marker_wins(loadgate):
            assert loadgate.spec.max_stall_s == 0 and loadgate.spec.request_timeout_s == 3
    """)
    result = run("--loadgate-max-stall=5s", "--loadgate-request-timeout=3")
    result.assert_outcomes(passed=2)
    bad = run("--loadgate-max-stall=-1")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--loadgate-max-stall: max_stall='-1'*must be >= 0*"])
