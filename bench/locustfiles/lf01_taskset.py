"""Nested TaskSets with weights, interrupt() back to the parent, and name= grouping."""

from locust import FastHttpUser, TaskSet, between, task


class Items(TaskSet):
    @task(3)
    def item(self):
        self.client.get(f"/items/{self.user.counter % 50}", name="/items/[id]")
        self.user.counter += 1

    @task(1)
    def leave(self):
        self.interrupt()


class Shop(FastHttpUser):
    wait_time = between(0.01, 0.03)
    counter = 0
    tasks = {Items: 2}

    @task(1)
    def home(self):
        self.client.get("/")
