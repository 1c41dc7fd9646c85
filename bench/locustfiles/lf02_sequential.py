"""A SequentialTaskSet: login, browse, slow page, in that order, again and again."""

from locust import FastHttpUser, SequentialTaskSet, constant, task


class Journey(SequentialTaskSet):
    @task
    def login(self):
        self.client.post("/login", json={"user": "a"})

    @task
    def browse(self):
        self.client.get("/json")

    @task
    def slow(self):
        self.client.get("/slow")


class Visitor(FastHttpUser):
    wait_time = constant(0.02)
    tasks = [Journey]
