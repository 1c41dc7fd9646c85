"""Why a run's figures cannot be trusted: a saturated generator, a busy machine, a short pace,
an open-model scheduler that fell behind. Every limit that makes a run UNRELIABLE lives here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_loadgate.verdict.result import LoadResult

#: Above this average CPU (percent of one core) the load generator measured itself.
GENERATOR_SATURATED_CPU = 90.0
#: A generator whose event loop wakes up this late (median) cannot send requests on time,
#: whether it is busy itself or starved of CPU by other processes.
GENERATOR_SATURATED_LAG_MS = 25.0
#: Above this share of the window with some task waiting for a CPU, the machine was too busy
#: (other jobs) for latencies to speak about the server.
MACHINE_BUSY_STALL = 0.30
#: Above this share of all CPU time taken by the hypervisor for other guests (steal), the
#: virtual machine itself ran slow. Measured here (bench/verdict_truth.py, standard load at
#: ~90% of 2 cores, 20 unchanged runs): every false regression alarm came with 4-10% steal,
#: every run with 3% or less passed.
MACHINE_BUSY_STEAL = 0.03


def generator_saturated(generator: Mapping[str, float] | None) -> bool:
    """True when the load generator was the bottleneck: a full core, or a late event loop."""
    if not generator:
        return False
    return (generator["cpu_avg"] > GENERATOR_SATURATED_CPU
            or generator.get("loop_lag_p50_ms", 0.0) > GENERATOR_SATURATED_LAG_MS)


def machine_busy(stall: float | None, steal: float | None) -> bool:
    """True when other work on the machine (or, for a VM, on its host) competed for CPU
    through much of the window."""
    return ((stall is not None and stall > MACHINE_BUSY_STALL)
            or (steal is not None and steal > MACHINE_BUSY_STEAL))


def pace_short(pace: Mapping[str, float] | None, min_pace: float, stalled: bool) -> bool:
    """True when the users reached less than ``min_pace`` of the rate their waits imply."""
    # A stalled server held its users waiting: never the generator's fault.
    return pace is not None and min_pace > 0 and not stalled and pace["ratio"] < min_pace


def open_behind(figures: Mapping[str, float] | None) -> bool:
    """True when the open model's scheduler itself fell behind: iterations started late
    (median lateness over the generator limit) or never reached."""
    if not figures or not figures["scheduled"]:
        return False
    unreached = figures["scheduled"] - figures["started"] - figures["dropped"]
    return (figures["lateness_p50_ms"] > GENERATOR_SATURATED_LAG_MS
            or unreached > max(1, 0.01 * figures["scheduled"]))


def unreliable_reasons(result: LoadResult) -> list[str]:
    """One sentence per reason the run measured the client or the machine, not the server."""
    reasons = []
    if result.generator_saturated:
        gen = result.generator_resources or {}
        lag = gen.get("loop_lag_p50_ms")
        lag_text = f" and its event loop woke up {lag:.0f} ms late (median)" if lag else ""
        reasons.append(
            f"the load generator averaged {gen.get('cpu_avg', 0):.0f}% CPU{lag_text} over the"
            " verdict window, so latencies include its own queueing and throughput is capped"
            " by it, not by the server; run fewer users per process (--loadgate-workers N) or"
            " give the generator its own cores")
    if result.machine_busy:
        # Name only what crossed its limit: a low stall is no evidence for a busy machine.
        causes = []
        stall, steal = result.machine_stall or 0.0, result.machine_steal or 0.0
        if stall > MACHINE_BUSY_STALL:
            causes.append(f"some task waited for a CPU {stall * 100:.0f}% of the verdict window"
                          " (Linux CPU pressure: other jobs, or this test's own server, database"
                          " and generator outgrowing the cores)")
        if steal > MACHINE_BUSY_STEAL:
            causes.append(f"the hypervisor took {steal * 100:.0f}% of the CPU time for other"
                          " guests (steal)")
        reasons.append(
            f"the machine was busy: {' and '.join(causes)}, so latencies include waiting for a"
            " core, not only the server's work; run load tests on a machine without other"
            " jobs, or with fewer users per core")
    if result.pace_short and result.pace is not None:
        pace = result.pace
        reasons.append(
            f"the users reached {pace['achieved_rps']:.0f} rps, {pace['ratio'] * 100:.0f}% of"
            f" the {pace['implied_rps']:.0f} rps their waits and response times imply"
            f" (min_pace={result.spec.min_pace:g}): of {pace['user_s']:.0f} user-seconds,"
            f" {pace['request_s']:.0f} went to requests and {pace['wait_s']:.0f} to waits; the"
            " rest went to task code, sleeps outside wait_time or a late event loop, so the"
            " load asked for was not applied (min_pace=0 on the marker turns this check off"
            " for tasks that pause on purpose)")
    if result.open_behind and result.open is not None:
        o = result.open
        unreached = o["scheduled"] - o["started"] - o["dropped"]
        reasons.append(
            f"the open model's scheduler fell behind its own schedule: iterations started"
            f" {o['lateness_p50_ms']:.0f} ms late (median, p99 {o['lateness_p99_ms']:.0f} ms)"
            f" and {unreached:.0f} of {o['scheduled']:.0f} scheduled iterations were never"
            " reached, so the load asked for was not applied; lower arrival_rate per process"
            " (--loadgate-workers N) or give the generator its own cores")
    return reasons
