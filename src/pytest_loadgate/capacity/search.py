"""The capacity search: which open-model arrival rate to probe next, and when to stop.

An exponential ramp from ``start_rate`` (× ``growth``, capped at ``max_rate``) until a probe
fails its SLO or ``max_rate`` passes; then bisection between the highest passing rate (lo)
and the lowest failing one (hi) until ``hi - lo <= precision * lo``; then one validation
probe at lo, which the caller runs longer. A failed validation shows the short steps flatter
the server: lo becomes a failing rate, the highest rate passed below it becomes lo, and every
later probe runs at validation length, so the bisection settles on a rate that held for the
longer step. A generator-bound probe caps the search like a failure (gen), but says nothing
of the server: the bisection goes on below it, and when the generator, not the server, set
the upper end the result is a lower bound "≥ lo (generator-bound)" as tight as the precision
asked, instead of the last ramp step. A generator-bound first probe ends the search. The
budget keeps its last probe for a validation, so a number is validated when the budget can
afford it. A probe whose SLO failed is repeated at the same rate and length up to
``confirm`` times, and the rate fails only when every attempt failed: one hiccup of a shared
machine (a pause of the whole VM, a noisy neighbour) would otherwise cap the search far below
the server's capacity. A generator-bound probe is not repeated, and a repeat never takes the
probe the budget keeps for validation. Apart from repeats, no rate is probed twice except lo
by its validation; none exceeds ``max_rate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pytest_loadgate.capacity.knee import explain_limit, find_knee
from pytest_loadgate.capacity.probe import Probe, format_rps
from pytest_loadgate.capacity.result import Bound, CapacityResult
from pytest_loadgate.errors import LoadgateConfigError

End = Literal["converged", "generator", "below", "budget"]


@dataclass(frozen=True, kw_only=True)
class SearchPlan:
    """How to search, in offered iterations/s: ``precision`` is relative (0.05 = 5%),
    ``growth`` the ramp's factor per probe, ``max_probes`` counts the validation too."""

    start_rate: float
    max_rate: float
    precision: float = 0.05
    growth: float = 2.0
    max_probes: int = 24
    confirm: int = 1

    def validate(self, where: str = "capacity") -> SearchPlan:
        """This plan, or a :class:`LoadgateConfigError` naming the bad argument and ``where``
        it came from."""
        for key in ("start_rate", "max_rate", "precision", "growth"):
            _finite(key, getattr(self, key), where)
        if self.start_rate <= 0:
            raise LoadgateConfigError(
                f"{where}: start_rate={self.start_rate!r} must be > 0 iterations/s")
        if self.max_rate < self.start_rate:
            raise LoadgateConfigError(f"{where}: max_rate={self.max_rate!r} must be >="
                                      f" start_rate={self.start_rate!r}")
        if not 0 < self.precision < 1:
            raise LoadgateConfigError(f"{where}: precision={self.precision!r} must be a"
                                      " fraction between 0 and 1 (0.05 means 5%)")
        if self.growth <= 1:
            raise LoadgateConfigError(f"{where}: growth={self.growth!r} must be > 1")
        if isinstance(self.max_probes, bool) or not isinstance(self.max_probes, int) or (
                self.max_probes < 2):
            raise LoadgateConfigError(
                f"{where}: max_probes={self.max_probes!r} must be an integer >= 2")
        if isinstance(self.confirm, bool) or not isinstance(self.confirm, int) or (
                self.confirm < 0):
            raise LoadgateConfigError(
                f"{where}: confirm={self.confirm!r} must be an integer >= 0 (repeats of a"
                " failed probe before its rate counts as failed)")
        return self


def _finite(key: str, value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LoadgateConfigError(f"{where}: {key}={value!r} must be a finite number")


@dataclass(frozen=True)
class NextProbe:
    """The rate to probe next; ``validation`` asks for the longer confirming step; ``repeat``
    counts the failed attempts at this rate and length just before it."""

    rate: float
    validation: bool = False
    repeat: int = 0


class CapacitySearch:
    """The search's state machine: ``next_rate()``, run that probe, ``record()`` it, repeat
    until ``next_rate()`` returns None, then ``result()``."""

    def __init__(self, plan: SearchPlan, *, slo: Mapping[str, float] | None = None) -> None:
        self.plan = plan.validate()
        self.slo = dict(slo or {})
        self._steps: list[tuple[NextProbe, Probe]] = []
        self._lo: float | None = None  # highest rate that passed (not refuted by validation)
        self._lo_validated = False  # lo passed a validation-length step
        self._hi: float | None = None  # lowest rate that failed
        self._gen: float | None = None  # lowest rate at which the generator gave out
        self._long_only = False  # a validation failed: short steps flatter the server
        self._pending: NextProbe | None = None
        self._end: End | None = None

    @property
    def probes(self) -> tuple[Probe, ...]:
        """Every probe recorded, in order."""
        return tuple(probe for _, probe in self._steps)

    @property
    def steps(self) -> tuple[tuple[NextProbe, Probe], ...]:
        """Every probe recorded with what was asked for (which ran at validation length)."""
        return tuple(self._steps)

    @property
    def done(self) -> bool:
        """True once the search has concluded."""
        return self._end is not None

    def next_rate(self) -> NextProbe | None:
        """The probe to run next (the same one until it is recorded); None when done."""
        if self._end is not None:
            return None
        if self._pending is None:
            self._pending = self._plan_next()
        return self._pending

    @property
    def _upper(self) -> float | None:
        """The lowest rate known to be out of reach: the server failed or the generator did."""
        return min((r for r in (self._hi, self._gen) if r is not None), default=None)

    @property
    def _generator_limited(self) -> bool:
        """True when the generator, not the server, gave out at the search's upper end."""
        return self._gen is not None and (self._hi is None or self._gen < self._hi)

    def _settled(self) -> bool:
        lo, hi, plan = self._lo, self._upper, self.plan
        assert lo is not None
        if hi is None:
            return lo >= plan.max_rate
        middle = (lo + hi) / 2
        return hi - lo <= plan.precision * lo or not lo < middle < hi  # floats: no repeats

    def _plan_next(self) -> NextProbe:
        lo, hi, plan = self._lo, self._upper, self.plan
        if lo is None:
            return NextProbe(plan.start_rate)
        # The last probe the budget allows goes to validating lo, unless lo is validated.
        if not self._settled() and (plan.max_probes - len(self._steps) > 1
                                    or self._lo_validated):
            rate = min(lo * plan.growth, plan.max_rate) if hi is None else (lo + hi) / 2
            return NextProbe(rate, validation=self._long_only)
        return NextProbe(lo, validation=True)

    def record(self, probe: Probe) -> None:
        """Take the outcome of the probe ``next_rate()`` asked for."""
        asked = self.next_rate()
        if asked is None:
            raise RuntimeError("record: the capacity search is done")
        if not math.isclose(probe.rate, asked.rate, rel_tol=1e-6):
            raise ValueError(f"record: probe.rate={probe.rate!r} but the search asked for"
                             f" {asked.rate!r} iterations/s")
        self._pending = None
        self._steps.append((asked, probe))
        if not probe.generator_bound and not probe.slo_passed and self._may_repeat(asked):
            self._pending = replace(asked, repeat=asked.repeat + 1)
            return
        if probe.generator_bound:
            self._gen = asked.rate if self._gen is None else min(self._gen, asked.rate)
            # The generator could not hold lo for a validation-length step: lo is unproven.
            self._long_only = self._long_only or asked.validation
            if self._lo is not None and self._lo >= asked.rate:
                self._demote_lo()
            if self._lo is None:
                self._end = "generator"
                return
        elif probe.slo_passed:
            self._lo, self._lo_validated = asked.rate, asked.validation
        else:
            self._hi = asked.rate
            self._long_only = self._long_only or asked.validation
            if self._lo is not None and self._lo >= asked.rate:
                self._demote_lo()
        if self._lo is None:
            self._end = "below"
        elif self._lo_validated and self._settled():
            self._end = "generator" if self._generator_limited else "converged"
        elif len(self._steps) >= self.plan.max_probes:
            self._end = "budget"

    def _may_repeat(self, asked: NextProbe) -> bool:
        """True when a failed ``asked`` may be tried again: repeats are left, and the budget
        keeps a probe for validating lo afterwards (unless lo is validated or there is none)."""
        left = self.plan.max_probes - len(self._steps)
        keep = 1 if self._lo is not None and not self._lo_validated else 0
        return asked.repeat < self.plan.confirm and left > keep

    def _demote_lo(self) -> None:
        """lo failed its validation: the highest rate that passed below it takes its place."""
        upper = self._upper
        below = [(s.rate, s.validation) for s, p in self._steps
                 if p.slo_passed and not p.generator_bound and upper is not None
                 and s.rate < upper]
        self._lo, self._lo_validated = max(below, default=(None, False))

    def _standing(self) -> list[Probe]:
        """The probes whose outcome stands (the knee and the limit are read from these): the
        failed attempts a passing repeat overturned are left out, and so is a failed attempt
        whose repeat is still to run."""
        steps = self._steps
        dropped: set[int] = set()
        for i, (asked, probe) in enumerate(steps):
            if asked.repeat and probe.slo_passed and not probe.generator_bound:
                dropped.update(range(i - asked.repeat, i))  # repeats follow their attempt
        if self._pending is not None and self._pending.repeat:
            dropped.add(len(steps) - 1)
        return [probe for i, (_, probe) in enumerate(steps) if i not in dropped]

    def result(self) -> CapacityResult:
        """What the probes so far say (a lower bound at most until the search is done)."""
        capacity, bound, reason = self._conclusion()
        standing = self._standing()
        return CapacityResult(
            capacity_rps=capacity, bound=bound, reason=reason, knee=find_knee(standing),
            limit=explain_limit(standing, capacity), probes=self.probes,
            validated=capacity is not None and capacity == self._lo and self._lo_validated,
            generator_bound=self._generator_limited, failed_at_rps=self._hi, slo=self.slo)

    def _conclusion(self) -> tuple[float | None, Bound, str]:
        lo, hi, plan = self._lo, self._hi, self.plan
        budget = f"the probe budget (max_probes={plan.max_probes}) ran out"
        failed = f" and failed at {format_rps(hi)} rps{self._why(hi)}" if hi is not None else ""
        if self._end == "below":
            assert hi is not None
            step = " in a validation step" if self._steps[-1][0].validation else ""
            return None, "below", (f"the SLO failed at start_rate={format_rps(hi)} rps{step}"
                                   f"{self._why(hi)}")
        if lo is None and self._generator_limited:
            return self._generator_conclusion()
        if lo is None:
            return None, "unknown", "no probe was recorded"
        held = f"the SLO held at {format_rps(lo)} rps"
        held += " in a validation step" if self._lo_validated else " in a short step only"
        if self._generator_limited:
            early = "" if self._end is not None else "; the search stopped early"
            budget_note = f"; {budget}" if self._end == "budget" else ""
            return lo, "at_least", f"{self._gave_out()}; {held}{failed}{budget_note}{early}"
        if self._end is None:
            return lo, "at_least", f"{held}{failed}; the search stopped early"
        if self._lo_validated and hi is not None:
            coarse = f"; {budget} before precision={plan.precision:g}" if (
                hi - lo > plan.precision * lo) else ""
            return lo, "found", f"{held}{failed}{coarse}"
        if self._lo_validated and lo >= plan.max_rate:
            return lo, "at_least", f"max_rate reached: {held}"
        if self._lo_validated:
            return lo, "at_least", f"{budget} before the SLO failed; {held}"
        return lo, "at_least", f"{held}{failed}; {budget}"

    def _gave_out(self) -> str:
        assert self._gen is not None
        return (f"the load generator gave out at {format_rps(self._gen)} iterations/s"
                " offered, before the server did")

    def _generator_conclusion(self) -> tuple[float | None, Bound, str]:
        last = next(p for s, p in self._steps if p.generator_bound and s.rate == self._gen)
        gave_out = self._gave_out()
        if last.slo_passed and last.achieved_rps > 0:
            return last.achieved_rps, "at_least", (
                f"{gave_out}; the server kept the SLO at the {format_rps(last.achieved_rps)}"
                " rps it delivered")
        return None, "unknown", f"{gave_out}, so no probe measured the server"

    def _why(self, rate: float | None) -> str:
        failed = [p for s, p in self._steps if s.rate == rate and not p.slo_passed]
        reasons = failed[-1].failure_reasons if failed else []
        return f" ({'; '.join(reasons)})" if reasons else ""
