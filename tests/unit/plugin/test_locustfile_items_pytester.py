"""``--loadgate-locustfile PATH``: a locustfile, unchanged, collected and judged as a test."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

FAST = """
from locust import FastHttpUser, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def home(self):
        self.client.get("/")
"""

SLOW = """
from locust import FastHttpUser, constant, tag, task


class Browser(FastHttpUser):
    wait_time = constant(0.02)

    @tag("slow")
    @task
    def slow(self):
        self.client.get("/slow")

    @tag("fast")
    @task
    def home(self):
        self.client.get("/")
"""

SHAPED = """
from locust import FastHttpUser, LoadTestShape, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/")


class TwoSteps(LoadTestShape):
    def tick(self):
        elapsed = self.get_run_time()
        if elapsed < 1.5:
            return (1, 10)
        if elapsed < 3.5:
            return (3, 10)
        return None
"""


def _report(project: pytest.Pytester, stem: str) -> dict:
    (path,) = (project.path / "reports").glob(f"*_{stem}_locustfile.json")
    return json.loads(Path(path).read_text())


def test_locustfiles_pass_and_breach_as_tests_with_reports_and_junit(
        project: pytest.Pytester, run) -> None:
    project.makepyfile(fast_locustfile=FAST, slow_locustfile=SLOW)
    result = run("--loadgate-locustfile", "fast_locustfile.py",
                 "--loadgate-locustfile", "slow_locustfile.py",
                 "--loadgate-users", "2", "--loadgate-run-time", "3s",
                 "--loadgate-threshold", "p95_ms=30", "--loadgate-threshold", "warmup=0",
                 "--junitxml", "junit.xml", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*fast_locustfile.py::locustfile PASSED*",
        "*slow_locustfile.py::locustfile FAILED*",
        "*p95_ms*FAIL*",
    ])
    slow = _report(project, "slow_locustfile")
    assert set(slow["endpoints"]) == {"GET /", "GET /slow"}
    assert slow["spec"]["users"] == 2 and slow["spec"]["p95_ms"] == 30
    cases = list(ET.parse(project.path / "junit.xml").iter("testcase"))
    assert [c.get("name") for c in cases] == ["locustfile", "locustfile"]
    verdicts = [p.get("value") for c in cases
                for p in c.iter("property") if p.get("name") == "loadgate.verdict"]
    assert sorted(verdicts) == ["failed", "passed"]
    # -m perf selects them like marker-based load tests.
    selected = run("--loadgate-locustfile", "fast_locustfile.py", "-m", "perf",
                   "--collect-only", "-q")
    selected.stdout.fnmatch_lines(["fast_locustfile.py::locustfile"])


def test_session_tags_select_the_locustfiles_tasks(project: pytest.Pytester, run) -> None:
    project.makepyfile(slow_locustfile=SLOW)
    result = run("--loadgate-locustfile", "slow_locustfile.py", "--loadgate-tags", "fast",
                 "--loadgate-threshold", "warmup=0", "--loadgate-run-time", "2s")
    result.assert_outcomes(passed=1)
    tagged = _report(project, "slow_locustfile")
    assert set(tagged["endpoints"]) == {"GET /"}  # only the task tagged "fast"


def test_a_shape_ends_its_run_without_a_run_time(project: pytest.Pytester, run) -> None:
    project.makepyfile(shaped_locustfile=SHAPED)
    result = run("--loadgate-locustfile", "shaped_locustfile.py",
                 "--loadgate-threshold", "warmup=0")
    result.assert_outcomes(passed=1)
    shaped = _report(project, "shaped_locustfile")
    assert 3.0 <= shaped["duration_s"] < 6.0  # ended by the shape at 3.5 s, not a cap
    assert [s["users"] for s in shaped["steps"]][:2] == [1, 3]
    # --loadgate-run-time caps a shape that would run longer.
    capped = run("--loadgate-locustfile", "shaped_locustfile.py",
                 "--loadgate-threshold", "warmup=0", "--loadgate-run-time", "2s")
    capped.assert_outcomes(passed=1)
    durations = sorted(json.loads(p.read_text())["duration_s"]
                       for p in (project.path / "reports").glob("*shaped_locustfile*.json"))
    assert len(durations) == 2 and durations[0] < 2.5 <= 3.0 <= durations[1]


@pytest.mark.parametrize(("args", "message"), [
    (("--loadgate-threshold", "p96_ms=30"),
     "*--loadgate-locustfile tests*unknown argument p96_ms=30*"),
    (("--loadgate-threshold", "p95_ms=-1"), "*--loadgate-locustfile tests*p95_ms=-1*> 0*"),
    (("--loadgate-threshold", "p95_ms"), "*--loadgate-threshold 'p95_ms': expected KEY=VALUE*"),
    (("--loadgate-users", "many"), "*--loadgate-users: 'many' must be a whole number >= 1*"),
])
def test_bad_locustfile_options_are_usage_errors(project: pytest.Pytester, run,
                                                 args: tuple[str, ...], message: str) -> None:
    project.makepyfile(fast_locustfile=FAST)
    result = run("--loadgate-locustfile", "fast_locustfile.py", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_missing_or_broken_locustfiles_are_named(project: pytest.Pytester, run) -> None:
    result = run("--loadgate-locustfile", "nowhere.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--loadgate-locustfile 'nowhere.py': no such file*"])
    project.makepyfile(empty_locustfile="from locust import HttpUser\n",
                       broken_locustfile="import not_a_module_anywhere\n")
    result = run("--loadgate-locustfile", "empty_locustfile.py",
                 "--loadgate-locustfile", "broken_locustfile.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the session
    result.stdout.fnmatch_lines(
        ["*broken_locustfile.py: importing it raised ModuleNotFoundError*not_a_module_anywhere*"])
    result.stdout.fnmatch_lines(["*empty_locustfile.py: no User class found*"])
