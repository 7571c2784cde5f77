"""The queue probe of demos and tests reads on after the broker dropped its idle connection
(it answers no heartbeats between reads)."""

from __future__ import annotations

from harness.probe import QueueProbe
from harness.sandbox import Sandbox, rabbitmqctl
from shared.broker import blocking_connection


def drop_every_connection(sandbox: Sandbox) -> None:
    """What the broker does to a connection whose heartbeats stopped."""
    rabbitmqctl("close_all_connections", "-p", sandbox.vhost, "heartbeat missed (test)")


def test_a_probe_whose_connection_was_dropped_reads_on_a_new_one(sandbox: Sandbox) -> None:
    connection = blocking_connection(sandbox.amqp_url)
    connection.channel().queue_declare("probed", arguments={"x-queue-type": "classic"})
    connection.close()
    probe = QueueProbe(sandbox.amqp_url)
    assert probe.queue("probed") == (0, 0)

    drop_every_connection(sandbox)

    assert probe.queue("probed") == (0, 0)
    assert probe.queue("never-declared") is None
    drop_every_connection(sandbox)
    probe.close()  # on a dropped connection: nothing to close, and no error
