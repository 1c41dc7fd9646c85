"""``scripts/run_load_tests.sh``: its usage errors, and the interactive mode run for real.

The interactive test boots the shop and Locust's web UI through the script, checks what a
person gets in the browser (the page, the prefilled host, the shop's users, a short swarm that
really reaches the shop), then presses Ctrl-C the way a terminal does (SIGINT to the script's
process group) and checks that both servers are gone and the script exited cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_loadgate.target.server import free_port

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "run_load_tests.sh"
MODES = ("quick", "interactive", "race", "standard", "stress", "all")


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the script to completion (only for fast paths: help and usage errors)."""
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=30, check=False)


def test_help_lists_every_mode_and_option(tmp_path: Path) -> None:
    """``--help`` exits 0 and documents each mode and option (works from any directory)."""
    result = run_script("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: scripts/run_load_tests.sh MODE")
    for word in (*MODES, "--host URL", "--full", "--web-port PORT", "--reports DIR"):
        assert word in result.stdout, word
    assert result.stderr == ""


@pytest.mark.parametrize(("args", "message"), [
    (("nope",), "unknown mode 'nope'"),
    ((), "no mode given"),
    (("quick", "--frobnicate"), "unknown option '--frobnicate'"),
    (("quick", "race"), "one mode only"),
    (("quick", "--host"), "--host needs a URL"),
    (("quick", "--host", "localhost:8000"), "is not a base URL"),
    (("interactive", "--web-port", "99999"), "is not a port number"),
])
def test_usage_errors_exit_2_with_a_message(tmp_path: Path, args: tuple[str, ...],
                                            message: str) -> None:
    """A bad mode or option is exit status 2 with a one-line reason and a pointer to --help."""
    result = run_script(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "--help" in result.stderr
    assert result.stdout == ""


# -- interactive ---------------------------------------------------------------------------------

class Output:
    """A process's merged output, written to a file (no reader thread: pytest-loadgate patches
    this process for gevent, whose pipes don't mix with OS threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")

    def search(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.text)


def http(url: str, data: dict[str, Any] | None = None) -> tuple[int, str]:
    """GET (or POST a form to) a local URL; ``(status, body)``."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=5) as resp:
        return resp.status, resp.read().decode()


def wait_until(check: Any, timeout: float, proc: subprocess.Popen[str], out: Output) -> Any:
    """Poll ``check()`` until it returns a truthy value; fail if the script exits or time's up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"script exited early ({proc.returncode}):\n{out.text}"
        try:
            value = check()
        except (OSError, urllib.error.URLError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not ready after {timeout} s; script output:\n{out.text}")


def template_args(page: str) -> dict[str, Any]:
    """The configuration Locust's web UI embeds in its page (``window.templateArgs = {...}``)."""
    start = page.index("templateArgs = ") + len("templateArgs = ")
    args, _ = json.JSONDecoder().raw_decode(page[start:])
    return args  # type: ignore[no-any-return]


def gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_interactive_serves_locust_ui_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """Shop + Locust UI on 127.0.0.1 with the host filled in; Ctrl-C stops both, exit 0."""
    web_port = free_port()
    reports = tmp_path / "reports"
    out = Output(tmp_path / "script.out")
    with open(out.path, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT), "interactive", "--web-port", str(web_port), "--reports",
             str(reports)],
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)  # its own process group, like a terminal job
    servers: list[psutil.Process] = []  # Locust and the shop, once known
    try:
        ui = f"http://127.0.0.1:{web_port}/"
        status, page = wait_until(lambda: http(ui), 25, proc, out)
        assert status == 200
        assert '<div id="root">' in page or 'id="root"' in page, page[:500]
        config = template_args(page)

        match = wait_until(lambda: out.search(r"Locust pid (\d+), shop pid (\d+)"), 5, proc, out)
        locust_pid, shop_pid = int(match.group(1)), int(match.group(2))
        pids = [locust_pid, shop_pid]
        servers = [psutil.Process(pid) for pid in pids]
        shop = out.search(r"booting the shop on (http://127\.0\.0\.1:\d+)")
        assert shop, out.text
        shop_url = shop.group(1)

        # The host field is prefilled with the booted shop, and the shop's users are loaded.
        assert config["host"] == shop_url
        assert set(config["available_user_classes"]) == {"Shopper", "Admin"}
        assert http(f"{shop_url}/health")[0] == 200
        assert json.loads(http(f"{shop_url}/products/?limit=1")[1])["total"] >= 50

        # Nothing listens beyond the loopback interface.
        for pid in pids:
            listening = [c.laddr for c in psutil.Process(pid).net_connections("tcp")
                         if c.status == psutil.CONN_LISTEN]
            assert listening, f"pid {pid} listens nowhere"
            assert all(addr.ip == "127.0.0.1" for addr in listening), listening

        # A short swarm from the UI's own endpoint reaches the shop without errors.
        assert json.loads(http(ui + "swarm", {"user_count": 3, "spawn_rate": 3,
                                              "host": shop_url})[1])["success"]

        def served() -> bool:
            stats = json.loads(http(ui + "stats/requests")[1])
            total = next(s for s in stats["stats"] if s["name"] == "Aggregated")
            return total["num_requests"] >= 20

        wait_until(served, 10, proc, out)
        stats = json.loads(http(ui + "stats/requests")[1])
        assert stats["fail_ratio"] == 0, stats["errors"]

        # Ctrl-C: a terminal sends SIGINT to the foreground process group.
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=20)
        took = time.monotonic() - started
        assert code == 0, out.text
        assert took < 10, f"stopping took {took:.1f} s"
        assert all(gone(pid) for pid in pids), out.text
        assert "== stopped; reports:" in out.text
        # Locust wrote its HTML report on the way out, with the swarm's requests in it.
        html = sorted(reports.glob("interactive_*.html"))
        assert len(html) == 1, list(reports.iterdir())
        assert "/products/{id}" in html[0].read_text(encoding="utf-8")
        assert sorted(reports.glob("interactive_*.csv"))
        assert "Starting web interface at http://127.0.0.1:" in html[0].with_suffix(
            ".log").read_text(encoding="utf-8")
    finally:
        # Only after a failure is anything left: kill the script's whole family, by process
        # objects (psutil refuses a pid that has been reused), never a bare pid or group.
        family: list[psutil.Process] = []
        if proc.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                family = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)  # still our unreaped child: its group is ours
        for child in family + servers:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        proc.wait(timeout=10)
