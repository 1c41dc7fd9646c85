"""Distributed runs: a Locust master in pytest, workers as processes, same results shape."""

from __future__ import annotations

import pytest


def test_local_workers_perf_and_race(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_dist="""
        import json, urllib.request
        import pytest, users

        @pytest.mark.perf(users=4, run_time='3s', max_error_rate=0, p95_ms=1000,
                          endpoints={'GET /': {'p99_ms': 1000}})
        def test_perf(loadgate):
            result = loadgate.run(users.Fast)
            assert result.worker_count == 2
            assert result.endpoint("GET /").requests > 50
            assert result.status_counts() == {200: result.total.requests}

        @pytest.mark.race(users=20, max_error_rate=0)
        def test_race(loadgate, loadgate_server):
            result = loadgate.run(users.Buyer)
            assert result.status_counts("POST /buy") == {201: 5, 409: 15}
            with urllib.request.urlopen(loadgate_server.url + "/state") as resp:
                log = json.load(resp)["log"]
            # The barrier holds across workers: all registered before anyone bought.
            assert log.index("buy") == 20
    """)
    result = run("--loadgate-workers=2")
    result.assert_outcomes(passed=2)


def test_dying_worker_gives_a_clear_verdict(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_kill="""
        import os
        import pytest
        from locust import FastHttpUser, constant, task

        class Killer(FastHttpUser):
            wait_time = constant(0.05)

            @task
            def kill(self):
                self.client.get("/")
                if os.environ.get("LOCUST_SKIP_MONKEY_PATCH") is None:  # only in workers
                    os._exit(7)

        @pytest.mark.perf(users=2, run_time='60s')
        def test_kill(loadgate):
            loadgate.run(Killer)
    """)
    result = run("--loadgate-workers=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*load worker 0 exited with code 7*"])
    assert result.duration < 45


def test_missing_remote_workers_time_out_with_instructions(project: pytest.Pytester,
                                                            run) -> None:
    project.makepyfile(test_remote="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='2s')
        def test_remote(loadgate):
            loadgate.run(users.Fast)
    """)
    result = run("--loadgate-remote-workers=1", "--loadgate-worker-timeout=2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*only 0 of 1 load workers connected to the master at 127.0.0.1:* within 2s;"
        " start them with: loadgate worker --master-host 127.0.0.1 --master-port *"])


def test_bad_worker_option_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--loadgate-workers=two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--loadgate-workers: 'two' must be a whole number >= 0*"])


def test_open_model_and_hangs_across_workers(project: pytest.Pytester, run,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The schedule is split over the workers (the whole of it runs, weights kept); a hung
    server is seen through the workers' reports of what they still wait for."""
    monkeypatch.setenv("HANG_AFTER_S", "4")
    project.makepyfile(test_open_dist="""
        import pytest
        from users import Hanger, Often, Rarely

        @pytest.mark.perf(arrival_rate=60, run_time='3s', warmup=0, max_error_rate=0)
        def test_open(loadgate):
            result = loadgate.run(Often, Rarely)
            o = result.open
            assert result.worker_count == 2
            assert o["scheduled"] == 180 and o["started"] == 180 and o["dropped"] == 0
            often = result.endpoint("GET often").requests
            rarely = result.endpoint("GET rarely").requests
            # Counted by completion: an iteration at the run's end may fall outside it.
            assert abs(often + rarely - 180) <= 3 and abs(often - 3 * rarely) <= 8

        @pytest.mark.perf(users=4, run_time='60s', warmup=0)
        def test_hang(loadgate):
            loadgate.run(Hanger)
    """)
    result = run("--loadgate-workers=2", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*server stalled: no response for * s from * s while 4 requests were outstanding*",
        "*4 request(s) had no response when the run ended*"])
    assert result.duration < 60
