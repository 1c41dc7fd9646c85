"""The session's markdown summary appended to a CI job summary (GitHub's GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_loadgate.report.markdown import summary_markdown
from pytest_loadgate.report.schema import SummaryRow

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


#: Set by pytest while a test runs: a session that sees it at its end runs inside another
#: session's test (pytester), whose own summary is the one the job wants.
NESTED_ENV = "PYTEST_CURRENT_TEST"


def step_summary_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the job summary goes: ``$GITHUB_STEP_SUMMARY``; None when unset or empty, and
    in a pytest session nested in another's test."""
    value = environ.get(STEP_SUMMARY_ENV, "").strip()
    if not value or environ.get(NESTED_ENV):
        return None
    return Path(value)


def append_step_summary(path: Path, rows: Sequence[SummaryRow], *,
                        index: Path | None = None) -> None:
    """Append the runs' markdown summary (and where the index is) to ``path``."""
    text = summary_markdown(rows)
    if index is not None:
        text += f"\nReports: `{index}`\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
