"""How fast a session's reports open in Chromium: ``index.html`` and every per-test report.

    .venv/bin/python bench/report_open.py [REPORT_DIR] [--goal 2.0] [--repeats 3]

Issue #12 asks that the reports of long runs stay usable: the session ``index.html`` and the
per-test report of a 10-minute run open in Chromium within 2 s. Point this at the report
directory of a session that had such a run (``make full`` writes one to ``reports/``; its
stress test runs 10 minutes) and it opens, in Debian's headless Chromium through Playwright
(the same browser, flags and "rendered" test as ``tests/unit/report/browser_driver.py``):

- ``index.html``: from navigation to its ``load`` event with the runs table in the page;
- each per-test Locust report (``*.html`` beside it): from navigation until Locust's React app
  has rendered its statistics tables and painted every chart canvas.

Each page is opened ``--repeats`` times in a fresh page (the first open includes Chromium's
warm-up); the median is judged against ``--goal`` seconds. It prints one line per page with
its size, the run length read from its JSON report, and the times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "report"))
from browser_driver import CHROMIUM, CHROMIUM_ARGS, LOCUST_RENDERED, TIMEOUT_MS  # noqa: E402
from playwright.sync_api import Browser, sync_playwright  # noqa: E402


def open_index(browser: Browser, path: Path) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        page.wait_for_selector("#runs", timeout=TIMEOUT_MS)
        return time.perf_counter() - started
    finally:
        page.close()


def open_locust(browser: Browser, path: Path) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        page.wait_for_function(LOCUST_RENDERED, timeout=TIMEOUT_MS, polling=50)
        return time.perf_counter() - started
    finally:
        page.close()


def run_length(html: Path) -> str:
    data = html.with_suffix(".json")
    try:
        return f"{json.loads(data.read_text())['duration_s']:.0f} s run"
    except (OSError, ValueError, KeyError):
        return "run length unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report_dir", nargs="?", default=str(ROOT / "reports"))
    parser.add_argument("--goal", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.report_dir)
    index = folder / "index.html"
    pages = sorted(p for p in folder.glob("*.html") if p.name != "index.html")
    if not index.is_file():
        print(f"no index.html in {folder}: run a session first (make full)", file=sys.stderr)
        return 2
    worst = 0.0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS, timeout=TIMEOUT_MS * 3)
        try:
            for path, opener, what in ([(index, open_index, "session index")]
                                       + [(p, open_locust, run_length(p)) for p in pages]):
                times = [opener(browser, path) for _ in range(args.repeats)]
                median = statistics.median(times)
                worst = max(worst, median)
                print(f"{path.name:60s} {path.stat().st_size / 1024:8.0f} KiB  {what:16s}"
                      f" median {median:5.2f} s  (all: {', '.join(f'{t:.2f}' for t in times)})")
        finally:
            browser.close()
    verdict = "PASS" if worst <= args.goal else "FAIL"
    print(f"slowest page median {worst:.2f} s, goal <= {args.goal:g} s: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
