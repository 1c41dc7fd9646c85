"""The plugin and ``locust --headless`` at the same time, against one server: their throughput
ratio and flatness without the machine's drift between two runs (issue #12, a diagnostic).

    .venv/bin/python bench/side_by_side.py [--length 2m] [--repeats 1] [--users 20]
        [--max-samples N] [--keep]

Why: ``bench/inprocess_vs_cli.py`` runs the plugin and the CLI one after the other, and this
shared 2-core machine drifts by 5-10% between two 10-minute runs, so single pairs scatter
around the plugin's real cost. Here both generators run at once (the same user class and user
count, each in its own process, as in that bench: ``run_inprocess`` and ``run_cli``) against
one ``bench/trivial_app.py`` server. The kernel shares the cores between the two busy
generators evenly, so whatever the machine does, it does to both: in the window where both
were loading, the ratio of their request rates is the ratio of their CPU cost per request.

It holds only while the generators, not the server, set the pace: a server that used most of
a core would share its answers between the two by connection, pulling the ratio towards 1.
So the server's and each generator's share of the cores in the window are printed, and a
ratio from a run where the server used more than ``SERVER_BOUND`` of a core is marked as not
judged.

Figures, over the common window (both loading: from the later start + 3 s to the earlier end
- 1 s, on the wall clock; the CLI's history has whole-second timestamps, about ±0.5 s at each
edge): each side's rps and generator CPU per request, the ratio plugin/CLI, and the first and
last minute of the window for each side (flatness under the same conditions).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import inprocess_vs_cli as ivc
from support import start_trivial_app

SKIP_SEC = 3.0
TAIL_SEC = 1.0
MINUTE_SEC = 60.0
#: Above this share of a core, the server may be what paces both generators.
SERVER_BOUND = 0.85

Points = list[tuple[float, float]]


def on_wall_clock(points: Points, origin: float | None) -> Points:
    if origin is None:
        raise SystemExit("a side has no start time in its report: cannot line them up")
    return [(origin + t, c) for t, c in points]


def cpu_points(side: ivc.Side, column: int) -> Points:
    """The side's CPU samples (column 1: its own, 2: the server's) as wall-clock points."""
    return [(row[0], row[column]) for row in side.proc.cpu_series]


@dataclass
class Window:
    """Both sides over one wall-clock window."""

    start: float
    stop: float
    plugin_rps: float
    cli_rps: float
    plugin_cpu_share: float  # cores
    cli_cpu_share: float
    server_cpu_share: float
    plugin_us: float  # generator CPU per request
    cli_us: float

    @property
    def ratio(self) -> float:
        return self.plugin_rps / self.cli_rps if self.cli_rps else float("nan")


def window(plugin: ivc.Side, cli: ivc.Side, start: float, stop: float) -> Window:
    p_pts = on_wall_clock(plugin.points, plugin.origin_unix)
    c_pts = on_wall_clock(cli.points, cli.origin_unix)
    span = stop - start

    def share(points: Points) -> float:
        return (ivc.cumulative_at(points, stop) - ivc.cumulative_at(points, start)) / span

    p_rps, c_rps = ivc.rate_between(p_pts, start, stop), ivc.rate_between(c_pts, start, stop)
    p_cpu, c_cpu = share(cpu_points(plugin, 1)), share(cpu_points(cli, 1))
    return Window(start, stop, p_rps, c_rps, p_cpu, c_cpu, share(cpu_points(plugin, 2)),
                  p_cpu / p_rps * 1e6 if p_rps else float("nan"),
                  c_cpu / c_rps * 1e6 if c_rps else float("nan"))


def common_span(plugin: ivc.Side, cli: ivc.Side) -> tuple[float, float]:
    """The wall-clock window in which both sides were loading."""
    spans = [ivc.load_span(on_wall_clock(s.points, s.origin_unix)) for s in (plugin, cli)]
    return max(a for a, _ in spans) + SKIP_SEC, min(b for _, b in spans) - TAIL_SEC


def run_together(server: ivc.Server, users: int, seconds: float, where: Path,
                 max_samples: int | None) -> tuple[ivc.Side, ivc.Side]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        plugin = pool.submit(ivc.run_inprocess, server, users, seconds, where / "plugin",
                             max_samples)
        cli = pool.submit(ivc.run_cli, server, users, seconds, where / "cli")
        return plugin.result(), cli.result()


def describe(label: str, w: Window) -> str:
    bound = " (server-bound: not judged)" if w.server_cpu_share > SERVER_BOUND else ""
    return (f"   {label:<14}{w.stop - w.start:6.0f}s  plugin {w.plugin_rps:8.1f} rps"
            f" {w.plugin_us:6.1f} us/req {w.plugin_cpu_share:5.2f} cores | CLI"
            f" {w.cli_rps:8.1f} rps {w.cli_us:6.1f} us/req {w.cli_cpu_share:5.2f} cores |"
            f" server {w.server_cpu_share:4.2f} cores | ratio {w.ratio:.3f}{bound}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=ivc.parse_length, default=120.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--max-samples", type=int, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.length < SKIP_SEC + TAIL_SEC + 5 or args.repeats < 1 or args.users < 1:
        parser.error("need --length >= 9s, --repeats >= 1, --users >= 1")
    root = Path(tempfile.mkdtemp(prefix="loadgate-side-by-side-"))
    try:
        print(ivc.snapshot_plugin(root))
        server = start_trivial_app(root / "server.log", ivc.bench_env())
        ratios: list[float] = []
        flat_rows: list[tuple[float, float]] = []
        try:
            for rep in range(args.repeats):
                plugin, cli = run_together(server, args.users, args.length,
                                           root / f"rep{rep}", args.max_samples)
                notice = server.death_notice()
                if notice:
                    raise SystemExit(notice)
                start, stop = common_span(plugin, cli)
                if stop - start < 5:
                    raise SystemExit(f"the two runs overlapped for {stop - start:.1f} s only")
                print(f"rep {rep + 1}: {args.users} users each, {ivc.fmt_len(args.length)};"
                      f" notes: {plugin.note or '-'} / {cli.note or '-'};"
                      f" plugin verdict {plugin.plugin.get('verdict')}")
                whole = window(plugin, cli, start, stop)
                print(describe("common window", whole))
                if whole.server_cpu_share <= SERVER_BOUND:
                    ratios.append(whole.ratio)
                if stop - start >= 2 * MINUTE_SEC:
                    first = window(plugin, cli, start, start + MINUTE_SEC)
                    last = window(plugin, cli, stop - MINUTE_SEC, stop)
                    print(describe("first minute", first))
                    print(describe("last minute", last))
                    flat_rows.append((last.plugin_rps / first.plugin_rps,
                                      last.cli_rps / first.cli_rps))
                    print(f"   flatness (last / first minute): plugin {flat_rows[-1][0]:.3f},"
                          f" CLI {flat_rows[-1][1]:.3f}")
        finally:
            server.stop()
        if ratios:
            print(f"ratio plugin/CLI side by side: median {statistics.median(ratios):.3f} of"
                  f" {len(ratios)}: {', '.join(f'{r:.3f}' for r in ratios)}")
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
