"""Users that wait until every user has spawned (spawning_complete), then start together."""

import gevent.event
from locust import FastHttpUser, constant, events, task

ALL_SPAWNED = gevent.event.Event()


@events.test_start.add_listener
def reset(environment, **kw):
    ALL_SPAWNED.clear()


@events.spawning_complete.add_listener
def release(user_count, **kw):
    ALL_SPAWNED.set()


class Crowd(FastHttpUser):
    wait_time = constant(0.02)

    def on_start(self):
        ALL_SPAWNED.wait()

    @task
    def home(self):
        self.client.get("/")
