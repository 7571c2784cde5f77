import socket
from pathlib import Path

from infra import ports


def first_ephemeral_port() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_ports_lie_below_the_range_outgoing_connections_take_theirs_from_and_are_never_repeated():
    handed_out = [ports.free_port() for _ in range(200)]

    assert all(ports.LOWEST <= port < first_ephemeral_port() for port in handed_out)
    assert len(set(handed_out)) == len(handed_out)


def test_a_port_something_listens_on_is_skipped(monkeypatch):
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        with socket.socket() as closed:
            closed.bind(("0.0.0.0", 0))
            free = closed.getsockname()[1]
        picks = iter([taken, free])
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(picks))
        monkeypatch.setattr(ports, "_handed_out", set())

        assert ports.free_port() == free
