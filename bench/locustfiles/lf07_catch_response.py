"""catch_response: mark a 404 as success, a slow answer and a wrong body as failures."""

from locust import FastHttpUser, HttpUser, constant, task


class Checker(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def missing_is_fine(self):
        with self.client.get("/items/500", catch_response=True, name="/items/missing") as resp:
            if resp.status_code == 404:
                resp.success()

    @task
    def body_check(self):
        with self.client.get("/json", catch_response=True) as resp:
            if b"nothing-like-this" not in resp.content:
                resp.failure("expected text not in body")


class RequestsChecker(HttpUser):
    wait_time = constant(0.05)

    @task
    def slow_is_failure(self):
        with self.client.get("/slow", catch_response=True) as resp:
            if resp.elapsed.total_seconds() > 0.001:
                resp.failure("slower than 1 ms")
