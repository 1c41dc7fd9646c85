"""A non-HTTP client reporting through events.request.fire, as Locust's docs show."""

import time

import gevent
from locust import User, constant, events, task


class QueueClient:
    def publish(self, topic: str, fail: bool = False) -> None:
        started = time.perf_counter()
        gevent.sleep(0.002)
        events.request.fire(request_type="QUEUE", name=topic,
                            response_time=(time.perf_counter() - started) * 1000,
                            response_length=0, response=None, context={},
                            exception=RuntimeError("broker refused") if fail else None)


class Producer(User):
    wait_time = constant(0.02)

    def on_start(self):
        self.client = QueueClient()
        self.sent = 0

    @task
    def publish(self):
        self.sent += 1
        self.client.publish("orders", fail=self.sent % 10 == 0)
