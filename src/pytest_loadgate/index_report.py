"""The session's overview: terminal summary lines and ``index.html`` (no Locust import here)."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_loadgate.checks import format_value

INDEX_NAME = "index.html"


def format_summary(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Terminal lines: one per run with its key figures, then its failed checks and problems."""
    width = max([len(r["test"]) for r in rows] + [4])
    lines = [f"{'test'.ljust(width)}  verdict      {'requests':>8}  {'rps':>9}  {'p95':>10}"
             f"  {'errors':>7}"]
    for r in rows:
        lines.append(
            f"{r['test'].ljust(width)}  {r['verdict'].upper():11}  {r['requests']:>8}"
            f"  {format_value('rps', r['rps']):>9}  {format_value('p95_ms', r['p95_ms']):>10}"
            f"  {format_value('error_rate', r['error_rate']):>7}")
        lines += [f"    {line}" for line in r.get("failed_checks", []) + r.get("problems", [])]
    return lines


def _cell(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind:
        return html.escape(format_value(kind, value))
    return html.escape(str(value))


def write_index(report_dir: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """The session's ``index.html``: every load test, its verdict, key figures, links."""
    report_dir.mkdir(parents=True, exist_ok=True)
    body = []
    for row in rows:
        verdict = row.get("verdict", "?")
        links = " ".join(f'<a href="{html.escape(name)}">{kind}</a>'
                         for kind, name in row.get("files", {}).items())
        details = "".join(f"<li>{html.escape(p)}</li>"
                          for p in row.get("failed_checks", []) + row.get("problems", []))
        checks = "".join(
            f"<tr><td>{html.escape(c['scope'])}</td><td>{html.escape(c['threshold'])}</td>"
            f"<td>{_cell(c['limit'], c['threshold'])}</td>"
            f"<td>{_cell(c['measured'], c['threshold'])}</td>"
            f"<td class=\"{'pass' if c['passed'] else 'fail'}\">"
            f"{'PASS' if c['passed'] else 'FAIL'}</td></tr>" for c in row.get("checks", []))
        body.append(
            f'<tr class="{html.escape(verdict)}"><td>{html.escape(row["test"])}</td>'
            f'<td class="verdict">{html.escape(verdict.upper())}</td>'
            f"<td>{html.escape(row.get('mode', ''))}</td><td>{_cell(row.get('users'))}</td>"
            f"<td>{_cell(row.get('requests'))}</td><td>{_cell(row.get('rps'), 'rps')}</td>"
            f"<td>{_cell(row.get('p95_ms'), 'p95_ms')}</td>"
            f"<td>{_cell(row.get('p99_ms'), 'p99_ms')}</td>"
            f"<td>{_cell(row.get('error_rate'), 'error_rate')}</td><td>{links}</td></tr>"
            + (f'<tr class="detail"><td colspan="10"><table class="checks">'
               f"<tr><th>scope</th><th>threshold</th><th>limit</th><th>measured</th>"
               f"<th>verdict</th></tr>{checks}</table><ul>{details}</ul></td></tr>"
               if checks or details else "")
        )
    passed = sum(1 for r in rows if r.get("verdict") == "passed")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-loadgate report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .3em .6em; border-bottom: 1px solid #ddd;
text-align: left; }}
tr.passed .verdict, td.pass {{ color: #137333; font-weight: bold; }}
tr.failed .verdict, tr.interrupted .verdict, td.fail {{ color: #b3261e; font-weight: bold; }}
table.checks {{ margin: .2em 0 .6em 2em; font-size: 90%; }}
</style></head><body>
<h1>pytest-loadgate</h1>
<p id="summary">{passed} of {len(rows)} load tests passed · generated
{html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>
<table id="runs"><tr><th>test</th><th>verdict</th><th>mode</th><th>users</th><th>requests</th>
<th>rps</th><th>p95</th><th>p99</th><th>errors</th><th>reports</th></tr>
{''.join(body)}
</table></body></html>
"""
    path = report_dir / INDEX_NAME
    path.write_text(page, encoding="utf-8")
    return path
