"""rest(): JSON requests with the response parsed and checked (FastHttpUser and HttpUser)."""

from locust import FastHttpUser, HttpUser, constant, task


class Api(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def json_ok(self):
        with self.rest("GET", "/json") as resp:
            if resp.js["items"] != [1, 2, 3]:
                resp.failure("wrong items")

    @task
    def json_missing_key(self):
        with self.rest("GET", "/items/3") as resp:
            if resp.js.get("name") is None:
                resp.failure("item without name")


class RequestsApi(HttpUser):
    wait_time = constant(0.05)

    @task
    def item(self):
        with self.rest("GET", "/items/5", name="/items/[id]") as resp:
            if resp.js["id"] != 5:
                resp.failure("wrong id")
