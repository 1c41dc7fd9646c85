"""The typed report schema: a run's JSON document and the session's summary row.

:class:`RunReport` is what ``<timestamp>_<test>.json`` holds; :class:`SummaryRow` is the compact
record of a run that the session's index, the terminal table, the CSV, the markdown summaries
and the ``loadgate`` command line render. Both carry ``schema_version``; figures that could not
be measured (NaN) are ``null``. Documents written before ``schema_version`` existed read as
version 1. A field added later is optional (older documents read without it, older readers keep
it), so it leaves the version as it is; only a change an older reader would misread bumps it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

SCHEMA_VERSION = 1

Verdict = Literal["passed", "failed", "interrupted"]
#: A figure as written: counts stay integers, measurements floats (null: not measured).
Number = int | float | None


class ReportError(ValueError):
    """A report file that cannot be read: the message names the file and the field."""


class _Record(BaseModel):
    """Sub-records: known fields typed, fields added by newer writers kept."""

    model_config = ConfigDict(extra="allow")


class Figures(_Record):
    """An endpoint's (or the total's) figures over the verdict window (``EndpointStats``)."""

    name: str
    requests: int
    failures: int
    error_rate: float
    rps: float
    avg_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    status_counts: dict[str, int] = Field(default_factory=dict)
    censored: int = 0
    service_p50_ms: float | None = None
    service_p95_ms: float | None = None
    service_p99_ms: float | None = None
    approximate: bool = False


class CheckRecord(_Record):
    """One check: a threshold, or a regression rule against the baseline's median."""

    scope: str
    threshold: str
    limit: float
    measured: float | None
    passed: bool
    #: Regression checks only: the baseline's median and the allowed regression.
    baseline: float | None = None
    allowed: float | None = None
    detail: str = ""

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.baseline is None:
            data.pop("baseline", None)
            data.pop("allowed", None)
        if not self.detail:
            data.pop("detail", None)
        return data


class EndpointPoint(_Record):
    """One endpoint in one second of the timeline."""

    requests: int
    p95_ms: float | None


class TimelinePoint(_Record):
    """One second of the whole run (not only the verdict window)."""

    start_s: float
    requests: int
    rps: float
    p95_ms: float | None
    failures: int
    #: The generator's pauses for garbage collection in that second (in-process runs).
    gc_ms: float | None = None
    endpoints: dict[str, EndpointPoint] = Field(default_factory=dict)


class StallRecord(_Record):
    start_s: float
    duration_s: float
    outstanding: int
    ongoing: bool = False


class StepRecord(_Record):
    users: int
    start_s: float
    end_s: float
    requests: int
    rps: float
    p95_ms: float | None
    error_rate: float


class WatchedRecord(_Record):
    url: str
    polls: int = 0
    failures: int = 0
    last_status: int | None = None
    last_body: Any = None
    last_error: str | None = None
    poll_mean_ms: float | None = None
    poll_max_ms: float | None = None


class CapacityProbe(_Record):
    """One probe of a capacity search: an offered arrival rate and what the server did there.

    Rates are offered and achieved iterations/s (rps with one request per iteration);
    ``error_rate`` is a fraction 0-1; ``generator_bound``: the generator, not the server, fell
    short, so the probe says nothing about the server."""

    rate: float
    achieved_rps: float
    p95_ms: float | None = None
    error_rate: float = 0.0
    slo_passed: bool
    generator_bound: bool = False
    server_cpu_cores: float | None = None
    failure_reasons: list[str] = Field(default_factory=list)
    #: A longer step confirming a rate (None in reports written before the flag existed).
    validation: bool | None = None
    #: The same rate and length again after a failed attempt (``confirm``).
    repeat: bool = False
    #: Seconds the search waited for the server to work off the previous probe's backlog.
    settle_s: float | None = None


class CapacityRecord(_Record):
    """A capacity test's search (``@pytest.mark.capacity``): what it found, why, and every
    probe in search order (see ``pytest_loadgate.gate.capacity_document``)."""

    capacity_rps: float | None = None
    #: ``found``, ``at_least`` (a lower bound), ``below`` (the SLO failed at the start rate)
    #: or ``unknown``; a plain string, so that a bound added by a newer writer still reads.
    bound: str
    reason: str = ""
    validated: bool = False
    generator_bound: bool = False
    failed_at_rps: float | None = None
    #: What ran out beyond capacity (empty when nothing failed).
    limit: str = ""
    #: Where the curves bend, as text (``knee at 300 rps (...)``).
    knee: str | None = None
    #: The search's conclusion in one line.
    describe: str = ""
    #: The thresholds every probe was judged by (``p95_ms``, ``max_error_rate``...).
    slo: dict[str, float] = Field(default_factory=dict)
    #: Requests over all probes.
    requests: int = 0
    probes: list[CapacityProbe] = Field(default_factory=list)

    def validations(self) -> list[bool]:
        """Per probe, whether it was the validation of a rate probed before (reports written
        before the flag existed had neither repeats nor other probes of a rate twice)."""
        if all(p.validation is not None for p in self.probes):
            return [bool(p.validation) for p in self.probes]
        seen: set[float] = set()
        out = []
        for probe in self.probes:
            out.append(probe.rate in seen)
            seen.add(probe.rate)
        return out


class RunConditions(BaseModel):
    """What a run and its session row both say about how it ran: the generator, the machine,
    pace, the reference, stalls, the open model's schedule, censored requests."""

    generator_saturated: bool = False
    machine_stall: float | None = None
    machine_steal: float | None = None
    pace: dict[str, Number] | None = None
    reference: dict[str, Number] | None = None
    stalls: list[StallRecord] = Field(default_factory=list)
    open: dict[str, Number] | None = None
    censored: int = 0

    @property
    def reference_p50_ms(self) -> float | None:
        """The machine-speed reference's median over the window, when it was measured."""
        return (self.reference or {}).get("p50_ms")


class RunReport(RunConditions):
    """The JSON report of one load run: spec, window, exact figures, checks and verdict."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    test: str
    verdict: Verdict
    host: str
    mode: str
    created: str
    #: Unix time of the run's second 0 (window, timeline, stalls and samples count from it).
    started_unix: float | None = None
    spec: dict[str, Any]
    window_s: tuple[float, float]
    duration_s: float
    percentiles: str
    latency: str
    total: Figures
    endpoints: dict[str, Figures]
    checks: list[CheckRecord]
    violations: list[dict[str, Any]] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    aborted: str | None = None
    notes: list[str] = Field(default_factory=list)
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    baseline: str | None = None
    exceptions: list[dict[str, Any]] = Field(default_factory=list)
    server_resources: dict[str, Number] | None = None
    capacity: CapacityRecord | None = None
    generator_resources: dict[str, Number] | None = None
    samples: dict[str, Any] = Field(default_factory=dict)
    unreliable: bool = False
    unreliable_reasons: list[str] = Field(default_factory=list)
    watched: list[WatchedRecord] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    timeline: list[TimelinePoint] = Field(default_factory=list)
    resource_samples: dict[str, list[dict[str, Number]]] = Field(default_factory=dict)
    progress: list[dict[str, Any]] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)

class ChartPoint(_Record):
    """One second of a run as the index's charts draw it."""

    t: float
    rps: float
    p95: float | None
    #: p95 (ms) per endpoint in that second; absent where the endpoint had no request.
    endpoints: dict[str, float | None] = Field(default_factory=dict)


class SummaryRow(RunConditions):
    """The compact record of a run: what the session's index, the terminal table, the CSV,
    the markdown summaries and ``loadgate summary`` show."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    test: str
    verdict: Verdict
    mode: str
    users: int | None = None
    requests: int
    rps: float
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float
    failures: int = 0
    avg_ms: float | None = None
    p50_ms: float | None = None
    max_ms: float | None = None
    failed_checks: list[str] = Field(default_factory=list)
    checks: list[CheckRecord] = Field(default_factory=list)
    server_resources: dict[str, Number] | None = None
    generator_cpu_avg: float | None = None
    service_p95_ms: float | None = None
    unreliable_reasons: list[str] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    window_s: tuple[float, float] | None = None
    #: The whole run's length (the charts' time axis).
    duration_s: float | None = None
    timeline: list[ChartPoint] = Field(default_factory=list)
    watched: list[WatchedRecord] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    #: A capacity test's search (None for other runs).
    capacity: CapacityRecord | None = None

    def regression_checks(self) -> list[CheckRecord]:
        """The checks against the baseline (they carry its median)."""
        return [c for c in self.checks if c.baseline is not None]

    def failed(self) -> list[CheckRecord]:
        return [c for c in self.checks if not c.passed]


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready form of a report model."""
    return model.model_dump(mode="json")


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"field {_field_path(first['loc'])!r}: {first['msg']}{more}"


def parse_run_report(data: Any, source: str = "<data>") -> RunReport:
    """Validate a parsed JSON document as a :class:`RunReport`; :class:`ReportError` names
    ``source`` and the first bad field."""
    if not isinstance(data, dict):
        raise ReportError(f"{source}: not a loadgate run report (a JSON object is expected,"
                          f" got {type(data).__name__})")
    version = data.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ReportError(f"{source}: field 'schema_version': {version} is newer than this"
                          f" pytest-loadgate reads ({SCHEMA_VERSION}); upgrade it")
    try:
        return RunReport.model_validate(data)
    except ValidationError as exc:
        raise ReportError(f"{source}: {_first_error(exc)}") from None


def load_run_report(path: Path) -> RunReport:
    """Read and validate a run's JSON report; :class:`ReportError` on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc})") from None
    return parse_run_report(data, str(path))


def parse_summary_row(data: Any, source: str = "<row>") -> SummaryRow:
    """Validate a summary row (as it travels from a test, or an xdist worker, to the session)."""
    try:
        return SummaryRow.model_validate(data)
    except ValidationError as exc:
        raise ReportError(f"{source}: {_first_error(exc)}") from None
