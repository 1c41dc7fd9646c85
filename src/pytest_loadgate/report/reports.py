"""Write a run's reports (Locust's HTML, CSV, our JSON) and build its typed report records."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_loadgate.report.rows import summary_row_of
from pytest_loadgate.report.schema import RunReport, dump
from pytest_loadgate.run.locust_reports import write_locust_csv, write_locust_html

if TYPE_CHECKING:
    from pytest_loadgate.run.runner import Run

LATENCY_DEFINITION = (
    "open model: an iteration's first request from its scheduled start to its response, later"
    " requests of the iteration from their own send; service_* percentiles are Locust's"
    " response time")


def safe_name(test_id: str, max_len: int = 120) -> str:
    """A file-name-safe form of a pytest node id: the file's stem and the test's name (tests
    of the same name in two files get two names)."""
    path, sep, rest = test_id.partition("::")
    readable = f"{Path(path).stem}_{rest}" if sep else test_id
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", readable).strip("_")
    return name[-max_len:].lstrip("_.-") or "test"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def verdict_of(run: Run) -> str:
    """``passed``, ``failed`` or ``interrupted``: the run's decided outcome."""
    return run.result.decision.outcome


def build_run_report(test_id: str, run: Run, files: dict[str, Path]) -> RunReport:
    """The typed JSON report of ``run`` (NaN and infinite figures become null)."""
    r = run.result
    verdict = r.decision  # what decided the run, as decided: never re-derived here
    return RunReport.model_validate(_clean({
        "test": test_id,
        "verdict": verdict_of(run),
        "host": r.host,
        "mode": r.spec.mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "started_unix": r.started_unix,
        "spec": r.spec.as_kwargs(),
        "window_s": list(r.window_s),
        "duration_s": r.duration_s,
        "percentiles": ("exact: nearest-rank over raw samples, 1 us resolution"
                        if not r.total.approximate else
                        "nearest-rank over raw samples and, past the raw-sample cap, per-second"
                        " HdrHistograms (3 significant digits: within 0.1%)"),
        "latency": LATENCY_DEFINITION if r.spec.open is not None else "Locust's response time",
        "total": r.total.as_dict(),
        "endpoints": {k: v.as_dict() for k, v in sorted(r.endpoints.items())},
        "checks": [c.as_dict() for c in verdict.checks],
        "violations": [asdict(v) for v in verdict.violations],
        "problems": list(verdict.problems),
        "aborted": verdict.aborted,
        "notes": r.notes,
        "attempts": r.attempts,
        "baseline": str(r.baseline_path) if r.baseline_path else None,
        "exceptions": r.exceptions,
        "server_resources": r.server_resources,
        "generator_resources": r.generator_resources,
        "generator_saturated": r.generator_saturated,
        "machine_stall": r.machine_stall,
        "machine_steal": r.machine_steal,
        "pace": r.pace,
        "reference": r.reference,
        "stalls": r.stalls,
        "open": r.open,
        "capacity": r.capacity,
        "censored": r.total.censored,
        "samples": r.samples,
        "unreliable": bool(verdict.unreliable),
        "unreliable_reasons": list(verdict.unreliable),
        "watched": r.watched,
        "steps": r.steps,
        "timeline": r.timeline,
        "resource_samples": r.resource_samples,
        "progress": [asdict(s) for s in run.history],
        "files": {k: p.name for k, p in files.items()},
    }))


def result_document(test_id: str, run: Run, files: dict[str, Path]) -> dict[str, Any]:
    """The JSON report's content."""
    return dump(build_run_report(test_id, run, files))


def summary_row(test_id: str, run: Run, files: dict[str, Path]) -> dict[str, Any]:
    """The compact record of a run that travels to the session summary and index: the same
    row ``loadgate summary`` builds from the run's JSON report."""
    return dump(summary_row_of(build_run_report(test_id, run, files)))


def plan_report_files(report_dir: Path, test_id: str) -> dict[str, Path]:
    """The paths ``<timestamp>_<test>.{html,csv,json}`` a run's reports will have."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}_{safe_name(test_id)}"
    # A run of the same test in the same second (a retry) gets its own files.
    taken, n = stem, 1
    while any((report_dir / f"{taken}.{kind}").exists() for kind in ("html", "csv", "json")):
        n += 1
        taken = f"{stem}-{n}"
    return {kind: report_dir / f"{taken}.{kind}" for kind in ("html", "csv", "json")}


def write_run_reports(run: Run, files: dict[str, Path], test_id: str) -> None:
    """Write Locust's HTML report, its CSV tables and our JSON verdict to ``files``."""
    files["html"].parent.mkdir(parents=True, exist_ok=True)
    write_locust_html(run.environment, files["html"])
    write_locust_csv(run.environment, files["csv"])
    files["json"].write_text(json.dumps(result_document(test_id, run, files), indent=2),
                             encoding="utf-8")
