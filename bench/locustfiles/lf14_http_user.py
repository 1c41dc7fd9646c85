"""HttpUser (requests) with on_start login, a connection to a closed port, and an error."""

import os

from locust import HttpUser, constant, task

#: A port the benchmark reserved and closed: nothing listens there (connection refused).
CLOSED = f"http://127.0.0.1:{os.environ.get('CLOSED_PORT', '9')}/nothing"


class Session(HttpUser):
    wait_time = constant(0.03)

    def on_start(self):
        self.client.post("/login", json={"user": "b"})

    @task(4)
    def home(self):
        self.client.get("/")

    @task(1)
    def errors(self):
        self.client.get("/error")

    @task(1)
    def refused(self):
        self.client.get(CLOSED, name="closed port", timeout=1)
