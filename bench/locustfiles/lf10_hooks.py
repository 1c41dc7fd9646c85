"""Hooks of every kind; the counts are written where the benchmark reads them (HOOKS_OUT)."""

import json
import os

from locust import FastHttpUser, constant, events, task

COUNTS: dict[str, int] = {}


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@events.init.add_listener
def on_init(environment, runner, **kw):
    count("init")
    environment.events.request.add_listener(lambda **k: count("request_added_by_init"))


@events.test_start.add_listener
def on_start(environment, **kw):
    count("test_start")


@events.spawning_complete.add_listener
def on_spawned(user_count, **kw):
    count("spawning_complete")


@events.request.add_listener
def on_request(exception, **kw):
    count("request_failed" if exception else "request_ok")


@events.user_error.add_listener
def on_user_error(user_instance, exception, tb, **kw):
    count("user_error")


@events.test_stopping.add_listener
def on_stopping(environment, **kw):
    count("test_stopping")


@events.test_stop.add_listener
def on_stop(environment, **kw):
    count("test_stop")


@events.quitting.add_listener
def on_quitting(environment, **kw):
    count("quitting")


@events.quit.add_listener
def on_quit(exit_code, **kw):
    count("quit")
    with open(os.environ["HOOKS_OUT"], "w") as fh:
        json.dump({**COUNTS, "exit_code": exit_code}, fh)


class Visitor(FastHttpUser):
    wait_time = constant(0.02)
    n = 0

    @task
    def home(self):
        self.client.get("/")
        self.n += 1
        if self.n % 50 == 0:
            raise ValueError("a task error every 50 iterations")

    @task
    def errors(self):
        self.client.get("/error")
