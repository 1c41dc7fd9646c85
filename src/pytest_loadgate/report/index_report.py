"""The session's overview: terminal summary lines and ``index.html`` (no Locust import here)."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_loadgate.verdict.checks import format_value
from pytest_loadgate.verdict.reliability import MACHINE_BUSY_STALL, MACHINE_BUSY_STEAL

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
        lines += [f"    {line}" for line in fault_summary(r)]
    return lines


def fault_summary(row: dict[str, Any]) -> list[str]:
    """The open model's schedule and any censored requests, one line each."""
    lines = []
    o = row.get("open")
    if o:
        service = row.get("service_p95_ms")
        lines.append(
            f"open model: {o['started']} of {o['scheduled']} scheduled iterations started"
            f" ({o['send_rate'] * 100:.1f}%, asked {o['asked_rate']:.1f}/s), {o['dropped']}"
            f" dropped, {o['peak_busy']} of {o['max_users']} users busy at most, start"
            f" lateness p99 {o['lateness_p99_ms']:.1f} ms"
            + (f"; p95 {format_value('p95_ms', row.get('p95_ms'))} from the scheduled start,"
               f" {format_value('p95_ms', service)} service time" if service is not None
               else ""))
    if row.get("censored"):
        lines.append(f"{row['censored']} request(s) unanswered when the run ended (counted as"
                     " failed)")
    return lines


def _cell(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind:
        return html.escape(format_value(kind, value))
    return html.escape(str(value))


def _nums(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, int | float) else 0.0 for v in values]


def timeline_svg(points: Sequence[dict[str, Any]], window: Sequence[float] | None,
                 width: int = 640, height: int = 160) -> str:
    """An inline SVG of rps and p95 per second, with the verdict window shaded."""
    points = [p for p in points if p.get("p95") is not None]
    if len(points) < 2:
        return ""
    times = _nums([p.get("t") for p in points])
    t_max = max(times[-1] + 1.0, 1.0)
    pad = 30

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / t_max

    def line(values: list[float], css: str) -> str:
        top = max(values) or 1.0
        coords = " ".join(f"{x(t):.1f},{height - pad - (height - 2 * pad) * v / top:.1f}"
                          for t, v in zip(times, values, strict=True))
        return f'<polyline class="{css}" fill="none" points="{coords}"/>'

    rps = _nums([p.get("rps") for p in points])
    p95 = _nums([p.get("p95") for p in points])
    shade = ""
    if window and len(window) == 2:
        shade = (f'<rect class="window" x="{x(window[0]):.1f}" y="{pad / 2}"'
                 f' width="{max(x(window[1]) - x(window[0]), 0):.1f}" height="{height - pad}"/>')
    return (f'<svg class="timeline" width="{width}" height="{height}" role="img"'
            f' aria-label="requests per second and p95 per second">{shade}'
            f'{line(rps, "rps")}{line(p95, "p95")}'
            f'<text x="{pad}" y="12">rps (max {max(rps):.0f}/s)</text>'
            f'<text x="{pad + 160}" y="12" class="p95">p95 (max {max(p95):.1f} ms)</text>'
            f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{t_max:.0f}s</text>'
            "</svg>")


def _extras(row: dict[str, Any]) -> str:
    parts = []
    server = row.get("server_resources")
    if server:
        parts.append(f"<li>server: CPU avg {server['cpu_avg']:.0f}% (max {server['cpu_max']:.0f}%),"
                     f" RSS {server['rss_start_mb']:.1f} → {server['rss_end_mb']:.1f} MB"
                     f" (max {server['rss_max_mb']:.1f})</li>")
    if row.get("generator_cpu_avg") is not None:
        saturated = " — SATURATED" if row.get("generator_saturated") else ""
        parts.append(f"<li>load generator: CPU avg {row['generator_cpu_avg']:.0f}%{saturated}</li>")
    if row.get("machine_stall") is not None:
        busy = " — BUSY" if row["machine_stall"] > MACHINE_BUSY_STALL else ""
        parts.append(f"<li>machine: some task waited for a CPU {row['machine_stall'] * 100:.0f}%"
                     f" of the window{busy}</li>")
    if row.get("machine_steal") is not None:
        parts.append(f"<li>hypervisor steal: {row['machine_steal'] * 100:.1f}% of CPU time"
                     f"{' — BUSY' if row['machine_steal'] > MACHINE_BUSY_STEAL else ''}</li>")
    pace = row.get("pace")
    if pace:
        implied = pace.get("implied_rps")
        implied_text = f"{implied:.0f}" if implied is not None else "an unbounded rate"
        parts.append(f"<li>pace: {pace['achieved_rps']:.0f} rps achieved of"
                     f" {implied_text} implied by waits and response times"
                     f" ({pace['ratio'] * 100:.0f}%)</li>")
    parts += [f"<li>{html.escape(line)}</li>" for line in fault_summary(row)]
    for stall in row.get("stalls") or []:
        parts.append(f"<li><strong>stall</strong>: no response for {stall['duration_s']:.1f} s"
                     f" from {stall['start_s']:.1f} s while {stall['outstanding']} requests"
                     " waited</li>")
    reference = row.get("reference")
    if reference:
        parts.append(f"<li>machine-speed reference: p50 {reference['p50_ms']:.3f} ms,"
                     f" p95 {reference['p95_ms']:.3f} ms over {reference['probes']:.0f}"
                     " probes of a do-nothing server</li>")
    for reason in row.get("unreliable_reasons") or []:
        parts.append(f"<li><strong>UNRELIABLE</strong>: {html.escape(reason)}</li>")
    for w in row.get("watched", []):
        body = html.escape(str(w.get("last_body"))[:300])
        parts.append(f"<li>{html.escape(w['url'])}: last {w.get('last_status')},"
                     f" {w.get('failures', 0)} failed polls"
                     + (f", {w['poll_mean_ms']:.1f} ms a poll" if w.get("poll_mean_ms") else "")
                     + f": <code>{body}</code></li>")
    steps = row.get("steps") or []
    if steps:
        cells = "".join(f"<tr><td>{st['users']}</td><td>{_cell(st['rps'], 'rps')}</td>"
                        f"<td>{_cell(st['p95_ms'], 'p95_ms')}</td>"
                        f"<td>{_cell(st['error_rate'], 'error_rate')}</td></tr>" for st in steps)
        parts.append("<li>steps:<table class=\"steps\"><tr><th>users</th><th>rps</th>"
                     f"<th>p95</th><th>errors</th></tr>{cells}</table></li>")
    chart = timeline_svg(row.get("timeline") or [], row.get("window_s"))
    return (f"<ul>{''.join(parts)}</ul>" if parts else "") + chart


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
               f"<th>verdict</th></tr>{checks}</table><ul>{details}</ul>{_extras(row)}"
               "</td></tr>")
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
table.checks, table.steps {{ margin: .2em 0 .6em 2em; font-size: 90%; }}
svg.timeline {{ margin-left: 2em; font-size: 11px; }}
svg.timeline polyline.rps {{ stroke: #1a73e8; stroke-width: 1.5; }}
svg.timeline polyline.p95 {{ stroke: #e37400; stroke-width: 1.5; }}
svg.timeline text.p95 {{ fill: #e37400; }}
svg.timeline rect.window {{ fill: #e6f4ea; }}
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
