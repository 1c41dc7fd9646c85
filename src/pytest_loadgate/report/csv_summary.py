"""Summary rows as CSV: one line per run, bare numbers in the unit each column names."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from pytest_loadgate.report.schema import SummaryRow
from pytest_loadgate.report.units import Unit, plain_figure

#: Figure columns: name (also the row field) and unit.
FIGURES: tuple[tuple[str, Unit], ...] = (
    ("users", "count"), ("requests", "count"), ("failures", "count"), ("rps", "rps"),
    ("avg_ms", "ms"), ("p50_ms", "ms"), ("p95_ms", "ms"), ("p99_ms", "ms"), ("max_ms", "ms"),
    ("error_rate", "percent"),
)
COLUMNS = ("test", "verdict", "mode", *(name for name, _ in FIGURES), "failed_checks",
           "json_report", "html_report")


def summary_csv(rows: Sequence[SummaryRow], json_paths: Sequence[str] | None = None) -> str:
    """The CSV text: a header, then one line per row (``error_rate`` a fraction 0-1; the
    failed checks joined with ``; ``; report paths beside the JSON report they came from)."""
    paths = list(json_paths) if json_paths is not None else [""] * len(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row, json_path in zip(rows, paths, strict=True):
        html_name = row.files.get("html", "")
        html_path = str(Path(json_path).with_name(html_name)) if json_path and html_name \
            else html_name
        writer.writerow([row.test, row.verdict, row.mode,
                         *(plain_figure(getattr(row, name), unit) for name, unit in FIGURES),
                         "; ".join(row.failed_checks), json_path, html_path])
    return out.getvalue()
