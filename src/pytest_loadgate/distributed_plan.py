"""How many Locust workers a run uses and where the master listens (no Locust import here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers a run uses and where they come from."""

    local: int = 0  # worker processes started by the plugin
    remote: int = 0  # workers started by the user (`python -m pytest_loadgate.run.worker ...`)
    bind_host: str = "127.0.0.1"
    bind_port: int = 0
    timeout_s: float = 60.0

    @property
    def total(self) -> int:
        return self.local + self.remote
