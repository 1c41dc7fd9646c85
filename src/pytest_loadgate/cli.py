"""The ``loadgate`` command: what users do with load reports outside pytest.

- ``loadgate summary REPORT_DIR... [--format table|csv|markdown]``: one row per run report;
- ``loadgate compare REPORT.json [--baseline-dir DIR]``: a run against its stored baseline,
  per endpoint, as markdown for a pull-request comment;
- ``loadgate worker --master-host H --master-port P``: a load worker serving every test of
  every session whose master it reaches, token in ``LOADGATE_TOKEN`` (the same as
  ``python -m pytest_loadgate.run.worker ...``).

Errors (a missing directory, no reports, a bad report or baseline) are one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_loadgate.report.schema import ReportError, RunReport, load_run_report

EXIT_ERROR = 2
WORKER_MODULE = "pytest_loadgate.run.worker"
DEFAULT_BASELINE_DIR = Path(".loadgate") / "baselines"
#: Run reports are named ``<YYYYmmdd-HHMMSS>_<test>.json`` (see report.reports).
RUN_REPORT_NAME = re.compile(r"^\d{8}-\d{6}_.+\.json$")
#: Suffixes a run id gets for repeated runs of one test; its baseline is the test's.
RUN_SUFFIX = re.compile(r"-(attempt|calibration)\d+$")


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def run_reports(folder: Path) -> list[Path]:
    """The run reports in ``folder``, oldest first."""
    if not folder.is_dir():
        raise CliError(f"{folder}: no such directory")
    found = sorted(p for p in folder.iterdir() if RUN_REPORT_NAME.match(p.name))
    if not found:
        raise CliError(f"{folder}: no run reports (<timestamp>_<test>.json) in it")
    return found


def _load(path: Path) -> RunReport:
    try:
        return load_run_report(path)
    except ReportError as exc:
        raise CliError(str(exc)) from None


def summary(folders: Sequence[Path], fmt: str) -> str:
    """The runs of every report in ``folders`` as a table, CSV or markdown."""
    from pytest_loadgate.report.rows import summary_row_of

    paths = [path for folder in folders for path in run_reports(folder)]
    rows = [summary_row_of(_load(path)) for path in paths]
    if fmt == "csv":
        from pytest_loadgate.report.csv_summary import summary_csv

        return summary_csv(rows, [str(p) for p in paths])
    if fmt == "markdown":
        from pytest_loadgate.report.markdown import summary_markdown

        return summary_markdown(rows)
    from pytest_loadgate.report.terminal import format_summary

    return "\n".join(format_summary(rows)) + "\n"


def compare(report_path: Path, baseline_dir: Path) -> str:
    """The run in ``report_path`` against its baseline in ``baseline_dir``, as markdown."""
    from pytest_loadgate.report.compare import compare_markdown
    from pytest_loadgate.verdict.baseline import BaselineStore

    report = _load(report_path)
    if not baseline_dir.is_dir():
        raise CliError(f"{baseline_dir}: no such baseline directory (see --baseline-dir)")
    store = BaselineStore(baseline_dir)
    keys = list(dict.fromkeys([report.test, RUN_SUFFIX.sub("", report.test)]))
    for key in keys:
        path = store.path(key)
        try:
            baseline = store.read(key)
        except (OSError, ValueError) as exc:
            raise CliError(f"{path}: not a readable baseline ({type(exc).__name__}: {exc})"
                           ) from None
        if baseline is not None:
            return compare_markdown(report, baseline, path, report_path)
    raise CliError(f"no baseline for {report.test} in {baseline_dir} (looked for"
                   f" {store.path(keys[-1]).name}); record one with"
                   " pytest --loadgate-baseline=add")


def run_worker(args: Sequence[str]) -> None:
    """Become ``python -m pytest_loadgate.run.worker ARGS`` (never returns)."""
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", WORKER_MODULE, *args])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loadgate", description="pytest-loadgate's reports and workers outside pytest.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("summary", help="one row per run report in REPORT_DIR",
                       description="One row per run report (<timestamp>_<test>.json) in each"
                       " REPORT_DIR: test, verdict, requests, rps, p95, p99, error rate,"
                       " failed checks.")
    s.add_argument("report_dirs", nargs="+", type=Path, metavar="REPORT_DIR")
    s.add_argument("--format", choices=("table", "csv", "markdown"), default="table")
    c = sub.add_parser("compare", help="a run against its baseline, as markdown",
                       description="A run's figures per endpoint beside its stored baseline's"
                       " median, as markdown for a pull-request comment.")
    c.add_argument("report", type=Path, metavar="REPORT.json")
    c.add_argument("--baseline-dir", type=Path, default=DEFAULT_BASELINE_DIR,
                   help=f"where baselines live (default {DEFAULT_BASELINE_DIR})")
    sub.add_parser("worker", add_help=False,
                   help="a load worker for distributed runs: --master-host H --master-port P,"
                   " token in LOADGATE_TOKEN (loadgate worker --help)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; 0 on success, 2 on an error (one line on stderr)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["worker"]:
        run_worker(args_list[1:])
    args = parser().parse_args(args_list)
    try:
        if args.command == "summary":
            text = summary(args.report_dirs, args.format)
        else:
            text = compare(args.report, args.baseline_dir)
    except CliError as exc:
        print(f"loadgate {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
