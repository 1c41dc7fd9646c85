"""Baseline workflow and confirm-before-failing, end to end with tiny real runs."""

from __future__ import annotations

import json

import pytest

BASELINE_TEST = """
    import pytest, users

    @pytest.mark.perf(run_time='1.5s', warmup=0.3, max_regression={'p95': 1.0}, EXTRA)
    def test_slow(loadgate):
        loadgate.run(users.Slow)
"""


#: Tiny runs: compare scopes from 5 requests on (the default 200 suits real runs).
TINY_RUNS_INI = """
    [pytest]
    loadgate_app = target_app:app
    loadgate_progress = off
    loadgate_baseline_min_requests = 5
"""


def test_baseline_add_compare_and_accept(project: pytest.Pytester, run,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    project.makeini(TINY_RUNS_INI)
    project.makepyfile(test_base=BASELINE_TEST.replace("EXTRA", "users=2"))
    monkeypatch.setenv("SLOW_MS", "100")
    first = run("--loadgate-baseline=add")  # nothing to compare with yet: says so, then stores
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        ["*no baseline for test_base.py::test_slow*--loadgate-baseline=add*"])
    run("--loadgate-baseline=add").assert_outcomes(passed=1)
    stored = json.loads(next((project.path / ".loadgate" / "baselines").glob("*.json"))
                        .read_text())
    assert len(stored["runs"]) == 2
    run().assert_outcomes(passed=1)  # same speed: within 2x of the median

    monkeypatch.setenv("SLOW_MS", "400")  # the endpoint got 4x slower
    slower = run("--loadgate-baseline=add")
    slower.assert_outcomes(failed=1)
    slower.stdout.fnmatch_lines(["*GET /slow  p95 vs baseline  <=*FAIL*",
                                 "*not added to the baseline: the run did not pass*"])
    assert len(json.loads(next((project.path / ".loadgate" / "baselines").glob("*.json"))
                          .read_text())["runs"]) == 2

    accepted = run("--loadgate-baseline=accept")  # explicit: the new speed becomes the baseline
    accepted.assert_outcomes(passed=1)
    stored = json.loads(next((project.path / ".loadgate" / "baselines").glob("*.json"))
                        .read_text())
    assert len(stored["runs"]) == 1 and stored["runs"][0]["figures"]["GET /slow"]["p95"] >= 400


def test_fingerprint_change_warns_and_is_not_added(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_base=BASELINE_TEST.replace("EXTRA", "users=2"))
    run("--loadgate-baseline=add").assert_outcomes(passed=1)
    project.makepyfile(test_base=BASELINE_TEST.replace("EXTRA", "users=3"))
    result = run("--loadgate-baseline=add")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*recorded under a different setup (users: '2' → '3'; spawn_rate: '2' → '3')*",
        "*not added to the baseline: recorded under a different setup*"])


def test_confirm_reruns_and_fails_only_when_the_breach_repeats(project: pytest.Pytester,
                                                              run) -> None:
    project.makepyfile(test_confirm="""
        import pytest, users

        CALLS = [0]

        def flaky_once():
            CALLS[0] += 1
            assert CALLS[0] > 1, "first attempt breaks"

        @pytest.mark.perf(users=2, run_time='1s', confirm=2)
        def test_fluke(loadgate):
            loadgate.invariant("fluke", flaky_once, interval=60)
            loadgate.run(users.Fast)

        @pytest.mark.perf(users=2, run_time='1s', confirm=2, p95_ms=0.001)
        def test_real(loadgate):
            loadgate.run(users.Fast)
    """)
    result = run("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*2 attempts (breach, pass)*",
                                 "*3 attempts (breach, breach, breach)*"])
    reports = project.path / "reports"
    assert len(list(reports.glob("*_test_real*.json"))) == 3
    doc = json.loads(next(reports.glob("*_test_real-attempt3.json")).read_text())
    assert [a["passed"] for a in doc["attempts"]] == [False, False, False]


#: Attempts at recording a baseline on a machine that may be busy with other tests.
BUSY_RETRIES = 4


def test_reference_relative_p50_flags_more_app_work(project: pytest.Pytester, run,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    project.makeini(TINY_RUNS_INI)
    project.makepyfile(test_ref="""
        import pytest, users

        @pytest.mark.perf(users=2, run_time='3.5s', warmup=0.3, max_regression={'p50_ref': 1.0})
        def test_spin(loadgate):
            loadgate.run(users.Spin)
    """)
    monkeypatch.setenv("SPIN_LOOPS", "30000")
    run().assert_outcomes(passed=1)  # nothing to compare with or record: no reference booted
    first = json.loads(next((project.path / "reports").glob("*test_spin.json")).read_text())
    assert first["reference"] is None
    assert not list((project.path / "reports").glob("reference-*.log"))
    # A run on a busy machine is rightly not added (CI runs tests side by side): try again.
    for _ in range(BUSY_RETRIES):
        added = run("--loadgate-baseline=add")
        added.assert_outcomes(passed=1)
        if "not added to the baseline: the machine was busy" not in added.stdout.str():
            break
    stored = json.loads(next((project.path / ".loadgate" / "baselines").glob("*.json"))
                        .read_text())
    assert stored["runs"][0]["figures"]["GET /spin"]["p50_ref"] > 0.1
    same = run()
    same.assert_outcomes(passed=1)
    report = json.loads(sorted((project.path / "reports").glob("*test_spin.json"))[-1]
                        .read_text())
    assert report["reference"]["probes"] >= 50 and report["reference"]["failures"] == 0
    assert 0 < report["reference"]["p50_ms"] < report["total"]["p50_ms"]
    assert "machine-speed reference: p50" in (project.path / "reports" / "index.html").read_text()

    # Twenty times the app's own work: more than a busy machine (CI running tests side by
    # side) has been seen to inflate the baseline's p50_ref by, so the breach stands out.
    monkeypatch.setenv("SPIN_LOOPS", "600000")
    slower = run()
    slower.assert_outcomes(failed=1)
    slower.stdout.fnmatch_lines(["*GET /spin  p50_ref vs baseline  <=*FAIL*"])
    # A window too short for 50 probes: p50_ref is skipped with a reason, not failed.
    test_file = project.path / "test_ref.py"
    test_file.write_text(test_file.read_text().replace("run_time='3.5s'", "run_time='1.5s'"))
    short = run()
    short.assert_outcomes(passed=1)
    short.stdout.fnmatch_lines(["*p50_ref not compared with the baseline: the machine-speed"
                                " reference was not measured*"])
    assert list((project.path / "reports").glob("reference-*.log"))
