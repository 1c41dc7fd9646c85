"""How many Locust workers a run uses and where the master listens (no Locust import here)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

#: Where workers and the plugin read the session token when no option gives it.
TOKEN_ENV = "LOADGATE_TOKEN"


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers a run uses and where they come from."""

    local: int = 0  # worker processes started by the plugin
    remote: int = 0  # workers started by the user (`loadgate worker ...`)
    bind_host: str = "127.0.0.1"
    bind_port: int = 0
    timeout_s: float = 60.0
    #: Shared secret signing every master↔worker message (never printed).
    token: str | None = field(default=None, repr=False)

    @property
    def total(self) -> int:
        return self.local + self.remote


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (unknown names: False)."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
