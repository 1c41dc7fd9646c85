"""Invariants: callables that must hold during a run (sampled) and after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_loadgate.verdict.result import InvariantViolation

DEFAULT_INTERVAL_SEC = 1.0


@dataclass
class Invariant:
    """A named check. It holds when it returns ``None`` or a truthy value and raises nothing."""

    name: str
    check: Callable[[], Any]
    interval_s: float = DEFAULT_INTERVAL_SEC
    samples: int = 0
    violations: list[InvariantViolation] = field(default_factory=list)

    def evaluate(self, at_s: float, phase: str) -> InvariantViolation | None:
        """Run the check once and record a violation if it does not hold."""
        self.samples += 1
        try:
            outcome = self.check()
        except AssertionError as exc:
            message = str(exc) or "assertion failed"
        except Exception as exc:  # a crashing check is a broken invariant, not a pass
            message = f"check raised {type(exc).__name__}: {exc}"
        else:
            if outcome is None or outcome:
                return None
            message = f"check returned {outcome!r}"
        violation = InvariantViolation(self.name, round(at_s, 2), message, phase)
        self.violations.append(violation)
        return violation

    def summary(self) -> InvariantViolation | None:
        """The first violation, carrying how many samples failed in all."""
        if not self.violations:
            return None
        first = self.violations[0]
        return InvariantViolation(first.name, first.at_s, first.message, first.phase,
                                  count=len(self.violations))
