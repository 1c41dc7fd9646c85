"""Summary rows as plain-text lines: pytest's terminal summary and ``loadgate summary``."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_loadgate.capacity.probe import format_rps
from pytest_loadgate.report.schema import CapacityRecord, SummaryRow
from pytest_loadgate.report.units import Unit, format_figure

#: The figure columns of a summary table: header, row field, unit.
FIGURE_COLUMNS: tuple[tuple[str, str, Unit], ...] = (
    ("requests", "requests", "count"),
    ("rps", "rps", "rps"),
    ("p95", "p95_ms", "ms"),
    ("p99", "p99_ms", "ms"),
    ("errors", "error_rate", "percent"),
)


def figure_cells(row: SummaryRow) -> list[str]:
    """The row's figures, each formatted by its unit, in :data:`FIGURE_COLUMNS` order."""
    return [format_figure(getattr(row, name), unit) for _, name, unit in FIGURE_COLUMNS]


def fault_summary(row: SummaryRow) -> list[str]:
    """The open model's schedule and any censored requests, one line each."""
    lines = []
    o = row.open
    if o:
        service = row.service_p95_ms
        lines.append(
            f"open model: {format_figure(o.get('started'), 'count')} of"
            f" {format_figure(o.get('scheduled'), 'count')} scheduled iterations started"
            f" ({format_figure(o.get('send_rate'), 'percent')}, asked"
            f" {format_figure(o.get('asked_rate'), 'rps')}),"
            f" {format_figure(o.get('dropped'), 'count')} dropped,"
            f" {format_figure(o.get('peak_busy'), 'count')} of"
            f" {format_figure(o.get('max_users'), 'count')} users busy at most, start lateness"
            f" p99 {format_figure(o.get('lateness_p99_ms'), 'ms')}"
            + (f"; p95 {format_figure(row.p95_ms, 'ms')} from the scheduled start,"
               f" {format_figure(service, 'ms')} service time" if service is not None else ""))
    if row.censored:
        lines.append(f"{row.censored} request(s) unanswered when the run ended (counted as"
                     " failed)")
    return lines


def probe_marks(cap: CapacityRecord) -> list[str]:
    """Per probe: ``✓`` it met the SLO, ``✗`` it failed it, ``⚠`` the generator fell short
    (the probe says nothing about the server)."""
    return ["⚠" if p.generator_bound else "✓" if p.slo_passed else "✗" for p in cap.probes]


def probe_line(cap: CapacityRecord) -> str | None:
    """A capacity search's probes in search order, one line: ``probes: 50 ✓  100 ✓  400 ✗
    300 ✓ (validation)``, a failed probe's repeat marked ``(repeat)``; None without probes."""
    if not cap.probes:
        return None
    parts = [f"{format_rps(p.rate)} {mark}" + (" (validation)" if validation else "")
             + (" (repeat)" if p.repeat else "")
             for p, mark, validation in zip(cap.probes, probe_marks(cap), cap.validations(),
                                            strict=True)]
    legend = "  (⚠ generator-bound)" if any(p.generator_bound for p in cap.probes) else ""
    return "probes: " + "  ".join(parts) + legend


def capacity_summary(row: SummaryRow) -> list[str]:
    """A capacity run's probe line (none for other runs)."""
    line = probe_line(row.capacity) if row.capacity else None
    return [line] if line else []


def format_summary(rows: Sequence[SummaryRow], *, details: bool = True) -> list[str]:
    """One line per run with its key figures; with ``details``, then its failed checks, why
    its figures may be unreliable, its problems and fault lines, and a capacity search's
    probes, indented."""
    width = max([len(r.test) for r in rows] + [4])
    cells = [figure_cells(r) for r in rows]
    widths = [max([len(header), 8] + [len(c[i]) for c in cells])
              for i, (header, _, _) in enumerate(FIGURE_COLUMNS)]
    lines = [f"{'test'.ljust(width)}  {'verdict':11}  "
             + "  ".join(h.rjust(w) for (h, _, _), w in zip(FIGURE_COLUMNS, widths, strict=True))]
    for r, row_cells in zip(rows, cells, strict=True):
        lines.append(f"{r.test.ljust(width)}  {r.verdict.upper():11}  "
                     + "  ".join(c.rjust(w) for c, w in zip(row_cells, widths, strict=True)))
        if details:
            lines += [f"    {line}" for line in [
                *r.failed_checks, *(f"UNRELIABLE: {u}" for u in r.unreliable_reasons),
                *r.problems, *fault_summary(r), *capacity_summary(r)]]
    return lines
