"""Weights and fixed_count: one Admin exactly, the rest split 3:1 between two classes."""

from locust import FastHttpUser, constant, task


class Admin(FastHttpUser):
    fixed_count = 1
    wait_time = constant(0.05)

    @task
    def errors(self):
        self.client.get("/error")


class Reader(FastHttpUser):
    weight = 3
    wait_time = constant(0.02)

    @task
    def home(self):
        self.client.get("/")


class Writer(FastHttpUser):
    weight = 1
    wait_time = constant(0.02)

    @task
    def login(self):
        self.client.post("/login")
