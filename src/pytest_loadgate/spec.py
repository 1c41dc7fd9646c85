"""What a load test asks for: load shape and thresholds, parsed and validated from marker kwargs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_loadgate.arrivals import Arrivals, RateProfile
from pytest_loadgate.durations import parse_duration
from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.run.stall import DEFAULT_MAX_STALL_SEC

Mode = Literal["perf", "race"]

#: Upper bounds on latency, in milliseconds.
LATENCY_KEYS = ("avg_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")
ENDPOINT_THRESHOLD_KEYS = (*LATENCY_KEYS, "max_error_rate", "min_rps")
#: Thresholds on the booted server process as a whole (aggregate only).
SERVER_THRESHOLD_KEYS = ("max_rss_growth_mb",)
THRESHOLD_KEYS = (*ENDPOINT_THRESHOLD_KEYS, *SERVER_THRESHOLD_KEYS)
LOAD_KEYS = ("users", "spawn_rate", "run_time", "warmup", "abort_on_fail", "abort_grace")
#: The open workload model (see pytest_loadgate.arrivals and pytest_loadgate.run.open_load).
OPEN_KEYS = ("arrival_rate", "arrival_stages", "max_users", "arrivals", "max_dropped_rate")
FAULT_KEYS = ("max_stall", "request_timeout")
#: What a locustfile may ask of Locust: task tags and ``environment.parsed_options`` values.
LOCUST_KEYS = ("tags", "exclude_tags", "locust_options")
ALL_KEYS = (*LOAD_KEYS, *OPEN_KEYS, *FAULT_KEYS, *THRESHOLD_KEYS, *LOCUST_KEYS, "endpoints",
            "max_regression", "confirm", "min_pace")
#: Metrics ``max_regression`` may name (see pytest_loadgate.verdict.baseline).
REGRESSION_METRICS = ("avg", "p50", "p90", "p95", "p99", "max", "rps", "error_rate",
                      "p50_rel", "p50_ref", "capacity")

DEFAULT_PERF_USERS = 10
DEFAULT_PERF_RUN_TIME_SEC = 10.0
DEFAULT_RACE_USERS = 20
#: A race ends when its last user finishes; this caps how long that may take.
DEFAULT_RACE_TIMEOUT_SEC = 60.0
DEFAULT_ABORT_GRACE_SEC = 3.0
#: Warm-up left out of perf verdicts when none is given: this long, or this share of the
#: post-ramp run time if that is shorter.
DEFAULT_WARMUP_SEC = 3.0
DEFAULT_WARMUP_SHARE = 0.25
#: Default ``min_pace``: a run that reached less than half the request rate its users' waits
#: and response times imply is unreliable (see pytest_loadgate.run.pacing).
DEFAULT_MIN_PACE = 0.5
#: Default per-request timeout (Locust's own is 60 s, longer than most runs).
DEFAULT_REQUEST_TIMEOUT_SEC = 10.0
#: Default pool of the open model: one user per iteration/s of the peak rate (iterations of
#: up to a second at the peak), and at least this many.
DEFAULT_OPEN_MIN_USERS = 10
#: Upper bound on ``arrival_rate`` per run (iterations/s).
MAX_ARRIVAL_RATE = 100_000.0


#: Time a load test needs beyond its runs: booting the target, draining, reports.
RUN_BUDGET_MARGIN_SEC = 180.0


@dataclass(frozen=True)
class OpenModel:
    """The open workload model: iterations start on a schedule, whatever the server does."""

    profile: RateProfile
    max_users: int
    arrivals: Arrivals = "uniform"
    #: Share of scheduled iterations that may be dropped for want of a free user (0-1).
    max_dropped_rate: float = 0.0

    def as_kwargs(self, constant: bool) -> dict[str, Any]:
        out: dict[str, Any]
        if constant:
            out = {"arrival_rate": self.profile.stages[0].to_rate}
        else:
            out = {"arrival_stages": [{"rate": s.to_rate, "duration": s.duration_s}
                                      for s in self.profile.stages]}
        return {**out, "max_users": self.max_users, "arrivals": self.arrivals,
                "max_dropped_rate": self.max_dropped_rate}


@dataclass(frozen=True)
class Thresholds:
    """Limits a run must respect; ``None`` means not checked."""

    avg_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None
    max_rss_growth_mb: float | None = None

    def items(self) -> list[tuple[str, float]]:
        """The thresholds that are set, in a stable order."""
        return [(k, getattr(self, k)) for k in THRESHOLD_KEYS if getattr(self, k) is not None]

    def __bool__(self) -> bool:
        return bool(self.items())


@dataclass(frozen=True)
class LoadSpec:
    """A validated description of one load run."""

    mode: Mode
    users: int
    spawn_rate: float
    run_time_s: float
    warmup_s: float = 0.0  # left out after ramp-up; see DEFAULT_WARMUP_SEC
    abort_on_fail: bool = False
    abort_grace_s: float = DEFAULT_ABORT_GRACE_SEC
    thresholds: Thresholds = field(default_factory=Thresholds)
    endpoints: Mapping[str, Thresholds] = field(default_factory=dict)
    #: Allowed regression against the baseline per metric (0.5: up to 1.5× for latencies).
    max_regression: Mapping[str, float] = field(default_factory=dict)
    #: Re-run a breaching run up to this many times; fail only if every attempt breaches.
    confirm: int = 0
    #: Below this achieved/implied request rate the run is unreliable (0: not checked).
    min_pace: float = DEFAULT_MIN_PACE
    #: A span this long with requests outstanding and no response fails the run (0: off).
    max_stall_s: float = DEFAULT_MAX_STALL_SEC
    #: Per-request timeout applied to Locust's HTTP clients that keep their default.
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_SEC
    #: The open model, when ``arrival_rate``/``arrival_stages`` are given (None: closed).
    open: OpenModel | None = None
    #: Locust task tags to run (None: all) and to leave out, as ``--tags``/``--exclude-tags``.
    tags: tuple[str, ...] | None = None
    exclude_tags: tuple[str, ...] | None = None
    #: Values for ``environment.parsed_options`` (custom locustfile arguments included).
    locust_options: Mapping[str, Any] = field(default_factory=dict)
    #: The arguments the spec was built from: overrides merge over these, so defaults that
    #: depend on other arguments (spawn_rate, warmup) are derived again.
    given: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def with_overrides(self, overrides: Mapping[str, Any], where: str) -> LoadSpec:
        """Return a new spec with ``overrides`` (validated, naming ``where``) applied."""
        merged = merge_overrides(self.given or self.as_kwargs(), overrides)
        return build_spec(self.mode, merged, where=where)

    def as_kwargs(self) -> dict[str, Any]:
        """The spec as marker-style keyword arguments."""
        out: dict[str, Any]
        if self.open is not None:
            constant = "arrival_stages" not in self.given
            out = self.open.as_kwargs(constant)
            if constant:
                out["run_time"] = self.run_time_s
        else:
            out = {"users": self.users, "spawn_rate": self.spawn_rate,
                   "run_time": self.run_time_s}
        out = {
            **out,
            "warmup": self.warmup_s,
            "abort_on_fail": self.abort_on_fail,
            "abort_grace": self.abort_grace_s,
            **dict(self.thresholds.items()),
        }
        if self.endpoints:
            out["endpoints"] = {name: dict(t.items()) for name, t in self.endpoints.items()}
        if self.max_regression:
            out["max_regression"] = dict(self.max_regression)
        if self.confirm:
            out["confirm"] = self.confirm
        if self.min_pace != DEFAULT_MIN_PACE:
            out["min_pace"] = self.min_pace
        out["max_stall"] = self.max_stall_s
        out["request_timeout"] = self.request_timeout_s
        if self.tags is not None:
            out["tags"] = list(self.tags)
        if self.exclude_tags is not None:
            out["exclude_tags"] = list(self.exclude_tags)
        if self.locust_options:
            out["locust_options"] = dict(self.locust_options)
        return out


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides``; an override that picks a load model (or a form of
    the rate) replaces the base's other one instead of clashing with it."""
    out = dict(base)
    if any(k in overrides for k in ("arrival_rate", "arrival_stages")):
        for key in ("users", "spawn_rate", "arrival_rate", "arrival_stages"):
            out.pop(key, None)
        if "arrival_stages" in overrides:
            out.pop("run_time", None)
    elif any(k in overrides for k in ("users", "spawn_rate")):
        for key in OPEN_KEYS:
            out.pop(key, None)
    return {**out, **overrides}


def _number(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LoadgateConfigError(f"{where}: {key}={value!r} must be a finite number")
    return float(value)


def _threshold(key: str, value: Any, where: str) -> float:
    number = _number(key, value, where)
    if key == "max_error_rate":
        if not 0.0 <= number <= 1.0:
            raise LoadgateConfigError(
                f"{where}: max_error_rate={value!r} must be a fraction between 0 and 1"
                " (0.01 means 1%)"
            )
    elif key == "min_rps":
        if number <= 0:
            raise LoadgateConfigError(f"{where}: min_rps={value!r} must be > 0")
    elif key == "max_rss_growth_mb":
        if number < 0:
            raise LoadgateConfigError(f"{where}: max_rss_growth_mb={value!r} must be >= 0")
    elif number <= 0:
        raise LoadgateConfigError(f"{where}: {key}={value!r} must be > 0 milliseconds")
    return number


def parse_thresholds(values: Mapping[str, Any], where: str,
                     allowed: tuple[str, ...] = THRESHOLD_KEYS) -> Thresholds:
    """Validate threshold keyword arguments."""
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise LoadgateConfigError(
            f"{where}: unknown threshold {unknown[0]}={values[unknown[0]]!r};"
            f" known: {', '.join(allowed)}"
        )
    return Thresholds(**{k: _threshold(k, v, where) for k, v in values.items() if v is not None})


def _duration(key: str, value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise LoadgateConfigError(f"{where}: {key}={value!r}: {exc}") from None


def _endpoints(value: Any, where: str) -> dict[str, Thresholds]:
    if not isinstance(value, Mapping):
        raise LoadgateConfigError(
            f"{where}: endpoints={value!r} must be a dict mapping 'METHOD name' to thresholds"
        )
    out: dict[str, Thresholds] = {}
    for name, limits in value.items():
        if not isinstance(name, str) or len(name.split(" ", 1)) != 2 or not name.split(" ", 1)[1]:
            raise LoadgateConfigError(
                f"{where}: endpoints key {name!r} must be 'METHOD name', e.g. 'GET /products/'"
            )
        if not isinstance(limits, Mapping) or not limits:
            raise LoadgateConfigError(
                f"{where}: endpoints[{name!r}]={limits!r} must be a non-empty dict of thresholds"
            )
        out[name] = parse_thresholds(limits, f"{where}: endpoints[{name!r}]",
                                     ENDPOINT_THRESHOLD_KEYS)
    return out


def _regression(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise LoadgateConfigError(
            f"{where}: max_regression={value!r} must be a dict such as"
            " {'p95': 0.5, 'rps': 0.3}")
    out = {}
    for metric, allowed in value.items():
        if metric not in REGRESSION_METRICS:
            raise LoadgateConfigError(
                f"{where}: max_regression key {metric!r} is not one of"
                f" {', '.join(REGRESSION_METRICS)}")
        number = _number(f"max_regression[{metric!r}]", allowed, where)
        if number < 0 or (metric == "rps" and number >= 1):
            raise LoadgateConfigError(
                f"{where}: max_regression[{metric!r}]={allowed!r} must be >= 0"
                + (" and < 1 (0.3 allows 30% less throughput)" if metric == "rps" else ""))
        out[str(metric)] = number
    return out


def _tags(key: str, value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if (not isinstance(value, Sequence) or not value
            or not all(isinstance(t, str) and t.strip() for t in value)):
        raise LoadgateConfigError(
            f"{where}: {key}={value!r} must be a non-empty list of tag names, e.g. ['checkout']")
    return tuple(t.strip() for t in value)


def _locust_options(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise LoadgateConfigError(
            f"{where}: locust_options={value!r} must be a dict of Locust option names to"
            " values, e.g. {'my_arg': 3} for a custom argument of the locustfile")
    return dict(value)


def _stages(value: Any, where: str) -> list[tuple[float, float]]:
    example = "[{'rate': 50, 'duration': '30s'}, {'rate': 400, 'duration': '1m'}]"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise LoadgateConfigError(
            f"{where}: arrival_stages={value!r} must be a non-empty list such as {example}")
    points = []
    for i, stage in enumerate(value):
        name = f"arrival_stages[{i}]"
        if not isinstance(stage, Mapping) or set(stage) != {"rate", "duration"}:
            raise LoadgateConfigError(
                f"{where}: {name}={stage!r} must be a dict with exactly the keys 'rate'"
                f" (iterations/s) and 'duration', e.g. {{'rate': 50, 'duration': '30s'}}")
        rate = _number(f"{name}['rate']", stage["rate"], where)
        if not 0 <= rate <= MAX_ARRIVAL_RATE:
            raise LoadgateConfigError(f"{where}: {name}['rate']={stage['rate']!r} must be"
                                      f" between 0 and {MAX_ARRIVAL_RATE:g} iterations/s")
        points.append((rate, _duration(f"{name}['duration']", stage["duration"], where)))
    if sum(d for _, d in points) <= 0 or all(r == 0 for r, _ in points):
        raise LoadgateConfigError(
            f"{where}: arrival_stages={value!r} schedule no iterations (every duration or"
            " every rate is 0)")
    return points


def _open_model(mode: Mode, kwargs: Mapping[str, Any], where: str) -> OpenModel | None:
    """The open model from ``arrival_rate``/``arrival_stages`` and their companions."""
    rate_raw, stages_raw = kwargs.get("arrival_rate"), kwargs.get("arrival_stages")
    if rate_raw is None and stages_raw is None:
        stray = [k for k in OPEN_KEYS if kwargs.get(k) is not None]
        if stray:
            raise LoadgateConfigError(
                f"{where}: {stray[0]}={kwargs[stray[0]]!r} belongs to the open model; give"
                " arrival_rate or arrival_stages too")
        return None
    if mode == "race":
        raise LoadgateConfigError(f"{where}: a race spawns its users at once; arrival_rate and"
                                  " arrival_stages are for perf tests")
    if rate_raw is not None and stages_raw is not None:
        raise LoadgateConfigError(
            f"{where}: give either arrival_rate={rate_raw!r} (constant) or arrival_stages"
            " (ramping), not both")
    closed = [k for k in ("users", "spawn_rate") if kwargs.get(k) is not None]
    if closed:
        raise LoadgateConfigError(
            f"{where}: {closed[0]}={kwargs[closed[0]]!r} is not used by the open model"
            " (arrival_rate/arrival_stages); size its pool of users with max_users")
    if stages_raw is not None:
        if kwargs.get("run_time") is not None:
            raise LoadgateConfigError(
                f"{where}: run_time={kwargs['run_time']!r} cannot be combined with"
                " arrival_stages: the run lasts as long as its stages")
        profile = RateProfile.from_points(_stages(stages_raw, where))
    else:
        rate = _number("arrival_rate", rate_raw, where)
        if not 0 < rate <= MAX_ARRIVAL_RATE:
            raise LoadgateConfigError(f"{where}: arrival_rate={rate_raw!r} must be > 0 and at"
                                      f" most {MAX_ARRIVAL_RATE:g} iterations/s")
        run_time = _duration("run_time", kwargs.get("run_time", DEFAULT_PERF_RUN_TIME_SEC),
                             where)
        profile = RateProfile.constant(rate, run_time)
    pool_raw = kwargs.get("max_users")
    if pool_raw is None:
        max_users = max(DEFAULT_OPEN_MIN_USERS, math.ceil(profile.peak_rate))
    elif isinstance(pool_raw, bool) or not isinstance(pool_raw, int) or pool_raw < 1:
        raise LoadgateConfigError(f"{where}: max_users={pool_raw!r} must be an integer >= 1")
    else:
        max_users = pool_raw
    arrivals = kwargs.get("arrivals") or "uniform"
    if arrivals not in ("uniform", "poisson"):
        raise LoadgateConfigError(
            f"{where}: arrivals={kwargs.get('arrivals')!r} must be 'uniform' or 'poisson'")
    dropped = _number("max_dropped_rate", kwargs.get("max_dropped_rate", 0.0) or 0.0, where)
    if not 0 <= dropped <= 1:
        raise LoadgateConfigError(
            f"{where}: max_dropped_rate={kwargs.get('max_dropped_rate')!r} must be a fraction"
            " between 0 and 1 (0.01 means 1% of the scheduled iterations)")
    return OpenModel(profile=profile, max_users=max_users,
                     arrivals="poisson" if arrivals == "poisson" else "uniform",
                     max_dropped_rate=dropped)


def build_spec(mode: Mode, kwargs: Mapping[str, Any], where: str) -> LoadSpec:
    """Validate marker-style ``kwargs`` into a :class:`LoadSpec`; errors name ``where``."""
    given = dict(kwargs)
    unknown = sorted(set(kwargs) - set(ALL_KEYS))
    if unknown:
        raise LoadgateConfigError(
            f"{where}: unknown argument {unknown[0]}={kwargs[unknown[0]]!r};"
            f" known: {', '.join(ALL_KEYS)}"
        )
    open_model = _open_model(mode, kwargs, where)
    if open_model is not None:
        # users/spawn_rate are refused with the open model; its pool stands in for them.
        kwargs = {**kwargs, "users": open_model.max_users}
        if "arrival_stages" in kwargs:
            kwargs["run_time"] = open_model.profile.duration_s
    default_users = DEFAULT_PERF_USERS if mode == "perf" else DEFAULT_RACE_USERS
    users_raw = kwargs.get("users", default_users)
    if isinstance(users_raw, bool) or not isinstance(users_raw, int) or users_raw < 1:
        raise LoadgateConfigError(f"{where}: users={users_raw!r} must be an integer >= 1")
    users = int(users_raw)

    spawn_raw = kwargs.get("spawn_rate")
    if spawn_raw is None:
        spawn_rate = float(users)
    else:
        spawn_rate = _number("spawn_rate", spawn_raw, where)
        if spawn_rate <= 0:
            raise LoadgateConfigError(f"{where}: spawn_rate={spawn_raw!r} must be > 0 users/s")

    default_time = DEFAULT_PERF_RUN_TIME_SEC if mode == "perf" else DEFAULT_RACE_TIMEOUT_SEC
    run_time_s = _duration("run_time", kwargs.get("run_time", default_time), where)
    if run_time_s <= 0:
        raise LoadgateConfigError(f"{where}: run_time={kwargs.get('run_time')!r} must be > 0")
    ramp_s = (users - 1) / spawn_rate if open_model is None else 0.0  # first user at once
    if "warmup" in kwargs and kwargs["warmup"] is not None:
        warmup_s = _duration("warmup", kwargs["warmup"], where)
    else:
        # Measured here: the first seconds after spawning hold most of the slow requests.
        warmup_s = max(0.0, min(DEFAULT_WARMUP_SEC,
                                DEFAULT_WARMUP_SHARE * (run_time_s - ramp_s)))
    if mode == "perf" and warmup_s >= run_time_s:
        raise LoadgateConfigError(
            f"{where}: warmup={kwargs.get('warmup')!r} leaves nothing of"
            f" run_time={kwargs.get('run_time', default_time)!r} to judge"
        )
    if mode == "perf" and ramp_s + warmup_s >= run_time_s:
        raise LoadgateConfigError(
            f"{where}: run_time={kwargs.get('run_time', default_time)!r} is not longer than"
            f" ramp-up ({users} users at spawn_rate={spawn_rate:g}/s = {ramp_s:g}s) plus"
            f" warmup ({warmup_s:g}s); nothing would be left to judge"
        )
    abort = kwargs.get("abort_on_fail", False)
    if not isinstance(abort, bool):
        raise LoadgateConfigError(f"{where}: abort_on_fail={abort!r} must be True or False")
    grace = _duration("abort_grace", kwargs.get("abort_grace", DEFAULT_ABORT_GRACE_SEC), where)

    thresholds = parse_thresholds(
        {k: kwargs[k] for k in THRESHOLD_KEYS if k in kwargs}, where
    )
    endpoints = _endpoints(kwargs.get("endpoints", {}), where)
    regression = (_regression(kwargs["max_regression"], where)
                  if kwargs.get("max_regression") is not None else {})
    confirm = kwargs.get("confirm", 0)
    if isinstance(confirm, bool) or not isinstance(confirm, int) or not 0 <= confirm <= 10:
        raise LoadgateConfigError(f"{where}: confirm={confirm!r} must be an integer 0..10")
    min_pace = _number("min_pace", kwargs.get("min_pace", DEFAULT_MIN_PACE), where)
    if not 0.0 <= min_pace < 1.0:
        raise LoadgateConfigError(
            f"{where}: min_pace={kwargs.get('min_pace')!r} must be a fraction from 0 (off) to"
            " below 1 (0.5: the run must reach half the rate its waits imply)")
    max_stall = _duration("max_stall", kwargs.get("max_stall", DEFAULT_MAX_STALL_SEC), where)
    if max_stall < 0:
        raise LoadgateConfigError(f"{where}: max_stall={kwargs.get('max_stall')!r} must be >= 0"
                                  " seconds (0 turns stall detection off)")
    timeout = _duration("request_timeout",
                        kwargs.get("request_timeout", DEFAULT_REQUEST_TIMEOUT_SEC), where)
    if timeout <= 0:
        raise LoadgateConfigError(
            f"{where}: request_timeout={kwargs.get('request_timeout')!r} must be > 0 seconds")
    return LoadSpec(
        mode=mode,
        users=users,
        spawn_rate=spawn_rate,
        run_time_s=run_time_s,
        warmup_s=warmup_s,
        abort_on_fail=abort,
        abort_grace_s=grace,
        thresholds=thresholds,
        endpoints=endpoints,
        max_regression=regression,
        confirm=confirm,
        min_pace=min_pace,
        max_stall_s=max_stall,
        request_timeout_s=timeout,
        open=open_model,
        tags=_tags("tags", kwargs.get("tags"), where),
        exclude_tags=_tags("exclude_tags", kwargs.get("exclude_tags"), where),
        locust_options=_locust_options(kwargs.get("locust_options"), where),
        given=dict(given),
    )


def apply_profile(kwargs: Mapping[str, Any], profile: str | None, where: str) -> dict[str, Any]:
    """Overlay ``kwargs["profiles"][profile]`` (if any) on ``kwargs``; drop ``profiles``."""
    out = {k: v for k, v in kwargs.items() if k != "profiles"}
    profiles = kwargs.get("profiles", {})
    if not isinstance(profiles, Mapping) or not all(
            isinstance(k, str) and isinstance(v, Mapping) for k, v in profiles.items()):
        raise LoadgateConfigError(
            f"{where}: profiles={profiles!r} must map a profile name to marker arguments,"
            " e.g. profiles={'full': {'run_time': '5m'}}")
    for name, overrides in profiles.items():
        if "profiles" in overrides or ("endpoints" in overrides and not isinstance(
                overrides["endpoints"], Mapping)):
            raise LoadgateConfigError(f"{where}: profiles[{name!r}]={overrides!r} is invalid")
    if profile is not None and profile in profiles:
        out = merge_overrides(out, profiles[profile])
    return out


def spec_from_marker(mode: Mode, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                     defaults: Mapping[str, Any], where: str,
                     profile: str | None = None) -> LoadSpec:
    """Build the spec for a marker: session ``defaults``, the marker's ``kwargs``, then the
    selected ``profile``'s overrides from the marker's ``profiles`` argument."""
    if args:
        raise LoadgateConfigError(
            f"{where}: positional arguments {args!r} are not accepted; use keywords such as"
            " users=10, run_time='30s', p95_ms=500"
        )
    merged = apply_profile(kwargs, profile, where)
    where_p = f"{where} (profile {profile!r})" if profile in kwargs.get("profiles", {}) else where
    return build_spec(mode, {**defaults, **merged}, where_p)


def run_budget_s(spec: LoadSpec, settings: Any) -> float:
    """How long a load test may take: each attempt's run time, plus a margin."""
    attempts = 1 + max(spec.confirm, getattr(settings, "confirm", 0) or 0)
    attempts = max(attempts, getattr(settings, "calibrate", 0) or 0)
    return attempts * (spec.run_time_s + spec.max_stall_s) + RUN_BUDGET_MARGIN_SEC
