"""Why a run's figures cannot be trusted: a saturated generator, a busy machine, a short pace."""

from __future__ import annotations

from pytest_loadgate.run.monitor import MACHINE_BUSY_STALL, MACHINE_BUSY_STEAL
from pytest_loadgate.verdict.result import LoadResult


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


def unreliable_note(result: LoadResult) -> str:
    """``UNRELIABLE MEASUREMENT: <reasons>`` (empty when the run is reliable)."""
    reasons = unreliable_reasons(result)
    return "UNRELIABLE MEASUREMENT: " + "; and ".join(reasons) if reasons else ""
