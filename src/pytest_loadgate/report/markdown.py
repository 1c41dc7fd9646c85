"""Summary rows as markdown: a CI job summary (``GITHUB_STEP_SUMMARY``) or a PR comment."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_loadgate.report.check_table import check_cells
from pytest_loadgate.report.schema import SummaryRow
from pytest_loadgate.report.terminal import FIGURE_COLUMNS, figure_cells
from pytest_loadgate.report.units import format_delta, unit_of

VERDICT_MARK = {"passed": "✅ passed", "failed": "❌ failed", "interrupted": "⚠️ interrupted"}


def cell(text: str) -> str:
    """Text made safe for a markdown table cell (pipes and line breaks)."""
    return text.replace("|", "\\|").replace("\n", " ")


def one_line(text: str) -> str:
    return " ".join(text.split())


def code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]],
          right: Sequence[bool] | None = None) -> list[str]:
    """A markdown table; ``right`` marks right-aligned (figure) columns."""
    align = right or [False] * len(header)
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---:" if r else "---" for r in align) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def regression_lines(rows: Sequence[SummaryRow]) -> list[str]:
    """Each check against a baseline: baseline median, this run, the change, the limit."""
    body = []
    for row in rows:
        reference = row.reference_p50_ms
        for c in row.regression_checks():
            scope, threshold, limit, measured, baseline, verdict = check_cells(
                c, reference_p50_ms=reference)
            body.append([code(row.test), scope, threshold.removesuffix(" vs baseline"),
                         baseline, measured, format_delta(c.measured, c.baseline,
                                                          unit_of(c.threshold)),
                         limit, verdict])
    if not body:
        return []
    return ["", "**Against the baseline** (its median of up to 5 runs)", "",
            *table(("test", "scope", "metric", "baseline", "this run", "change", "limit",
                    "verdict"), body, (False, False, False, True, True, True, True, False))]


def summary_markdown(rows: Sequence[SummaryRow], *, title: str = "pytest-loadgate") -> str:
    """Verdicts and key figures per run, then what failed and how each run moved against
    its baseline."""
    passed = sum(1 for r in rows if r.verdict == "passed")
    lines = [f"### {title}: {passed} of {len(rows)} load run(s) passed", ""]
    lines += table(("test", "verdict", *(h for h, _, _ in FIGURE_COLUMNS)),
                   [[code(r.test), VERDICT_MARK.get(r.verdict, r.verdict), *figure_cells(r)]
                    for r in rows],
                   (False, False, *(True for _ in FIGURE_COLUMNS)))
    trouble = [r for r in rows if r.failed_checks or r.problems or r.unreliable_reasons]
    if trouble:
        lines += ["", "**What failed or needs a look**", ""]
        for r in trouble:
            lines.append(f"- {code(r.test)}")
            lines += [f"  - {one_line(text)}" for text in r.failed_checks]
            lines += [f"  - UNRELIABLE: {one_line(text)}" for text in r.unreliable_reasons]
            lines += [f"  - {one_line(text)}" for text in r.problems]
    lines += regression_lines(rows)
    return "\n".join(lines) + "\n"
