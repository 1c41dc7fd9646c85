"""Baselines: earlier runs of a test kept on disk, and regression checks against their median.

A baseline holds up to ``MAX_RUNS`` runs (figures per endpoint and in total, plus a fingerprint
of the machine and load model). A later run is compared with the median of those runs under the
marker's ``max_regression`` rule, e.g. ``{"p95": 0.5, "rps": 0.3}``: p95 may be at most 1.5×
the baseline, throughput at least 0.7×. Effect sizes with margins, not p-values: samples within
a run are not independent across runs, so significance tests flag identical runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_loadgate.spec import REGRESSION_METRICS
from pytest_loadgate.stats.metrics import EndpointStats
from pytest_loadgate.verdict.checks import TOTAL_SCOPE, Check

__all__ = ["REGRESSION_METRICS", "Baseline", "BaselineStore", "compare", "fingerprint"]

MAX_RUNS = 5
#: Scopes whose baseline median has fewer requests are not compared: a p95 of 15 samples is
#: their maximum, and a 30% rps margin needs about 1/sqrt(n) < 0.1.
MIN_BASELINE_REQUESTS = 200
#: ``p50_ref`` is compared only where the app's own time is at least this share of the
#: reference's: closer to the bare request cost, the difference is mostly noise.
MIN_APP_SHARE = 0.1
BASELINE_FORMAT = 1


def figures_of(total: EndpointStats, endpoints: Mapping[str, EndpointStats],
               reference_p50_ms: float | None = None) -> dict[str, dict[str, float]]:
    """The figures a baseline keeps: per scope, each regression metric.

    With the machine-speed reference's median (see :mod:`pytest_loadgate.target.reference`), each
    scope also gets ``p50_ref``: its p50 above the reference's, in units of the reference.
    """
    def row(stats: EndpointStats) -> dict[str, float]:
        return {"avg": stats.avg_ms, "p50": stats.p50_ms, "p90": stats.p90_ms,
                "p95": stats.p95_ms, "p99": stats.p99_ms, "max": stats.max_ms,
                "rps": stats.rps, "error_rate": stats.error_rate,
                "requests": float(stats.requests)}
    out = {TOTAL_SCOPE: row(total)}
    out.update({name: row(stats) for name, stats in endpoints.items()})
    # An endpoint's p50 relative to the other endpoints' median p50 in the same run: machine
    # contention slows every endpoint together and cancels out; one endpoint's regression shows.
    p50s = {name: stats.p50_ms for name, stats in endpoints.items()
            if stats.requests >= MIN_BASELINE_REQUESTS and stats.p50_ms == stats.p50_ms}
    for name, p50 in p50s.items():
        others = [v for n, v in p50s.items() if n != name]
        if others and statistics.median(others) > 0:
            out[name]["p50_rel"] = p50 / statistics.median(others)
    if reference_p50_ms and reference_p50_ms > 0:
        for figures in out.values():
            if figures["p50"] == figures["p50"]:
                figures["p50_ref"] = (figures["p50"] - reference_p50_ms) / reference_p50_ms
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def wait_model(user_classes: Sequence[Any]) -> str:
    """A description of the users' wait times: the mean of sampled waits (with a fixed seed,
    so the same model always reads the same), or the wait function's name."""
    parts = []
    state = random.getstate()
    try:
        for cls in user_classes:
            wait = getattr(cls, "wait_time", None)
            random.seed(f"loadgate-wait:{cls.__name__}")
            try:
                mean = statistics.fmean(float(wait(None)) for _ in range(200))  # type: ignore[misc]
                parts.append(f"{cls.__name__}:mean {mean * 1000:.0f}ms")
            except Exception:
                parts.append(f"{cls.__name__}:{getattr(wait, '__qualname__', repr(wait))}")
    finally:
        random.setstate(state)
    return ", ".join(parts)


def fingerprint(*, users: int, spawn_rate: float, user_classes: Sequence[Any], host: str,
                workers: int, open_model: str | None = None) -> dict[str, str]:
    """What must match for two runs to be comparable (``open_model``: the open model's
    schedule in words, absent for the closed model so older baselines still match)."""
    extra = {"open_model": open_model} if open_model else {}
    return {**extra,
        "cpu_model": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "locust": _version("locust"),
        "pytest_loadgate": _version("pytest-loadgate"),
        "users": str(users),
        "spawn_rate": f"{spawn_rate:g}",
        "wait_model": wait_model(user_classes),
        "host": host,
        "workers": str(workers),
    }


@dataclass
class Baseline:
    """The stored runs of one test."""

    test: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, scope: str, metric: str) -> float | None:
        values = [r["figures"][scope][metric] for r in self.runs
                  if scope in r["figures"] and r["figures"][scope].get(metric) is not None]
        return statistics.median(values) if values else None

    def scopes(self) -> list[str]:
        """``total`` first, then the endpoints by name."""
        names = {s for r in self.runs for s in r["figures"]}
        return sorted(names, key=lambda s: (s != TOTAL_SCOPE, s))

    def warnings(self, current: Mapping[str, str], max_age_days: float,
                 now: float | None = None) -> list[str]:
        """Fingerprint differences and age, as sentences."""
        if not self.runs:
            return []
        out = []
        latest = self.runs[-1]
        diffs = [f"{k}: {latest['fingerprint'].get(k)!r} → {v!r}" for k, v in current.items()
                 if latest["fingerprint"].get(k) != v]
        if diffs:
            out.append(f"baseline of {self.test} was recorded under a different setup ("
                       + "; ".join(diffs) + ")")
        age_days = ((now or time.time()) - float(latest["created"])) / 86400
        if age_days > max_age_days:
            out.append(f"baseline of {self.test} is {age_days:.0f} days old"
                       f" (limit {max_age_days:g}); re-record it with --loadgate-baseline=accept")
        return out


class BaselineStore:
    """One JSON file per test under a directory users can commit or cache in CI.

    Writers of one baseline (two xdist workers, two CI jobs on a shared cache) take turns under
    a lock file beside it, and a file is replaced only by a complete, synced new one. A file
    that cannot be read is set aside (renamed, never deleted) and the test goes on without it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: What happened to unreadable baselines, in sentences (for the run's notes).
        self.notes: list[str] = []

    def path(self, test_id: str) -> Path:
        digest = hashlib.sha1(test_id.encode()).hexdigest()[:10]
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in test_id)[-80:]
        return self.directory / f"{stem}-{digest}.json"

    def read(self, test_id: str) -> Baseline | None:
        """The stored runs of ``test_id`` (None when there are none), touching nothing;
        ``ValueError`` or ``OSError`` when the file cannot be read."""
        path = self.path(test_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return parse_baseline(text, test_id)

    def load(self, test_id: str) -> Baseline | None:
        """The stored runs of ``test_id``; None when there are none or the file was unreadable
        (then it is set aside and :attr:`notes` says where)."""
        path = self.path(test_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.notes.append(f"baseline {path} could not be read ({exc.strerror or exc}):"
                              " max_regression not checked")
            return None
        try:
            return parse_baseline(text, test_id)
        except ValueError as exc:
            aside = self._set_aside(path)
            self.notes.append(f"baseline {path} is unreadable ({exc}); set aside as"
                              f" {aside.name}: max_regression not checked, and the next"
                              " recorded run starts a new baseline")
            return None

    def _set_aside(self, path: Path) -> Path:
        aside = path.with_name(f"{path.stem}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
                               f"-{os.getpid()}.json")
        try:
            path.replace(aside)
        except OSError:
            return path  # another process set it aside first, or the directory is read-only
        return aside

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _write(self, baseline: Baseline) -> Path:
        path = self.path(baseline.test)
        text = json.dumps({"format": BASELINE_FORMAT, "test": baseline.test,
                           "runs": baseline.runs}, indent=2, allow_nan=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # the rename itself survives a crash once synced
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return path

    def save(self, baseline: Baseline) -> Path:
        with self._locked(self.path(baseline.test)):
            return self._write(baseline)

    def record(self, test_id: str, figures: dict[str, dict[str, float]],
               fp: dict[str, str], *, replace: bool) -> Path:
        """Add a run (keeping the newest ``MAX_RUNS``), or start afresh when ``replace``; read,
        add and write under the baseline's lock, so concurrent writers both land."""
        clean = {scope: {k: (None if v != v else v) for k, v in row.items()}
                 for scope, row in figures.items()}
        with self._locked(self.path(test_id)):
            baseline = (None if replace else self.load(test_id)) or Baseline(test_id)
            baseline.runs.append({"created": time.time(), "fingerprint": fp, "figures": clean})
            baseline.runs = baseline.runs[-MAX_RUNS:]
            return self._write(baseline)


def parse_baseline(text: str, test_id: str) -> Baseline:
    """A baseline file's content; ``ValueError`` saying what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, found {type(data).__name__}")
    if data.get("format", BASELINE_FORMAT) != BASELINE_FORMAT:
        raise ValueError(f"format {data.get('format')!r}, this plugin reads {BASELINE_FORMAT}")
    runs = data.get("runs", [])
    if not isinstance(runs, list):
        raise ValueError("'runs' is not a list")
    for index, run in enumerate(runs):
        if not (isinstance(run, dict) and isinstance(run.get("figures"), dict)
                and isinstance(run.get("fingerprint"), dict)
                and isinstance(run.get("created"), int | float)):
            raise ValueError(f"run {index} lacks created/fingerprint/figures")
        for scope, row in run["figures"].items():
            if not isinstance(row, dict) or not all(
                    v is None or isinstance(v, int | float) for v in row.values()):
                raise ValueError(f"run {index}, scope {scope!r}: figures are not numbers")
    return Baseline(test=str(data.get("test", test_id)), runs=list(runs))


def compare(baseline: Baseline, figures: Mapping[str, Mapping[str, float]],
            rules: Mapping[str, float], notes: list[str] | None = None,
            min_requests: int = MIN_BASELINE_REQUESTS) -> list[Check]:
    """Regression checks of ``figures`` against the baseline median, per scope and metric.

    Scopes with fewer than ``min_requests`` requests (baseline median) are skipped, with a line
    in ``notes``.
    """
    checks = []
    for scope in baseline.scopes():
        requests = baseline.median(scope, "requests")
        if requests is not None and requests < min_requests:
            if notes is not None:
                notes.append(f"{scope}: not compared with the baseline (only {requests:.0f}"
                             f" requests; at least {min_requests} are needed)")
            continue
        for metric, allowed in rules.items():
            reference = baseline.median(scope, metric)
            if reference is None:
                continue
            if metric == "p50_ref" and reference < MIN_APP_SHARE:
                if notes is not None:
                    notes.append(f"{scope}: p50_ref not compared with the baseline (its p50 is"
                                 f" only {reference:+.2f}× the reference's above it)")
                continue
            name = f"{metric} vs baseline"
            measured = figures.get(scope, {}).get(metric)
            if measured is None or measured != measured:
                checks.append(Check(scope, name, reference, None, False, baseline=reference,
                                    allowed=allowed))
                continue
            if metric in ("rps", "capacity"):  # higher is better
                limit = reference * (1 - allowed)
                passed = measured >= limit
            elif metric == "error_rate":
                limit = reference + allowed
                passed = measured <= limit
            else:
                limit = reference * (1 + allowed)
                passed = measured <= limit
            checks.append(Check(scope, name, limit, float(measured), passed, baseline=reference,
                                allowed=allowed))
    return checks
