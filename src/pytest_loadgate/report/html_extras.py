"""A load test's check table and report links as an HTML fragment for pytest-html's row."""

from __future__ import annotations

import html
import os
from pathlib import Path

from pytest_loadgate.report.check_table import check_rows
from pytest_loadgate.report.schema import SummaryRow


def report_links(row: SummaryRow, report_dir: Path, relative_to: Path | None) -> str:
    """Links to the run's files, relative to the pytest-html report's folder when known."""
    links = []
    for kind, name in row.files.items():
        target = (report_dir / name).resolve()
        href = (os.path.relpath(target, relative_to.resolve()) if relative_to is not None
                else target.as_uri())
        links.append(f'<a href="{html.escape(href.replace(os.sep, "/"))}">{html.escape(kind)}</a>')
    return " ".join(links)


def extras_fragment(row: SummaryRow, report_dir: Path, relative_to: Path | None) -> str:
    """The check table, the failed checks and problems, and the report links."""
    rows = check_rows(row.checks, reference_p50_ms=row.reference_p50_ms)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                   for cells in rows[1:])
    notes = "".join(f"<li>{html.escape(line)}</li>"
                    for line in row.failed_checks + row.unreliable_reasons + row.problems)
    return (f'<div class="loadgate"><p>loadgate: {html.escape(row.verdict.upper())},'
            f" {row.requests} requests — reports: {report_links(row, report_dir, relative_to)}"
            f"</p><table><tr>{head}</tr>{body}</table>"
            + (f"<ul>{notes}</ul>" if notes else "") + "</div>")
