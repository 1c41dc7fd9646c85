"""A LoadTestShape: 2 users, then 6, then 3, then the run ends (before any -t)."""

from locust import FastHttpUser, LoadTestShape, constant, task


class Visitor(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def home(self):
        self.client.get("/")


class Steps(LoadTestShape):
    stages = [(2.0, 2), (4.0, 6), (6.0, 3)]

    def tick(self):
        elapsed = self.get_run_time()
        for until, users in self.stages:
            if elapsed < until:
                return (users, 20)
        return None
