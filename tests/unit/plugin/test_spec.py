"""Marker arguments → LoadSpec: defaults, precedence, and errors naming argument and value."""

from __future__ import annotations

import pytest

from pytest_loadgate.durations import parse_duration
from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.spec import build_spec, spec_from_marker


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0), ("250ms", 0.25),
    (12, 12.0), (1.5, 1.5), ("45", 45.0), (" 2m ", 120.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "10x", "s30", "1m 30", -1, True, None, "-5s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_defaults_and_thresholds() -> None:
    spec = build_spec("perf", {"users": 50, "spawn_rate": 10, "run_time": "30s", "p95_ms": 500,
                               "max_error_rate": 0.01, "min_rps": 300,
                               "endpoints": {"GET /products/": {"p95_ms": 200}}}, "m")
    assert (spec.users, spec.spawn_rate, spec.run_time_s) == (50, 10.0, 30.0)
    assert spec.thresholds.items() == [("p95_ms", 500.0), ("max_error_rate", 0.01),
                                       ("min_rps", 300.0)]
    assert spec.endpoints["GET /products/"].items() == [("p95_ms", 200.0)]


def test_marker_overrides_session_defaults_and_run_overrides_marker() -> None:
    spec = spec_from_marker("perf", (), {"users": 3, "run_time": "5s", "warmup": "1s"},
                            {"warmup": 2.0, "users": 9}, "@pytest.mark.perf")
    assert (spec.users, spec.warmup_s) == (3, 1.0)
    again = spec.with_overrides({"users": 4, "p99_ms": 100}, "loadgate.run() arguments")
    assert (again.users, again.run_time_s, again.thresholds.p99_ms) == (4, 5.0, 100.0)


def test_race_defaults() -> None:
    spec = build_spec("race", {}, "m")
    assert (spec.users, spec.spawn_rate, spec.run_time_s) == (20, 20.0, 60.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"users": 0}, "m: users=0 must be an integer >= 1"),
    ({"users": 2.5}, "m: users=2.5 must be an integer >= 1"),
    ({"spawn_rate": 0}, "m: spawn_rate=0 must be > 0"),
    ({"p95_ms": -1}, "m: p95_ms=-1 must be > 0 milliseconds"),
    ({"p95_ms": float("nan")}, "m: p95_ms=nan must be a finite number"),
    ({"min_rps": 0}, "m: min_rps=0 must be > 0"),
    ({"max_error_rate": 1.5}, "m: max_error_rate=1.5 must be a fraction"),
    ({"abort_on_fail": "yes"}, "m: abort_on_fail='yes' must be True or False"),
    ({"endpoints": ["GET /"]}, "m: endpoints=['GET /'] must be a dict"),
    ({"endpoints": {"GET /": {}}}, "m: endpoints['GET /']={} must be a non-empty dict"),
    ({"warmup": "10s", "run_time": "10s"}, "m: warmup='10s' leaves nothing"),
    ({"colour": "red"}, "m: unknown argument colour='red'"),
])
def test_errors_name_argument_and_value(kwargs: dict, message: str) -> None:
    with pytest.raises(LoadgateConfigError) as info:
        build_spec("perf", kwargs, "m")
    assert message in str(info.value)


def test_profile_overrides_apply_only_when_selected() -> None:
    kwargs = {"users": 5, "run_time": "20s", "profiles": {"full": {"run_time": "5m",
                                                                    "users": 50}}}
    assert spec_from_marker("perf", (), kwargs, {}, "m").run_time_s == 20.0
    full = spec_from_marker("perf", (), kwargs, {}, "m", profile="full")
    assert (full.users, full.run_time_s) == (50, 300.0)
    other = spec_from_marker("perf", (), kwargs, {}, "m", profile="nightly")
    assert other.run_time_s == 20.0


def test_bad_profile_value_names_the_profile() -> None:
    with pytest.raises(LoadgateConfigError, match=r"m \(profile 'full'\): users=-1"):
        spec_from_marker("perf", (), {"profiles": {"full": {"users": -1}}}, {}, "m",
                         profile="full")
    with pytest.raises(LoadgateConfigError, match=r"profiles=.* must map a profile name"):
        spec_from_marker("perf", (), {"profiles": ["full"]}, {}, "m")


def test_xdist_controller_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    from argparse import Namespace

    from pytest_loadgate.run.gevent_setup import is_xdist_controller

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert is_xdist_controller(Namespace(numprocesses=2, tx=None))
    assert not is_xdist_controller(Namespace(numprocesses=None, tx=None))
    # A pytest started inside an xdist worker inherits the variable but is its own controller.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setattr("sys.argv", ["/venv/bin/pytest", "-n", "2"])
    assert is_xdist_controller(Namespace(numprocesses=2, tx=None))
    monkeypatch.setattr("sys.argv", ["-c"])
    assert not is_xdist_controller(Namespace(numprocesses=2, tx=None))


def test_default_warmup_leaves_out_the_first_seconds_after_ramp_up() -> None:
    assert build_spec("perf", {"users": 10, "run_time": "30s"}, "m").warmup_s == 3.0
    short = build_spec("perf", {"users": 4, "spawn_rate": 4, "run_time": "2.75s"}, "m")
    assert short.warmup_s == 0.25 * (2.75 - 0.75)
    assert build_spec("perf", {"run_time": "30s", "warmup": 0}, "m").warmup_s == 0.0


def test_overrides_rederive_defaults_that_depend_on_other_arguments() -> None:
    spec = build_spec("perf", {"users": 10, "run_time": "30s"}, "m")
    assert (spec.spawn_rate, spec.warmup_s) == (10.0, 3.0)
    shorter = spec.with_overrides({"users": 4, "run_time": "2s"}, "run()")
    assert shorter.spawn_rate == 4.0  # all at once again, not the marker's old 10/s
    assert shorter.warmup_s == 0.25 * (2 - 0.75)  # not the 3 s of the 30 s run


@pytest.mark.parametrize("value", [-0.1, 1, 1.5, "half", True])
def test_bad_min_pace_names_argument_and_value(value: object) -> None:
    with pytest.raises(LoadgateConfigError, match=rf"min_pace={value!r}"):
        build_spec("perf", {"min_pace": value}, where="marker")


def test_min_pace_defaults_and_overrides() -> None:
    assert build_spec("perf", {}, where="m").min_pace == 0.5
    spec = build_spec("perf", {"min_pace": 0}, where="m")
    assert spec.min_pace == 0 and spec.as_kwargs()["min_pace"] == 0
