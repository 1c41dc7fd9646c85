"""Marker and option plumbing: help output, bad arguments erroring at setup."""

from __future__ import annotations

import pytest

BAD = [
    ("unknown_arg", "perf(users=2, run_time='1s', p95=100)", "unknown argument p95=100"),
    ("wrong_type", "perf(users='many', run_time='1s')", "users='many' must be an integer >= 1"),
    ("negative_users", "perf(users=-3, run_time='1s')", "users=-3 must be an integer >= 1"),
    ("bad_run_time", "perf(users=2, run_time='soon')", "run_time='soon': cannot parse duration"),
    ("bad_rate", "perf(users=2, run_time='1s', max_error_rate=5)", "max_error_rate=5 must be a"),
    ("bad_threshold_type", "perf(users=2, run_time='1s', p95_ms='fast')", "p95_ms='fast' must be"),
    ("positional", "perf(10, '30s')", "positional arguments (10, '30s') are not accepted"),
    ("bad_endpoint_key", "perf(users=2, run_time='1s', endpoints={'/x': {'p95_ms': 1}})",
     "endpoints key '/x' must be 'METHOD name'"),
    ("bad_endpoint_threshold", "perf(users=2, run_time='1s', endpoints={'GET /': {'p95': 1}})",
     "endpoints['GET /']: unknown threshold p95=1"),
    ("ramp_too_long", "perf(users=100, spawn_rate=1, run_time='10s')",
     "is not longer than ramp-up (100 users at spawn_rate=1/s = 99s)"),
    ("race_bad_users", "race(users=0)", "@pytest.mark.race: users=0 must be an integer >= 1"),
    ("open_and_users", "perf(arrival_rate=5, users=2)", "users=2 is not used by the open model"),
    ("open_bad_stage", "perf(arrival_stages=[{'rate': 5}])",
     "arrival_stages[0]={'rate': 5} must be a dict with exactly the keys"),
    ("bad_max_stall", "perf(users=2, max_stall='long')", "max_stall='long'"),
]


def test_markers_listed(project: pytest.Pytester) -> None:
    result = project.runpytest("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.perf(users=10, spawn_rate=users, run_time='10s'*p95_ms*min_rps*endpoints*",
        "@pytest.mark.race(users=20*",
    ])


def test_options_in_help(project: pytest.Pytester) -> None:
    result = project.runpytest("--help")
    result.stdout.fnmatch_lines([
        "*load tests with Locust (pytest-loadgate)*",
        "*--loadgate-host=HOST*",
        "*--loadgate-report-dir=DIR*",
        "*loadgate_app (string)*",
    ])


def test_bad_marker_arguments_error_at_setup(project: pytest.Pytester, run) -> None:
    source = ["import pytest", ""]
    for name, marker, _ in BAD:
        source += [f"@pytest.mark.{marker}", f"def test_{name}(loadgate):",
                   "    raise AssertionError('must not run')", ""]
    project.makepyfile(test_bad="\n".join(source))
    result = run("-rE", "--strict-markers")
    result.assert_outcomes(errors=len(BAD))
    for name, _, message in BAD:
        result.stdout.fnmatch_lines([f"*ERROR at setup of test_{name}*"])
        assert message in result.stdout.str()
    result.stdout.no_fnmatch_line("*must not run*")
    result.stdout.no_fnmatch_line("*During handling of the above exception*")


def test_bad_cli_option_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--loadgate-host", "localhost:8000")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--loadgate-host: 'localhost:8000' is not a base URL*"])


def test_run_overrides_are_validated(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_override="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='1s')
        def test_override(loadgate):
            loadgate.run(users.Fast, run_time='forever')
    """)
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*loadgate.run() arguments: run_time='forever'*"])
