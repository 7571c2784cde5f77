"""Ports for a stack started beside another one (tests, benchmarks, the failure demo).

A port the kernel hands out for `bind(0)` comes from its ephemeral range, the same range
it draws from for outgoing connections. Between picking a port and the process binding
it (a minute later for a subscriber that joins mid-demo), a connection to RabbitMQ or
Redis can take it, and the web process then fails with "Address already in use". So
ports are picked below that range, at random, checked free, and never handed out twice.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, outside the range outgoing connections take theirs from."""
    ephemeral = _first_ephemeral_port()
    for _ in range(1_000):
        port = random.randrange(LOWEST, ephemeral)
        if port not in _handed_out and _is_free(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port from {LOWEST} up to {ephemeral}")


def _first_ephemeral_port() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except OSError:
        return 32_768  # Linux's default; other systems have no such file


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True
