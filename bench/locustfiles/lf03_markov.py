"""A MarkovTaskSet: each task picks the next by transition weights."""

from locust import FastHttpUser, MarkovTaskSet, constant, transition, transitions


class Flow(MarkovTaskSet):
    @transitions({"browse": 3, "home": 1})
    def home(self):
        self.client.get("/")

    @transition("home")
    def browse(self):
        self.client.get("/json")


class Visitor(FastHttpUser):
    wait_time = constant(0.02)
    tasks = [Flow]
