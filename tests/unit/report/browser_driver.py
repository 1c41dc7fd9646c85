"""Look at a session's reports in headless Chromium and print what a person would see, as JSON.

Run as ``python browser_driver.py INDEX_HTML SHOT_DIR``. It opens ``index.html``, reads the
verdicts, figures and check tables as rendered (text and colours), screenshots the page, then
follows the failed test's ``html`` link to Locust's own report, waits until Locust's React app
has rendered its statistics tables and painted its charts, and screenshots that too.

This runs in a process of its own on purpose: pytest-loadgate patches the pytest process for
gevent, and Playwright's synchronous API drives its own event loop and greenlets, so the two are
kept apart. The browser is Debian's ``/usr/bin/chromium``; Playwright never downloads one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
#: Flags Chromium needs to run headless as root in a container, without reaching the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
TIMEOUT_MS = 10_000

READ_INDEX = """() => {
  const text = (el) => (el ? el.innerText.trim() : null);
  const rows = Array.from(document.querySelectorAll('#runs tr.passed, #runs tr.failed,'
                                                    + ' #runs tr.interrupted'));
  return {
    title: document.title,
    heading: text(document.querySelector('h1')),
    summary: text(document.querySelector('#summary')),
    header: Array.from(document.querySelectorAll('#runs > tbody > tr:first-child th, '
                                                 + '#runs > tr:first-child th'))
                 .map((th) => th.innerText.trim()),
    runs: rows.map((tr) => {
      const verdict = tr.querySelector('.verdict');
      const detail = tr.nextElementSibling && tr.nextElementSibling.classList.contains('detail')
                     ? tr.nextElementSibling : null;
      return {
        cls: tr.className,
        cells: Array.from(tr.children).map((td) => td.innerText.trim()),
        verdict: text(verdict),
        verdict_color: verdict ? getComputedStyle(verdict).color : null,
        verdict_visible: verdict ? verdict.getBoundingClientRect().height > 0 : false,
        links: Object.fromEntries(Array.from(tr.querySelectorAll('a'))
                                       .map((a) => [a.innerText.trim(), a.href])),
        checks: detail ? Array.from(detail.querySelectorAll('table.checks tr'))
                               .slice(1).map((r) => Array.from(r.children)
                               .map((td) => td.innerText.trim())) : [],
        check_colors: detail ? Array.from(detail.querySelectorAll('table.checks td.pass, '
                                                                  + 'table.checks td.fail'))
                               .map((td) => [td.innerText.trim(), getComputedStyle(td).color])
                             : [],
        notes: detail ? Array.from(detail.querySelectorAll(':scope > td > ul > li'))
                              .map((li) => li.innerText.trim()) : [],
        charts: detail ? Array.from(detail.querySelectorAll('figure.chart')).map((fig) => {
          const svg = fig.querySelector('svg');
          const box = svg.getBoundingClientRect();
          return {
            caption: text(fig.querySelector('figcaption')),
            width: box.width, height: box.height,
            axis_labels: Array.from(svg.querySelectorAll('text.axis-label'))
                              .map((t) => t.textContent.trim()),
            x_ticks: Array.from(svg.querySelectorAll('.axis.x text:not(.axis-label)'))
                          .map((t) => t.textContent.trim()),
            y_ticks: Array.from(svg.querySelectorAll('.axis.y text:not(.axis-label)'))
                          .map((t) => t.textContent.trim()),
            lines: Array.from(svg.querySelectorAll('path.series')).map((p) => {
              const b = p.getBBox();
              return {label: p.querySelector('title').textContent, color: p.getAttribute('stroke'),
                      width: b.width, height: b.height};
            }),
            window_width: svg.querySelector('rect.window')
                          ? svg.querySelector('rect.window').getBBox().width : 0,
            legend: Array.from(fig.querySelectorAll('ul.legend li'))
                         .map((li) => li.innerText.trim()),
          };
        }) : [],
      };
    }),
  };
}"""

# Locust's report ships an empty <div id="root"> and a script; only React fills it in.
LOCUST_RENDERED = """() => {
  const rows = document.querySelectorAll('#root table tbody tr');
  const canvases = Array.from(document.querySelectorAll('#root canvas'));
  return rows.length > 0 && canvases.length > 0 && canvases.every((c) => {
    const ctx = c.getContext('2d');
    if (!ctx || !c.width || !c.height) return false;
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;  // pixels neither transparent nor white: axes, lines, labels
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) inked++;
    }
    return inked > 500;
  });
}"""

READ_LOCUST = """() => {
  const text = (el) => el.innerText.trim();
  const tables = Array.from(document.querySelectorAll('#root table')).map((t) => ({
    header: Array.from(t.querySelectorAll('thead th')).map(text),
    rows: Array.from(t.querySelectorAll('tbody tr'))
               .map((r) => Array.from(r.children).map(text)),
  }));
  return {
    title: document.title,
    headings: Array.from(document.querySelectorAll('#root h1, #root h2, #root h3, #root h4,'
                                                   + ' #root h5, #root h6')).map(text),
    tables,
    canvases: Array.from(document.querySelectorAll('#root canvas'))
                   .map((c) => [c.width, c.height]),
    body_text: document.body.innerText.slice(0, 2000),
  };
}"""


def look_at_index(page: Page, index: Path, shot: Path) -> dict[str, Any]:
    """Open ``index.html``, read what it shows, screenshot it."""
    page.goto(index.resolve().as_uri())
    page.wait_for_selector("#runs", timeout=TIMEOUT_MS)
    seen: dict[str, Any] = page.evaluate(READ_INDEX)
    page.screenshot(path=str(shot), full_page=True)
    return seen


def look_at_locust(page: Page, link_text: str, row_class: str, shot: Path) -> dict[str, Any]:
    """Follow a run's report link from the index; wait for Locust's charts; screenshot."""
    page.click(f"#runs tr.{row_class} a:text-is('{link_text}')")
    page.wait_for_load_state("load", timeout=TIMEOUT_MS)
    started = time.monotonic()
    page.wait_for_function(LOCUST_RENDERED, timeout=TIMEOUT_MS, polling=100)
    rendered_s = time.monotonic() - started
    page.wait_for_timeout(500)  # chart line animations end; only for a complete screenshot
    seen: dict[str, Any] = page.evaluate(READ_LOCUST)
    seen["url"] = page.url
    seen["rendered_after_s"] = round(rendered_s, 2)
    page.screenshot(path=str(shot), full_page=True)
    return seen


def main(argv: list[str]) -> int:
    """Print ``{"browser", "index", "locust"}`` as JSON; screenshots go to SHOT_DIR."""
    index, shots = Path(argv[0]), Path(argv[1])
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS, timeout=TIMEOUT_MS * 3)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            result = {
                "browser": browser.version,
                "index": look_at_index(page, index, shots / "index.png"),
                "locust": look_at_locust(page, "html", "failed", shots / "locust.png"),
                "page_errors": errors,
            }
        finally:
            browser.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
