"""What a capacity test asks for: the SLO, the search and the gate, from ``@pytest.mark.capacity``.

Each probe is an ordinary open-model perf run at one arrival rate, judged with the SLO as its
thresholds; :func:`probe_kwargs` builds its marker arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_loadgate.capacity.search import SearchPlan
from pytest_loadgate.durations import parse_duration
from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.spec import LATENCY_KEYS, apply_profile

#: What an SLO may bound: latency percentiles (ms) and the error rate (fraction).
SLO_KEYS = (*LATENCY_KEYS, "max_error_rate")
CAPACITY_KEYS = ("slo", "start_rate", "max_rate", "precision", "growth", "max_probes", "confirm",
                 "step_time", "validation_time", "warmup", "max_users", "arrivals",
                 "min_capacity_rps", "max_regression", "request_timeout", "max_stall")
DEFAULT_START_RATE = 10.0
DEFAULT_MAX_RATE = 2000.0
DEFAULT_STEP_SEC = 10.0
#: A validation step lasts this many probe steps.
VALIDATION_STEPS = 3.0


@dataclass(frozen=True)
class CapacitySpec:
    """A validated capacity request."""

    plan: SearchPlan
    slo: Mapping[str, float]
    step_time_s: float
    validation_time_s: float
    warmup_s: float
    max_users: int | None = None
    arrivals: str = "uniform"
    min_capacity_rps: float | None = None
    #: Allowed relative drop of capacity against the baseline (0.15 = 15%).
    max_regression: float | None = None
    #: request_timeout / max_stall for every probe, as given.
    probe_options: Mapping[str, Any] | None = None

    def with_overrides(self, overrides: Mapping[str, Any], where: str) -> CapacitySpec:
        return capacity_spec({**self.as_kwargs(), **overrides}, where)

    def as_kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "slo": dict(self.slo), "start_rate": self.plan.start_rate,
            "max_rate": self.plan.max_rate, "precision": self.plan.precision,
            "growth": self.plan.growth, "max_probes": self.plan.max_probes,
            "confirm": self.plan.confirm,
            "step_time": self.step_time_s, "validation_time": self.validation_time_s,
            "warmup": self.warmup_s, "arrivals": self.arrivals}
        for key, value in (("max_users", self.max_users),
                           ("min_capacity_rps", self.min_capacity_rps)):
            if value is not None:
                out[key] = value
        if self.max_regression is not None:
            out["max_regression"] = {"capacity": self.max_regression}
        return {**out, **(self.probe_options or {})}

    @property
    def budget_s(self) -> float:
        """The longest a search can take: every probe as long as a validation."""
        return self.plan.max_probes * self.validation_time_s


def _number(kwargs: Mapping[str, Any], key: str, where: str, default: float | None,
            *, positive: bool = True) -> float | None:
    value = kwargs.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LoadgateConfigError(f"{where}: {key}={value!r} must be a number")
    if positive and value <= 0:
        raise LoadgateConfigError(f"{where}: {key}={value!r} must be > 0")
    return value  # as written: errors quote the user's own number


def _seconds(kwargs: Mapping[str, Any], key: str, where: str, default: float,
             *, zero: bool = False) -> float:
    value = kwargs.get(key, default)
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise LoadgateConfigError(f"{where}: {key}={value!r}: {exc}") from None
    if seconds < 0 or (seconds == 0 and not zero):
        raise LoadgateConfigError(f"{where}: {key}={value!r} must be longer than 0 s")
    return seconds


def _slo(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise LoadgateConfigError(
            f"{where}: slo={value!r} must be a non-empty dict of limits, e.g."
            ' slo={"p95_ms": 200, "max_error_rate": 0.01}')
    slo = {}
    for key, limit in value.items():
        if key not in SLO_KEYS:
            raise LoadgateConfigError(f"{where}: slo key {key!r} is not one of"
                                      f" {', '.join(SLO_KEYS)}")
        bad = isinstance(limit, bool) or not isinstance(limit, int | float) or not (
            math.isfinite(limit) and limit >= 0)
        if bad or (key != "max_error_rate" and limit == 0) or (
                key == "max_error_rate" and limit > 1):
            raise LoadgateConfigError(f"{where}: slo[{key!r}]={limit!r} must be"
                                      + (" a fraction 0-1" if key == "max_error_rate"
                                         else " a number of milliseconds > 0"))
        slo[key] = float(limit)
    return slo


def capacity_spec(kwargs: Mapping[str, Any], where: str,
                  profile: str | None = None) -> CapacitySpec:
    """A :class:`CapacitySpec` from marker (or ``loadgate.capacity()``) arguments, with
    ``profiles[profile]`` laid over them; a :class:`LoadgateConfigError` naming the argument
    and ``where`` otherwise."""
    kwargs = apply_profile(kwargs, profile, where)
    unknown = sorted(set(kwargs) - set(CAPACITY_KEYS))
    if unknown:
        raise LoadgateConfigError(f"{where}: unknown argument(s) {', '.join(unknown)}; a"
                                  f" capacity test takes {', '.join(CAPACITY_KEYS)}")
    if "slo" not in kwargs:
        raise LoadgateConfigError(f'{where}: slo is required, e.g. slo={{"p95_ms": 200,'
                                  ' "max_error_rate": 0.01}')
    slo = _slo(kwargs["slo"], where)
    start = _number(kwargs, "start_rate", where, DEFAULT_START_RATE)
    top = _number(kwargs, "max_rate", where, max(DEFAULT_MAX_RATE, start or 0.0))
    probes = kwargs.get("max_probes", SearchPlan.max_probes)
    plan = SearchPlan(start_rate=start or DEFAULT_START_RATE, max_rate=top or DEFAULT_MAX_RATE,
                      precision=kwargs.get("precision", 0.05),
                      growth=kwargs.get("growth", 2.0),
                      max_probes=probes,
                      confirm=kwargs.get("confirm", SearchPlan.confirm)).validate(where)
    step = _seconds(kwargs, "step_time", where, DEFAULT_STEP_SEC)
    validation = _seconds(kwargs, "validation_time", where, VALIDATION_STEPS * step)
    if validation < step:
        raise LoadgateConfigError(f"{where}: validation_time={kwargs.get('validation_time')!r}"
                                  f" must be at least step_time ({step:g}s)")
    warmup = _seconds(kwargs, "warmup", where, min(2.0, step / 4), zero=True)
    if warmup >= step:
        raise LoadgateConfigError(f"{where}: warmup={kwargs.get('warmup')!r} must be shorter"
                                  f" than step_time ({step:g}s): nothing would be judged")
    users = kwargs.get("max_users")
    if users is not None and (isinstance(users, bool) or not isinstance(users, int)
                              or users < 1):
        raise LoadgateConfigError(f"{where}: max_users={users!r} must be an integer >= 1")
    regression = kwargs.get("max_regression")
    allowed = None
    if regression is not None:
        if not isinstance(regression, Mapping) or set(regression) != {"capacity"}:
            raise LoadgateConfigError(f"{where}: max_regression={regression!r} must be"
                                      ' {"capacity": FRACTION}, e.g. {"capacity": 0.15}')
        allowed = _number(regression, "capacity", f"{where} max_regression", None)
        if allowed is None or allowed >= 1:
            raise LoadgateConfigError(f"{where}: max_regression['capacity']="
                                      f"{regression['capacity']!r} must be a fraction 0-1")
    arrivals = kwargs.get("arrivals", "uniform")
    if arrivals not in ("uniform", "poisson"):
        raise LoadgateConfigError(f"{where}: arrivals={arrivals!r} must be 'uniform' or"
                                  " 'poisson'")
    return CapacitySpec(
        plan=plan, slo=slo, step_time_s=step, validation_time_s=validation, warmup_s=warmup,
        max_users=users, arrivals=str(arrivals),
        min_capacity_rps=_number(kwargs, "min_capacity_rps", where, None),
        max_regression=allowed,
        probe_options={k: kwargs[k] for k in ("request_timeout", "max_stall") if k in kwargs})


def probe_kwargs(spec: CapacitySpec, rate: float, validation: bool) -> dict[str, Any]:
    """Marker arguments of one probe: an open-model perf run at ``rate`` judged by the SLO."""
    out: dict[str, Any] = {
        "arrival_rate": rate, "arrivals": spec.arrivals,
        "run_time": spec.validation_time_s if validation else spec.step_time_s,
        "warmup": spec.warmup_s, **spec.slo, **(spec.probe_options or {})}
    if spec.max_users is not None:
        out["max_users"] = spec.max_users
    return out
