"""A global pytest-timeout meant for unit tests does not kill a load test's longer run."""

from __future__ import annotations

import pytest


def test_load_tests_get_their_run_time_and_explicit_timeouts_still_win(
        project: pytest.Pytester, run) -> None:
    project.makeini("""
        [pytest]
        loadgate_app = target_app:app
        loadgate_health_path = /health
        loadgate_progress = off
        timeout = 2
    """)
    project.makepyfile(test_long="""
        import time
        import pytest, users

        @pytest.mark.perf(users=2, run_time='3s', warmup=0)
        def test_longer_than_the_global_timeout(loadgate):
            loadgate.run(users.Fast)

        @pytest.mark.timeout(1)
        @pytest.mark.perf(users=2, run_time='3s', warmup=0)
        def test_explicit_timeout(loadgate):
            loadgate.run(users.Fast)

        def test_plain_tests_keep_the_global_timeout():
            time.sleep(3)
    """)
    result = run("-v")
    result.stdout.fnmatch_lines([
        "*test_longer_than_the_global_timeout PASSED*",
        "*test_explicit_timeout FAILED*",
        "*test_plain_tests_keep_the_global_timeout FAILED*",
    ])
    result.stdout.fnmatch_lines(["*Timeout (>1.0s)*", "*Timeout (>2.0s)*"])
