"""HttpUser (requests) with on_start login, a connection to a closed port, and an error."""

import os

from locust import HttpUser, constant, task

#: A port the benchmark reserved and closed: nothing listens there (connection refused).
CLOSED = f"http://127.0.0.1:{os.environ.get('CLOSED_PORT', '9')}/nothing"


class Session(HttpUser):
    """One task in a fixed order (random task choice would make the per-endpoint counts of two
    runs differ by chance more than the +-10% the benchmark judges)."""

    wait_time = constant(0.03)

    def on_start(self):
        self.client.post("/login", json={"user": "b"})

    @task
    def visit(self):
        for _ in range(4):
            self.client.get("/")
        self.client.get("/error")
        self.client.get(CLOSED, name="closed port", timeout=1)
