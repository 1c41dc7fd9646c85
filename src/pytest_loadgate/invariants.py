"""Invariants: callables that must hold during a run (sampled) and after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_loadgate.verdict.result import InvariantViolation

#: Runs a check; the run passes one that gives up after the invariant's ``timeout_s``.
Caller = Callable[[Callable[[], Any], float], Any]

DEFAULT_INTERVAL_SEC = 1.0
#: A check that has not answered after this long is a broken invariant (it never hangs a run).
DEFAULT_TIMEOUT_SEC = 10.0


def call_directly(check: Callable[[], Any], timeout_s: float) -> Any:
    """Run ``check`` with no time limit (outside a run)."""
    return check()


@dataclass
class Invariant:
    """A named check. It holds when it returns ``None`` or a truthy value and raises nothing."""

    name: str
    check: Callable[[], Any]
    interval_s: float = DEFAULT_INTERVAL_SEC
    timeout_s: float = DEFAULT_TIMEOUT_SEC
    samples: int = 0
    violations: list[InvariantViolation] = field(default_factory=list)

    def evaluate(self, at_s: float, phase: str,
                 call: Caller = call_directly) -> InvariantViolation | None:
        """Run the check once (through ``call``) and record a violation if it does not hold."""
        self.samples += 1
        try:
            outcome = call(self.check, self.timeout_s)
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
