"""The open workload model's schedule: when each iteration is meant to start.

A rate profile is a list of stages, each a linear ramp between two rates over a duration
(``arrival_stages`` ramp from the previous stage's rate, 0 before the first, so a stage of
duration 0 jumps to its rate; ``arrival_rate`` is one stage that holds its rate). Arrivals
are placed by inverting the cumulative count of the profile, ``Λ(t) = ∫ rate``:

* ``uniform``: the k-th arrival (k = 0, 1, ...) at ``Λ⁻¹(k + ½)``;
* ``poisson``: at ``Λ⁻¹(E₁ + … + Eₖ)`` with unit-mean exponential ``Eᵢ`` (a Poisson process
  whose rate follows the profile).

Split over ``n`` generators, generator ``i`` takes the uniform arrivals ``k ≡ i (mod n)``
(the union is exactly the whole schedule) or a Poisson process of ``1/n`` of the rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Arrivals = Literal["uniform", "poisson"]


@dataclass(frozen=True)
class Stage:
    """A linear ramp from ``from_rate`` to ``to_rate`` iterations/s over ``duration_s``."""

    from_rate: float
    to_rate: float
    duration_s: float

    @property
    def count(self) -> float:
        """Expected arrivals in the stage."""
        return (self.from_rate + self.to_rate) / 2 * self.duration_s

    def time_of(self, count: float) -> float:
        """Seconds into the stage at which ``count`` arrivals are expected (0 <= count <=
        self.count)."""
        r0, d = self.from_rate, self.duration_s
        a = (self.to_rate - r0) / (2 * d) if d > 0 else 0.0
        if a == 0:
            return count / r0 if r0 > 0 else 0.0
        # Solve a·t² + r0·t = count in its cancellation-free form.
        disc = max(0.0, r0 * r0 + 4 * a * count)
        denominator = r0 + math.sqrt(disc)
        return 2 * count / denominator if denominator > 0 else 0.0


@dataclass(frozen=True)
class RateProfile:
    """The whole run's rate over time."""

    stages: tuple[Stage, ...]

    @classmethod
    def constant(cls, rate: float, duration_s: float) -> RateProfile:
        return cls((Stage(rate, rate, duration_s),))

    @classmethod
    def from_points(cls, points: list[tuple[float, float]]) -> RateProfile:
        """Stages from ``(rate, duration_s)`` pairs, each ramping from the previous rate."""
        stages, previous = [], 0.0
        for rate, duration in points:
            stages.append(Stage(previous, rate, duration))
            previous = rate
        return cls(tuple(stages))

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    @property
    def peak_rate(self) -> float:
        return max(max(s.from_rate, s.to_rate) for s in self.stages)

    def count_between(self, start_s: float, end_s: float) -> float:
        """Expected arrivals in ``[start_s, end_s]``: ``Λ(end) - Λ(start)``."""
        return self._cumulative(end_s) - self._cumulative(start_s)

    def _cumulative(self, t: float) -> float:
        total, elapsed = 0.0, 0.0
        for stage in self.stages:
            if t <= elapsed:
                break
            d = stage.duration_s
            tau = min(t - elapsed, d)
            if d > 0:
                total += stage.from_rate * tau + (stage.to_rate - stage.from_rate) * tau**2 / (2*d)
            elapsed += d
        return total

    def time_of(self, count: float) -> float | None:
        """``Λ⁻¹(count)``: when the ``count``-th expected arrival falls (None: after the end)."""
        elapsed = 0.0
        for stage in self.stages:
            if count <= stage.count and stage.count > 0:
                return elapsed + stage.time_of(count)
            count -= stage.count
            elapsed += stage.duration_s
        return None

    def schedule(self, arrivals: Arrivals, *, index: int = 0, of: int = 1,
                 seed: int | None = None) -> Iterator[float]:
        """Scheduled start times (seconds from the run's start), in order, for generator
        ``index`` of ``of``."""
        if arrivals == "uniform":
            k = index
            while (t := self.time_of(k + 0.5)) is not None:
                yield t
                k += of
            return
        rng = random.Random(seed)
        count = 0.0
        while True:
            count += rng.expovariate(1.0) * of
            t = self.time_of(count)
            if t is None:
                return
            yield t
