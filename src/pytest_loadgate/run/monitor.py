"""What else a run watches: the server's RSS and CPU, the generator's own CPU, watched URLs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

RESOURCE_INTERVAL_SEC = 1.0
URL_POLL_INTERVAL_SEC = 2.0


#: A watched URL whose answers took this share of the run gets a note.
WATCHER_COST_NOTE_SHARE = 0.05
#: ... and at least this long in all: two polls of a sub-second race are not a load.
WATCHER_COST_NOTE_MIN_SEC = 0.5
PRESSURE_PATH = "/proc/pressure/cpu"
STAT_PATH = "/proc/stat"


@dataclass(frozen=True)
class ResourceSample:
    at_s: float
    cpu_percent: float
    rss_mb: float


def process_tree(proc: psutil.Process) -> list[psutil.Process]:
    """``proc`` and its descendants (only ``proc`` once it can no longer list them)."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


class ProcessMonitor:
    """Samples CPU (percent of one core, summed over the process tree) and RSS of a process."""

    def __init__(self, pid: int, *, tree: bool = True) -> None:
        self.pid = pid
        self.tree = tree
        self.samples: list[ResourceSample] = []
        self._known: dict[int, psutil.Process] = {}
        self.sample(0.0, prime=True)

    def sample(self, at_s: float, *, prime: bool = False) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        cpu = 0.0
        rss = 0
        for proc in process_tree(root) if self.tree else [root]:
            known = self._known.setdefault(proc.pid, proc)
            try:
                cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
            except psutil.Error:
                continue
        if not prime:
            self.samples.append(ResourceSample(round(at_s, 2), round(cpu, 1),
                                               round(rss / 2**20, 1)))

    def summary(self, start_s: float, end_s: float) -> dict[str, float] | None:
        """CPU and RSS figures over a window; RSS growth = last minus first sample in it."""
        inside = [s for s in self.samples if start_s <= s.at_s <= end_s] or self.samples[-1:]
        if not inside:
            return None
        return {
            "cpu_avg": round(sum(s.cpu_percent for s in inside) / len(inside), 1),
            "cpu_max": max(s.cpu_percent for s in inside),
            "rss_start_mb": inside[0].rss_mb,
            "rss_end_mb": inside[-1].rss_mb,
            "rss_max_mb": max(s.rss_mb for s in inside),
            "rss_growth_mb": round(inside[-1].rss_mb - inside[0].rss_mb, 1),
        }

    def as_list(self) -> list[dict[str, float]]:
        return [asdict(s) for s in self.samples]


@dataclass
class WatchedUrl:
    """A URL polled during the run (e.g. /health, /summary); keeps the last answer."""

    url: str
    polls: int = 0
    failures: int = 0
    last_status: int | None = None
    last_body: Any = None
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The watcher's own cost: time spent waiting on its answers (the server's work for it).
    busy_s: float = 0.0
    max_poll_s: float = 0.0

    def poll(self, at_s: float) -> None:
        self.polls += 1
        started = time.perf_counter()
        try:
            self._poll(at_s)
        finally:
            took = time.perf_counter() - started
            self.busy_s += took
            self.max_poll_s = max(self.max_poll_s, took)

    def cost_share(self, run_s: float) -> float:
        """Share of the run's time spent answering this watcher (0-1)."""
        return self.busy_s / run_s if run_s > 0 else 0.0

    def _poll(self, at_s: float) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                status, raw = resp.status, resp.read(65536)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(65536)
        except (urllib.error.URLError, OSError) as exc:
            self.failures += 1
            self.last_status, self.last_error = None, str(getattr(exc, "reason", exc))
            self.history.append({"at_s": round(at_s, 2), "status": None})
            return
        if not 200 <= status < 300:
            self.failures += 1
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")[:500]
        self.last_status, self.last_body, self.last_error = status, body, None
        self.history.append({"at_s": round(at_s, 2), "status": status})

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "polls": self.polls, "failures": self.failures,
                "last_status": self.last_status, "last_body": self.last_body,
                "last_error": self.last_error,
                "poll_mean_ms": round(self.busy_s / self.polls * 1000, 3) if self.polls else None,
                "poll_max_ms": round(self.max_poll_s * 1000, 3)}


def watcher_cost_notes(watched: Sequence[WatchedUrl], run_s: float) -> list[str]:
    """Name each watched URL whose answers took a noticeable share of the run: it loads the
    server it watches (e.g. an aggregate over every row, growing with the data)."""
    notes = []
    for w in watched:
        share = w.cost_share(run_s)
        if w.polls and share >= WATCHER_COST_NOTE_SHARE and w.busy_s >= WATCHER_COST_NOTE_MIN_SEC:
            notes.append(f"watched {w.url} cost {share * 100:.1f}% of the run ({w.polls} polls,"
                         f" {w.busy_s / w.polls * 1000:.0f} ms mean,"
                         f" {w.max_poll_s * 1000:.0f} ms max): it may load the server it"
                         " watches")
    return notes


def cpu_stall_total_us(path: str = PRESSURE_PATH) -> int | None:
    """Linux pressure-stall total: microseconds some task waited for a CPU; None if unknown."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("some "):
                    return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_steal_ticks(path: str = STAT_PATH) -> tuple[int, int] | None:
    """``(steal, total)`` CPU ticks of all CPUs since boot (``/proc/stat``); None if unknown."""
    try:
        with open(path) as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    try:
        ticks = [int(v) for v in fields[1:]]
    except ValueError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guests are already
    # counted in user and nice.
    return ticks[7], sum(ticks[:8])


def _window_ends(samples: Sequence[tuple[float, ...]], start_s: float, end_s: float
                 ) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """First and last of the (time-ordered) samples taken within a second of the window."""
    inside = [s for s in samples if start_s - 1.0 <= s[0] <= end_s + 1.0]
    return (inside[0], inside[-1]) if len(inside) >= 2 else None


def steal_share(samples: list[tuple[float, int, int]], start_s: float, end_s: float
                ) -> float | None:
    """Share of all CPU time in ``[start_s, end_s]`` that the hypervisor stole (from samples
    ``(at_s, steal_ticks, total_ticks)``)."""
    ends = _window_ends(samples, start_s, end_s)
    if ends is None or ends[1][2] <= ends[0][2]:
        return None
    (_, s0, t0), (_, s1, t1) = ends
    return max(0.0, min(1.0, (s1 - s0) / (t1 - t0)))


def stall_share(samples: list[tuple[float, int]], start_s: float, end_s: float) -> float | None:
    """Share of ``[start_s, end_s]`` in which some task waited for a CPU (from pressure
    samples ``(at_s, total_us)``)."""
    ends = _window_ends(samples, start_s, end_s)
    if ends is None or ends[1][0] <= ends[0][0]:
        return None
    (t0, v0), (t1, v1) = ends
    return max(0.0, min(1.0, (v1 - v0) / 1e6 / (t1 - t0)))
