"""Locust's own reports of a run: its HTML page and its CSV tables."""

from __future__ import annotations

import csv
from pathlib import Path

from locust.env import Environment
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV


def write_locust_html(environment: Environment, path: Path) -> None:
    """Locust's HTML report of the run, without its download links."""
    path.write_text(get_html_report(environment, show_download_link=False), encoding="utf-8")


def write_locust_csv(environment: Environment, path: Path) -> None:
    """Locust's request and failure tables, one after the other."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        stats_csv = StatsCSV(environment, PERCENTILES_TO_REPORT)
        stats_csv.requests_csv(writer)
        writer.writerow([])
        stats_csv.failures_csv(writer)
