"""Run semantics: race barrier, invariants, server faults, xdist, early abort, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest


def test_race_releases_everyone_together_and_counts_statuses(project: pytest.Pytester,
                                                             run) -> None:
    project.makepyfile(test_race="""
        import json, urllib.request
        import pytest, users

        def state():
            with urllib.request.urlopen(URL[0] + "/state") as resp:
                return json.load(resp)

        URL = []

        @pytest.mark.race(users=20, max_error_rate=0)
        def test_last_items(loadgate, loadgate_server):
            URL.append(loadgate_server.url)
            loadgate.invariant("stock never negative", lambda: state()["stock"] >= 0)
            result = loadgate.run(users.Buyer)
            assert result.status_counts("POST /buy") == {201: 5, 409: 15}
            log = state()["log"]
            # The barrier: every user registered (on_start) before any user bought.
            assert log.index("buy") == 20 and log.count("register") == 20
            assert state()["stock"] == 0
    """)
    result = run("-v")
    result.assert_outcomes(passed=1)


def test_invariant_violation_names_it_and_what_it_saw(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_inv="""
        import pytest, users

        SEEN = [0]

        def bounded():
            SEEN[0] += 1
            assert SEEN[0] < 2, f"counter reached {SEEN[0]}"

        @pytest.mark.perf(users=2, run_time='2s')
        def test_invariant(loadgate):
            loadgate.invariant("counter stays below 2", bounded, interval=0.2)
            loadgate.run(users.Fast)
    """)
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*invariant 'counter stays below 2' violated during the run at*counter reached 2*"])


def test_server_death_fails_fast_with_log_tail(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_die="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='60s')
        def test_dies(loadgate):
            loadgate.run(users.Dier)
    """)
    started = time.monotonic()
    result = run("--durations=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*server process exited with code 3*last lines of*server-*.log*"])
    # The 60 s run was cut short: the whole pytest process finished well before it.
    assert time.monotonic() - started < 45


def test_server_never_ready_errors_with_log_tail(project: pytest.Pytester, run) -> None:
    project.makeini("""
        [pytest]
        loadgate_app = target_app:does_not_exist
        loadgate_progress = off
    """)
    project.makepyfile(test_never="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='1s')
        def test_never(loadgate):
            loadgate.run(users.Fast)
    """)
    result = run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*server did not start: server process exited with code*",
                                 "*does_not_exist*"])


def test_connection_refused_counts_as_failures(project: pytest.Pytester, run) -> None:
    from pytest_loadgate.target.server import free_port

    project.makepyfile(test_refused="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='1.5s', max_error_rate=0.01)
        def test_refused(loadgate):
            loadgate.run(users.Fast)
    """)
    result = run(f"--loadgate-host=http://127.0.0.1:{free_port()}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*total  max_error_rate  <= 1.00%*100.00%*FAIL*"])


def test_requests_imported_first_httpuser_and_xdist(project: pytest.Pytester, run) -> None:
    project.makeconftest("import requests  # before anything else, as many conftests do\n")
    project.makepyfile(test_mix="""
        import pytest, users

        @pytest.mark.perf(users=3, run_time='1.5s', max_error_rate=0)
        def test_requests_user(loadgate):
            assert loadgate.run(users.Requests).total.requests > 0

        @pytest.mark.perf(users=3, run_time='1.5s', max_error_rate=0)
        def test_fast_user(loadgate):
            assert loadgate.run(users.Fast).total.requests > 0

        @pytest.mark.parametrize("n", range(6))
        def test_unit(n):
            assert n >= 0
    """)
    for args in ((), ("-n", "2")):
        result = run(*args)
        result.assert_outcomes(passed=8)
        result.stdout.fnmatch_lines(["*loadgate: 2 load run(s)*"])
    # The xdist workers' run lock lives in the session's pytest temp dir (removed in time by
    # pytest), not as one more file in /tmp per session.
    assert list(project.path.glob("**/loadgate-run.lock"))
    reports = json.loads(sorted((project.path / "reports").glob("*_test_fast_user.json"))[-1]
                         .read_text())
    assert reports["verdict"] == "passed"


def test_abort_on_fail_stops_early(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_abort="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='60s', p95_ms=1, abort_on_fail=True, abort_grace=1)
        def test_abort(loadgate):
            loadgate.run(users.Slow)
    """)
    started = time.monotonic()
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*aborted at *s: breached for *s (abort_grace=1s)*p95_ms*"])
    assert time.monotonic() - started < 45


def test_warmup_is_left_out_of_the_window(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_warm="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='2.5s', warmup='1s')
        def test_warm(loadgate):
            result = loadgate.run(users.Fast)
            start, end = result.window_s
            assert start >= 1.0 and end > start
    """)
    run().assert_outcomes(passed=1)


def start_long_run(project: pytest.Pytester, *,
                   until_requests: bool) -> subprocess.Popen[str]:
    """Start pytest on a 120 s load test; return once its progress line shows the run under
    way (with ``until_requests``, once requests are flowing)."""
    project.makepyfile(test_long="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='120s')
        def test_long(loadgate):
            loadgate.run(users.Fast)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--loadgate-progress=on"],
        cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "loadgate [perf]" in line and not (until_requests and "requests=0 " in line):
            break
    return proc


def test_ctrl_c_stops_the_run_and_writes_the_report(project: pytest.Pytester) -> None:
    proc = start_long_run(project, until_requests=True)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "load run interrupted; partial report:" in output
    doc = json.loads(next((project.path / "reports").glob("*_test_long.json")).read_text())
    assert doc["verdict"] == "interrupted"
    assert doc["total"]["requests"] > 0


def test_runs_do_not_leak_and_user_classes_stay_as_found(project: pytest.Pytester,
                                                          run) -> None:
    project.makepyfile(test_twice="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='1s')
        def test_twice(loadgate):
            tasks_before = list(users.Fast.tasks)
            first = loadgate.run(users.Fast)
            second = loadgate.run(users.Mixed, run_time='1s', max_error_rate=0.9)
            # A fresh Events() per run: the second run counts only its own requests.
            assert "GET /error" not in first.endpoints
            assert second.endpoint("GET /error").requests > 0
            assert users.Fast.host is None and users.Mixed.host is None
            assert users.Fast.tasks == tasks_before
            assert first.report_path != second.report_path
    """)
    run().assert_outcomes(passed=1)


SATURATING = """
    import time
    import pytest
    from locust import FastHttpUser, constant, task

    class Burner(FastHttpUser):
        wait_time = constant(0)

        @task
        def burn(self):
            end = time.process_time() + 0.05
            while time.process_time() < end:  # the generator, not the server, is busy
                pass
            self.client.get("/")

    # Ten burners: one is always ready to burn, so the event loop wakes up late even when
    # other jobs take part of the core and the server answers slowly (CI ran 4 users at 89%
    # CPU and 1 ms median lag once).
    @pytest.mark.perf(users=10, run_time='3s', warmup=1, {kwargs})
    def test_saturated(loadgate):
        loadgate.run(Burner)
"""


def test_saturated_generator_is_reported_as_unreliable(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_sat=SATURATING.format(kwargs="min_rps=100000"))
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UNRELIABLE MEASUREMENT: the load generator averaged*"])
    result = run("--loadgate-unreliable=skip", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*UNRELIABLE MEASUREMENT*"])


def test_saturated_but_passing_run_passes_with_a_warning(project: pytest.Pytester,
                                                         run) -> None:
    project.makepyfile(test_sat=SATURATING.format(kwargs="min_rps=1"))
    result = run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LoadgateWarning*passed although UNRELIABLE MEASUREMENT*"])


LAGGING = """
    import gevent
    import pytest
    from locust import FastHttpUser, constant, task

    class Dawdler(FastHttpUser):
        wait_time = constant(0.01)

        @task
        def dawdle(self):
            self.client.get("/")
            gevent.sleep(0.1)  # a pause outside wait_time: the asked-for pace is not kept

    @pytest.mark.perf(users=4, run_time='3s', warmup=1, min_rps=100000, {kwargs})
    def test_lagging(loadgate):
        loadgate.run(Dawdler)
"""


def test_users_short_of_their_implied_rate_are_reported_as_unreliable(
        project: pytest.Pytester, run) -> None:
    project.makepyfile(test_lag=LAGGING.format(kwargs=""))
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UNRELIABLE: the users reached * rps, *% of the"
                                 " * rps their waits and response times imply*"])
    doc = json.loads(next((project.path / "reports").glob("*test_lagging.json")).read_text())
    assert doc["unreliable"] is True
    assert doc["pace"]["ratio"] < 0.5
    assert doc["pace"]["implied_rps"] > 2 * doc["pace"]["achieved_rps"]


def test_min_pace_zero_turns_the_pace_check_off(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_lag=LAGGING.format(kwargs="min_pace=0"))
    result = run()
    result.assert_outcomes(failed=1)
    # No pace sentence (a busy machine, tests run side by side, may add its own).
    assert "their waits and response times imply" not in result.stdout.str()


def test_a_run_that_keeps_its_pace_is_not_flagged_short_of_it(project: pytest.Pytester,
                                                              run) -> None:
    project.makepyfile(test_pace="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='3s', warmup=1)
        def test_pace(loadgate):
            result = loadgate.run(users.Fast)
            # Pace only: CPU pressure from tests run side by side may mark the run unreliable.
            assert result.pace["ratio"] > 0.5 and not result.pace_short
            # Waits dominate: 2 users with 10 ms waits and sub-ms answers.
            assert result.pace["wait_s"] > result.pace["request_s"]
    """)
    run().assert_outcomes(passed=1)


def test_a_killed_pytest_leaves_no_server_behind(project: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    pidfile = project.path / "server.pid"
    monkeypatch.setenv("TARGET_APP_PIDFILE", str(pidfile))
    proc = start_long_run(project, until_requests=False)
    server = psutil.Process(int(pidfile.read_text()))
    proc.kill()  # SIGKILL: no teardown runs in pytest
    proc.wait(30)
    server.wait(10)  # raises psutil.TimeoutExpired if the server outlived pytest
    assert not psutil.pid_exists(server.pid) or server.status() == psutil.STATUS_ZOMBIE


def test_progress_never_resummarises_the_whole_run(project: pytest.Pytester, run) -> None:
    """Watching a run costs the same in its last second as in its first: while it runs, only
    the recent window is summarised (whole-run counts are running totals)."""
    project.makepyfile(test_flat="""
        from bisect import bisect_left, bisect_right
        import pytest, users
        import pytest_loadgate.run.runner as runner_mod

        @pytest.mark.perf(users=4, run_time='6s', warmup=0)
        def test_flat(loadgate, monkeypatch):
            calls = []
            real = runner_mod.summarize

            def counting(name, parts, start_s, end_s, duration_s, buckets=()):
                if name == "Aggregated":
                    n = sum(bisect_right(p.offsets_s, end_s) - bisect_left(p.offsets_s, start_s)
                            for p in parts)
                    calls.append((start_s, end_s, n))
                return real(name, parts, start_s, end_s, duration_s, buckets)

            monkeypatch.setattr(runner_mod, "summarize", counting)
            result = loadgate.run(users.Fast)
            end = result.duration_s
            # The result's own window comes first after the run; everything before is watching.
            first_final = next(i for i, c in enumerate(calls) if c[1] >= end - 0.001)
            watching = calls[:first_final]
            assert len(watching) >= 5
            assert max(c[1] - c[0] for c in watching) <= 2.0 + 1e-9
            assert result.total.requests > 2 * max(c[2] for c in watching)
    """)
    result = run()  # progress off (the ini): a snapshot for the history every second
    result.assert_outcomes(passed=1)


def test_the_heap_of_the_session_is_frozen_for_the_run_only(project: pytest.Pytester,
                                                            run) -> None:
    """Objects that exist before the run (a fixture's data) are out of the collector's reach
    while the run goes on (its full collections walk only what the run made), and back after."""
    project.makepyfile(test_heap="""
        import gc
        import pytest, users

        DATA = {"made before the run": [1, 2, 3]}
        SEEN = []

        def walked():
            return any(obj is DATA for obj in gc.get_objects())

        def look():
            SEEN.append((gc.get_freeze_count() > 0, walked()))

        @pytest.mark.perf(users=2, run_time='2s')
        def test_frozen(loadgate):
            assert gc.get_freeze_count() == 0 and walked()
            loadgate.invariant("looks at the heap", look, interval=0.5)
            loadgate.run(users.Fast)
            assert SEEN and all(frozen and not seen for frozen, seen in SEEN), SEEN
            assert gc.get_freeze_count() == 0 and walked()
    """)
    result = run()
    result.assert_outcomes(passed=1)
