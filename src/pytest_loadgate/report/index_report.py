"""The session's ``index.html``: every load run, its verdict, figures, checks and charts; for a
capacity test, its conclusion as the headline, its search's charts and probe table.

Self-contained (inline CSS and SVG, no script, nothing fetched); rendered from the same
:class:`~pytest_loadgate.report.schema.SummaryRow` records as the terminal table and the CLI.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_loadgate.report.capacity_charts import capacity_charts
from pytest_loadgate.report.charts import run_charts
from pytest_loadgate.report.check_table import check_rows
from pytest_loadgate.report.schema import CapacityRecord, SummaryRow
from pytest_loadgate.report.terminal import fault_summary, probe_marks
from pytest_loadgate.report.units import format_figure
from pytest_loadgate.verdict.reliability import MACHINE_BUSY_STALL, MACHINE_BUSY_STEAL

INDEX_NAME = "index.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; } td, th { padding: .3em .6em; border-bottom: 1px solid #ddd;
text-align: left; }
tr.passed .verdict, td.pass { color: #137333; font-weight: bold; }
tr.failed .verdict, tr.interrupted .verdict, td.fail { color: #b3261e; font-weight: bold; }
table.checks, table.steps, table.probes { margin: .2em 0 .6em 2em; font-size: 90%; }
div.charts { display: flex; flex-wrap: wrap; gap: 1em 2em; margin: .4em 0 .8em 2em; }
figure.chart, figure.capacity-chart { margin: 0; }
figure.chart figcaption, figure.capacity-chart figcaption { font-weight: 600; font-size: 90%; }
p.capacity-headline { font-weight: 600; margin: .3em 0 .4em 2em; }
p.knee { margin: -.4em 0 .6em 2em; font-size: 90%; font-style: italic; }
svg.chart { font-size: 11px; display: block; }
svg.chart .axis line { stroke: #5f6368; stroke-width: 1; }
svg.chart .axis line.grid { stroke: #e8eaed; }
svg.chart .axis text { fill: #3c4043; }
svg.chart text.axis-label { font-size: 12px; fill: #202124; }
svg.chart path.series { stroke-width: 1.6; stroke-linejoin: round; }
svg.chart rect.window { fill: #e6f4ea; }
svg.chart .baseline-band rect { opacity: .12; }
svg.chart .baseline-band line { stroke-dasharray: 5 3; stroke-width: 1.2; }
ul.legend { list-style: none; padding: 0; margin: .3em 0 0; font-size: 85%; max-width: 600px;
display: flex; flex-wrap: wrap; gap: .2em 1.2em; }
ul.legend .swatch { display: inline-block; width: 1.4em; height: .7em; margin-right: .4em;
vertical-align: middle; background: var(--c); }
ul.legend li.line .swatch { height: 3px; }
ul.legend li.band .swatch { border-top: 2px dashed var(--c); background: none; opacity: .8; }
ul.legend li.window .swatch { border: 1px solid #b7dfc2; }
ul.legend li.note .swatch { display: none; }
ul.legend li.pass .swatch, ul.legend li.fail .swatch, ul.legend li.generator .swatch {
width: .7em; border-radius: 50%; border: 1.5px solid var(--c); }
ul.legend li.fail .swatch { background: #fff; }
ul.legend li.generator .swatch { border-radius: 0;
clip-path: polygon(50% 0, 100% 100%, 0 100%); }
"""


def _cell(text: str) -> str:
    return f"<td>{html.escape(text)}</td>"


def _resource_lines(row: SummaryRow) -> list[str]:
    parts = []
    server = row.server_resources
    if server:
        parts.append(
            f"server: CPU avg {server.get('cpu_avg') or 0:.0f}% (max"
            f" {server.get('cpu_max') or 0:.0f}%),"
            f" RSS {format_figure(server.get('rss_start_mb'), 'mb')}"
            f" → {format_figure(server.get('rss_end_mb'), 'mb')}"
            f" (max {format_figure(server.get('rss_max_mb'), 'mb')})")
    if row.generator_cpu_avg is not None:
        saturated = " — SATURATED" if row.generator_saturated else ""
        parts.append(f"load generator: CPU avg {row.generator_cpu_avg:.0f}%{saturated}")
    if row.machine_stall is not None:
        busy = " — BUSY" if row.machine_stall > MACHINE_BUSY_STALL else ""
        parts.append(f"machine: some task waited for a CPU {row.machine_stall * 100:.0f}%"
                     f" of the window{busy}")
    if row.machine_steal is not None:
        parts.append(f"hypervisor steal: {format_figure(row.machine_steal, 'percent')} of CPU"
                     f" time{' — BUSY' if row.machine_steal > MACHINE_BUSY_STEAL else ''}")
    pace = row.pace
    if pace:
        implied = pace.get("implied_rps")
        implied_text = format_figure(implied, "rps") if implied is not None else "an unbounded rate"
        parts.append(f"pace: {format_figure(pace.get('achieved_rps'), 'rps')} achieved of"
                     f" {implied_text} implied by waits and response times"
                     f" ({format_figure(pace.get('ratio'), 'percent')})")
    return parts


def _extras(row: SummaryRow) -> str:
    parts = [html.escape(line) for line in _resource_lines(row) + fault_summary(row)]
    for stall in row.stalls:
        parts.append(f"<strong>stall</strong>: no response for {stall.duration_s:.1f} s"
                     f" from {stall.start_s:.1f} s while {stall.outstanding} requests waited")
    reference = row.reference
    if reference:
        parts.append(
            f"machine-speed reference: p50 {format_figure(reference.get('p50_ms'), 'ms')},"
            f" p95 {format_figure(reference.get('p95_ms'), 'ms')} over"
            f" {format_figure(reference.get('probes'), 'count')} probes of a do-nothing server")
    for reason in row.unreliable_reasons:
        parts.append(f"<strong>UNRELIABLE</strong>: {html.escape(reason)}")
    for w in row.watched:
        body = html.escape(str(w.last_body)[:300])
        poll = f", {format_figure(w.poll_mean_ms, 'ms')} a poll" if w.poll_mean_ms else ""
        parts.append(f"{html.escape(w.url)}: last {w.last_status}, {w.failures} failed"
                     f" polls{poll}: <code>{body}</code>")
    if row.steps:
        cells = "".join(f"<tr><td>{st.users}</td>{_cell(format_figure(st.rps, 'rps'))}"
                        f"{_cell(format_figure(st.p95_ms, 'ms'))}"
                        f"{_cell(format_figure(st.error_rate, 'percent'))}</tr>"
                        for st in row.steps)
        parts.append('steps:<table class="steps"><tr><th>users</th><th>rps</th>'
                     f"<th>p95</th><th>errors</th></tr>{cells}</table>")
    items = "".join(f"<li>{part}</li>" for part in parts)
    return (f"<ul>{items}</ul>" if items else "") + run_charts(row)


def _checks_table(row: SummaryRow) -> str:
    rows = check_rows(row.checks, reference_p50_ms=row.reference_p50_ms)
    header = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = "".join(
        "<tr>" + "".join(_cell(c) for c in cells[:-1])
        + f'<td class="{"pass" if cells[-1] == "PASS" else "fail"}">'
          f"{html.escape(cells[-1])}</td></tr>"
        for cells in rows[1:])
    return f'<table class="checks"><tr>{header}</tr>{body}</table>'


def _probe_table(cap: CapacityRecord) -> str:
    """The search's probes in search order: rate, what the server did, and the verdict."""
    cells = []
    for i, (probe, validation, mark) in enumerate(
            zip(cap.probes, cap.validations(), probe_marks(cap), strict=True), start=1):
        outcome = ("GENERATOR-BOUND" if probe.generator_bound else
                   "PASS" if probe.slo_passed else "FAIL")
        waited = (f"after {probe.settle_s:.1f} s for the server to go quiet"
                  if probe.settle_s is not None and probe.settle_s >= 1 else "")
        notes = [*(["validation"] if validation else []), *(["repeat"] if probe.repeat else []),
                 *([waited] if waited else []), *probe.failure_reasons]
        cells.append(
            f"<tr><td>{i}</td>{_cell(format_figure(probe.rate, 'rps'))}"
            f"{_cell(format_figure(probe.achieved_rps, 'rps'))}"
            f"{_cell(format_figure(probe.p95_ms, 'ms'))}"
            f"{_cell(format_figure(probe.error_rate, 'percent'))}"
            f'<td class="{"pass" if mark == "✓" else "fail"}">{html.escape(outcome)}</td>'
            f"{_cell('; '.join(notes))}</tr>")
    return ('<table class="probes"><tr><th>probe</th><th>offered</th><th>achieved</th>'
            "<th>p95</th><th>errors</th><th>SLO</th><th>notes</th></tr>"
            f"{''.join(cells)}</table>")


def _capacity_headline(cap: CapacityRecord | None) -> str:
    """A capacity test's conclusion as the row's headline (empty for other runs)."""
    if cap is None or not cap.describe:
        return ""
    return f'<p class="capacity-headline">{html.escape(cap.describe)}</p>'


def _capacity_details(cap: CapacityRecord | None) -> str:
    """A capacity search's charts and probe table (empty for other runs)."""
    if cap is None or not cap.probes:
        return ""
    return capacity_charts(cap) + _probe_table(cap)


def _run_rows(row: SummaryRow) -> str:
    verdict = row.verdict
    links = " ".join(f'<a href="{html.escape(name)}">{html.escape(kind)}</a>'
                     for kind, name in row.files.items())
    headline = _capacity_headline(row.capacity)
    shown = {f"note: {row.capacity.describe}"} if headline and row.capacity else set()
    details = "".join(f"<li>{html.escape(p)}</li>" for p in row.failed_checks + row.problems
                      if p not in shown)
    figures = [row.mode, format_figure(row.users, "count"), format_figure(row.requests, "count"),
               format_figure(row.rps, "rps"), format_figure(row.p95_ms, "ms"),
               format_figure(row.p99_ms, "ms"), format_figure(row.error_rate, "percent")]
    return (f'<tr class="{html.escape(verdict)}"><td>{html.escape(row.test)}</td>'
            f'<td class="verdict">{html.escape(verdict.upper())}</td>'
            + "".join(_cell(f) for f in figures) + f"<td>{links}</td></tr>"
            f'<tr class="detail"><td colspan="10">{headline}{_checks_table(row)}'
            f"<ul>{details}</ul>{_capacity_details(row.capacity)}{_extras(row)}</td></tr>")


def render_index(rows: Sequence[SummaryRow]) -> str:
    """The page's HTML."""
    passed = sum(1 for r in rows if r.verdict == "passed")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-loadgate report</title>
<style>{STYLE}</style></head><body>
<h1>pytest-loadgate</h1>
<p id="summary">{passed} of {len(rows)} load tests passed · generated
{html.escape(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>
<table id="runs"><tr><th>test</th><th>verdict</th><th>mode</th><th>users</th><th>requests</th>
<th>rps</th><th>p95</th><th>p99</th><th>errors</th><th>reports</th></tr>
{''.join(_run_rows(row) for row in rows)}
</table></body></html>
"""


def write_index(report_dir: Path, rows: Sequence[SummaryRow]) -> Path:
    """Write the session's ``index.html`` into ``report_dir``; return its path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / INDEX_NAME
    path.write_text(render_index(rows), encoding="utf-8")
    return path
