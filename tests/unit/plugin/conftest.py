"""Fixtures for pytester-based plugin tests: a project with a tiny target app."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

APP_SOURCE = Path(__file__).with_name("target_app.py")

INI = """
[pytest]
loadgate_app = target_app:app
loadgate_health_path = /health
loadgate_progress = off
{extra}
"""

USERS = '''
from locust import FastHttpUser, HttpUser, constant, task


class Fast(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def root(self):
        self.client.get("/")


class Slow(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def slow(self):
        self.client.get("/slow")


class Spin(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def spin(self):
        self.client.get("/spin")


class Mixed(FastHttpUser):
    wait_time = constant(0.01)

    @task(3)
    def root(self):
        self.client.get("/")

    @task(1)
    def error(self):
        self.client.get("/error")


class Requests(HttpUser):
    wait_time = constant(0.01)

    @task
    def root(self):
        self.client.get("/")


class Dier(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def die(self):
        self.client.get("/" if self.environment.runner.user_count and _calls() < 20 else "/die")


_COUNT = [0]


def _calls():
    _COUNT[0] += 1
    return _COUNT[0]


class Often(FastHttpUser):
    weight = 3

    @task
    def root(self):
        self.client.get("/", name="often")


class Rarely(FastHttpUser):
    weight = 1

    @task
    def root(self):
        self.client.get("/", name="rarely")


class Hanger(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def hang(self):
        self.client.get("/maybe-hang")


class RequestsHanger(HttpUser):
    wait_time = constant(0.01)

    @task
    def hang(self):
        self.client.get("/maybe-hang")


class Buyer(FastHttpUser):
    def on_start(self):
        self.client.get("/register")

    @task
    def buy(self):
        with self.client.post("/buy", catch_response=True) as resp:
            if resp.status_code == 409:
                resp.success()
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester dir with the target app, shared user classes and an ini pointing at the app."""
    shutil.copy(APP_SOURCE, pytester.path / "target_app.py")
    pytester.makepyfile(users=USERS)
    pytester.makeini(INI.format(extra=""))
    pytester.syspathinsert()
    return pytester


@pytest.fixture
def run(project: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """Run pytest on ``project`` in a subprocess (fresh gevent, Locust and uvicorn state)."""

    def runner(*args: str, timeout: float = 180) -> pytest.RunResult:
        return project.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)

    return runner
