"""The one place a run's figures become its verdict: every check (faults, thresholds,
regression against the baseline), what broke, and why the figures may not be trusted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_loadgate.run.stall import Stall
from pytest_loadgate.verdict.checks import Check, evaluate, fault_checks
from pytest_loadgate.verdict.reliability import unreliable_reasons

if TYPE_CHECKING:
    from pytest_loadgate.verdict.result import InvariantViolation, LoadResult

Outcome = Literal["passed", "failed", "interrupted"]
NO_REQUESTS = "no requests were made in the verdict window"


@dataclass(frozen=True)
class Verdict:
    """Whether a run passed, and everything that decided it."""

    #: A stall first (the cause of whatever else the window shows), then thresholds, then
    #: regression against the baseline.
    checks: tuple[Check, ...]
    violations: tuple[InvariantViolation, ...] = ()
    #: What went wrong with the run itself (server died, hook errors, nothing measured).
    problems: tuple[str, ...] = ()
    aborted: str | None = None
    interrupted: bool = False
    #: One sentence per reason the figures measure the generator or the machine.
    unreliable: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return (all(c.passed for c in self.checks) and not self.violations
                and not self.problems and self.aborted is None and not self.interrupted)

    @property
    def outcome(self) -> Outcome:
        if self.interrupted:
            return "interrupted"
        return "passed" if self.passed else "failed"

    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def unreliable_note(self) -> str:
        """``UNRELIABLE MEASUREMENT: <reasons>`` (empty when the run is reliable)."""
        return ("UNRELIABLE MEASUREMENT: " + "; and ".join(self.unreliable)
                if self.unreliable else "")


def decide(result: LoadResult, regression: Sequence[Check] = ()) -> Verdict:
    """The verdict on ``result``'s figures, with the baseline's ``regression`` checks."""
    spec = result.spec
    stalls = [Stall(**span) for span in result.stalls]
    checks = fault_checks(spec, stalls, result.open)
    checks += evaluate(spec, result.total, result.endpoints, result.server_resources)
    checks += regression
    problems = list(result.problems)
    if result.total.requests == 0 and not problems and not result.interrupted:
        problems.append(NO_REQUESTS)
    return Verdict(checks=tuple(checks), violations=tuple(result.violations),
                   problems=tuple(problems), aborted=result.aborted,
                   interrupted=result.interrupted, unreliable=tuple(unreliable_reasons(result)))
