"""Tags: run with --tags browse (and with --exclude-tags slow on the same classes)."""

from locust import FastHttpUser, constant, tag, task


class Visitor(FastHttpUser):
    wait_time = constant(0.02)

    @tag("browse")
    @task
    def home(self):
        self.client.get("/")

    @tag("browse", "slow")
    @task
    def slow(self):
        self.client.get("/slow")

    @tag("admin")
    @task
    def errors(self):
        self.client.get("/error")
