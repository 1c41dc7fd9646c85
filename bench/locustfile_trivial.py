"""One FastHttpUser with no wait time hitting ``/``: used both by Locust's CLI and in-process."""

from __future__ import annotations

from locust import FastHttpUser, constant, task


class TrivialUser(FastHttpUser):
    """Requests ``GET /`` as fast as it can."""

    wait_time = constant(0)

    @task
    def root(self) -> None:
        self.client.get("/")
