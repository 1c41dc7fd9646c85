"""The session's worker pool: the same worker processes serve every load test and every
confirm attempt; a local worker that died is started again for the next test, which says so."""

from __future__ import annotations

import json

import pytest

RECORD = """
import json, re
from pathlib import Path


def record(result):
    note = next(n for n in result.notes if n.startswith("load workers:"))
    pids = sorted(re.findall(r"pid (\\d+)", note))
    served = int(re.search(r"served (\\d+) run", note).group(1))
    with Path("served.jsonl").open("a") as out:
        out.write(json.dumps({"pids": pids, "served": served}) + "\\n")
"""


def test_one_pool_serves_every_test_and_attempt(project: pytest.Pytester, run) -> None:
    project.makepyfile(record=RECORD, test_pool="""
        import pytest, users
        from record import record

        @pytest.mark.perf(users=2, run_time='2s', max_error_rate=0)
        def test_one(loadgate):
            record(loadgate.run(users.Fast))

        @pytest.mark.race(users=4, max_error_rate=0)
        def test_two(loadgate):
            record(loadgate.run(users.Buyer))

        @pytest.mark.perf(users=2, run_time='2s', p95_ms=0.001)
        def test_breaches_every_attempt(loadgate):
            try:
                loadgate.run(users.Fast)
            finally:
                for result in loadgate.results:
                    record(result)

        @pytest.mark.perf(arrival_rate=20, run_time='2s', warmup=0, max_error_rate=0)
        def test_open(loadgate):
            record(loadgate.run(users.Fast))
    """)
    result = run("--loadgate-workers=2", "--loadgate-confirm=1", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=1)
    rows = [json.loads(line) for line in
            (project.path / "served.jsonl").read_text().splitlines()]
    # The breaching test ran twice (confirm=1) and keeps its last attempt: the third run.
    assert [r["served"] for r in rows] == [1, 2, 4, 5]
    assert len(rows[0]["pids"]) == 2
    assert all(r["pids"] == rows[0]["pids"] for r in rows), rows


def test_a_dead_local_worker_is_replaced_for_the_next_test(project: pytest.Pytester,
                                                           run) -> None:
    project.makepyfile(record=RECORD, test_replace="""
        import os, signal
        import pytest, users
        from record import record

        @pytest.mark.perf(users=2, run_time='2s', max_error_rate=0)
        def test_first(loadgate):
            result = loadgate.run(users.Fast)
            record(result)
            os.kill(int(result.notes[-1] and __import__("re").findall(
                r"pid (\\d+)", next(n for n in result.notes
                                    if n.startswith("load workers:")))[0]), signal.SIGKILL)

        @pytest.mark.perf(users=2, run_time='2s', max_error_rate=0)
        def test_second(loadgate):
            result = loadgate.run(users.Fast)
            record(result)
            assert any("local worker 0 had exited" in n for n in result.notes), result.notes
    """)
    result = run("--loadgate-workers=1", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    first, second = [json.loads(line) for line in
                     (project.path / "served.jsonl").read_text().splitlines()]
    assert first["pids"] != second["pids"]
    assert (first["served"], second["served"]) == (1, 2)
