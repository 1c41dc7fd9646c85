"""Wait times: constant_pacing, constant_throughput, between, and a custom callable."""

import itertools

from locust import FastHttpUser, between, constant_pacing, constant_throughput, task


class Paced(FastHttpUser):
    wait_time = constant_pacing(0.05)

    @task
    def home(self):
        self.client.get("/")


class Throughput(FastHttpUser):
    wait_time = constant_throughput(10)

    @task
    def json(self):
        self.client.get("/json")


class Between(FastHttpUser):
    wait_time = between(0.02, 0.06)

    @task
    def slow(self):
        self.client.get("/slow")


_steps = itertools.cycle([0.01, 0.03, 0.05])


class Custom(FastHttpUser):
    def wait_time(self):
        return next(_steps)

    @task
    def item(self):
        self.client.get("/items/7", name="/items/[id]")
