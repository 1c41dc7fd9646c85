"""Linux network namespaces standing in for load-worker hosts, for benches.

    with worker_hosts(2) as hosts:       # NetnsUnavailable (with why) when they cannot be made
        hosts.master_ip                  # this namespace's side of the first link
        hosts.exec_in(0, ["cmd", ...])   # ["ip", "netns", "exec", NAME, "cmd", ...]

Each namespace (``lgb<pid><letter>``) is joined to this one by a veth pair on a /24 of its own:
10.231.N.1 on this side, 10.231.N.2 inside, a default route via .1. A packet from a namespace to
any address of this namespace is delivered locally (no forwarding), so a master and a target
bound to ``master_ip`` are reachable from every namespace, and only from here and there.

The networks come from 10.231.252-254 (above 10.231.0-251, which
``tests/faults/test_netns_workers.py`` claims), skipping any that an interface here already
holds. Everything is removed when the block ends, also on Ctrl-C; namespaces left by a bench
that was killed outright (named for a pid that no longer runs) are removed on the next entry.
Processes started in a namespace must be stopped by the caller before the block ends (a
namespace lives on, nameless, while a process is in it). Needs root and iproute2.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

PREFIX = "lgb"
#: Third octets of the /24 networks this module may use (10.231.N.0/24).
SUBNETS = (252, 253, 254)
IP_TIMEOUT_SEC = 30.0
_OURS = re.compile(rf"^{PREFIX}(\d+)[a-z]$")


class NetnsUnavailable(RuntimeError):
    """Namespaces or links could not be made here (not root, no ``ip``, no free network)."""


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output, or NetnsUnavailable with its error."""
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True,
                              timeout=IP_TIMEOUT_SEC, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _quiet_ip(*args: str) -> None:
    """``ip ARGS`` for clean-up: errors (already gone) ignored."""
    subprocess.run(["ip", *args], capture_output=True, timeout=IP_TIMEOUT_SEC, check=False)


@dataclass
class Hosts:
    """Namespaces joined to this one, each with its own address."""

    master_ip: str = ""
    namespaces: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # each namespace's own address

    def exec_in(self, index: int, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside namespace ``index`` (``ip netns exec`` execs it: the pid of the
        process started is the command's)."""
        return ["ip", "netns", "exec", self.namespaces[index], *cmd]


def _link(namespace: str) -> str:
    """This namespace's end of the veth pair to ``namespace`` (at most 15 characters)."""
    return f"{namespace}-r"


def _remove(namespace: str) -> None:
    # Deleting our end deletes the pair, even while a process keeps the namespace alive.
    _quiet_ip("link", "del", _link(namespace))
    _quiet_ip("netns", "del", namespace)


def remove_stale() -> list[str]:
    """Remove the namespaces of benches that were killed outright; their names."""
    try:
        listed = ip("netns", "list")
    except NetnsUnavailable:
        return []
    stale = []
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        found = _OURS.match(name)
        if found and int(found[1]) != os.getpid() and not psutil.pid_exists(int(found[1])):
            _remove(name)
            stale.append(name)
    return stale


def _free_subnets(count: int) -> list[int]:
    held = ip("-o", "-4", "addr", "show")
    free = [n for n in SUBNETS if f" 10.231.{n}." not in held]
    if len(free) < count:
        raise NetnsUnavailable(
            f"{count} namespace(s) asked, but only {len(free)} of the networks"
            f" {', '.join(f'10.231.{n}.0/24' for n in SUBNETS)} are free here"
            " (another bench running? see ip -o -4 addr show)")
    return free[:count]


@contextmanager
def worker_hosts(count: int) -> Iterator[Hosts]:
    """``count`` namespaces, each a host with its own address and a link to this namespace;
    all removed when the block ends."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (euid is not 0)")
    remove_stale()
    hosts = Hosts()
    try:
        for i, n in enumerate(_free_subnets(count)):
            ns = f"{PREFIX}{os.getpid()}{chr(ord('a') + i)}"
            ip("netns", "add", ns)
            hosts.namespaces.append(ns)
            inside = f"{ns}-n"
            ip("link", "add", _link(ns), "type", "veth", "peer", "name", inside, "netns", ns)
            ip("addr", "add", f"10.231.{n}.1/24", "dev", _link(ns))
            ip("link", "set", _link(ns), "up")
            ip("-n", ns, "addr", "add", f"10.231.{n}.2/24", "dev", inside)
            ip("-n", ns, "link", "set", inside, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "route", "add", "default", "via", f"10.231.{n}.1")
            hosts.addresses.append(f"10.231.{n}.2")
            if i == 0:
                hosts.master_ip = f"10.231.{n}.1"
        yield hosts
    finally:
        for ns in hosts.namespaces:
            _remove(ns)
