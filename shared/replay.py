"""Read the `shop.events.log` stream: history first, then live, in publish order.

A stream is consumed over AMQP 0-9-1 with a prefetch and manual acks (acks only grant
credit; nothing is removed), starting at `x-stream-offset`: "first", "last", "next",
an offset number or a timestamp.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import pika
import pika.exceptions

from shared import topology
from shared.broker import blocking_connection
from shared.consumer import Delivery, Outcome
from shared.contract import authentic
from shared.envelope import Event, InvalidEvent, decode

log = logging.getLogger(__name__)

Offset = str | int | datetime
# What a reader does with an entry it cannot take: the entry (its tag is its offset) and why.
Refused = Callable[[Delivery, Outcome], None]


def read_log(
    amqp_url: str,
    start: Offset = "first",
    *,
    idle_timeout_s: float | None = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
    prefetch: int = 500,
    any_type: bool = False,
    senders: Mapping[str, str] | None = None,
    refused: Refused | None = None,
) -> Iterator[tuple[int, Event]]:
    """Yield (offset, event) from `start`; stop after `idle_timeout_s` without a message
    (None: follow live until `should_stop()`). Undecodable entries are logged and skipped:
    the log is history, not a work queue. `any_type`: also the types the contract does not
    list yet (see envelope.decode). `senders` (event type → the broker user that owns it, see
    contract.publisher_users): an entry another user published is skipped as forged, as a
    consumer would park it. `refused`, if given, gets each skipped entry with the reason a
    consumer would park it with (`invalid`, `forged`), e.g. to park it in the reader's own DLQ.
    """
    connection = blocking_connection(amqp_url)
    try:
        topology.declare_on(connection, topology.shared_topology_checked())
        channel = connection.channel()
        channel.basic_qos(prefetch_count=prefetch)
        offset: Any = start
        if isinstance(start, datetime):
            offset = start  # pika encodes datetimes as AMQP timestamps
        for method, props, body in channel.consume(
            topology.EVENT_LOG,
            arguments={"x-stream-offset": offset},
            inactivity_timeout=idle_timeout_s if idle_timeout_s is not None else 0.5,
        ):
            if method is None:
                if idle_timeout_s is not None or should_stop():
                    break
                continue
            channel.basic_ack(method.delivery_tag)
            entry = Delivery(stream_offset(props.headers or {}), method.routing_key, props, body)
            try:
                event = decode(body, any_type=any_type)
            except InvalidEvent as exc:
                _skip(entry, Outcome("dead_letter", "invalid", str(exc)), refused)
                continue
            if senders is not None and not authentic(senders, event.type, props.user_id):
                error = f"{event.type} {event.id} published by {props.user_id!r}, not by its owner"
                _skip(entry, Outcome("dead_letter", "forged", error), refused)
                continue
            yield entry.tag, event
            if should_stop():
                break
        channel.cancel()
    finally:
        # A reader that stops early leaves messages in flight; a stream cannot take them
        # back, so the broker may answer the close with an error: nothing is lost by it.
        with contextlib.suppress(pika.exceptions.AMQPError):
            if connection.is_open:
                connection.close()


def _skip(entry: Delivery, outcome: Outcome, refused: Refused | None) -> None:
    log.warning("skipping log entry %d (%s): %s", entry.tag, outcome.reason, outcome.error)
    if refused is not None:
        refused(entry, outcome)


def stream_offset(headers: Mapping[str, Any]) -> int:
    """The entry's offset, which the broker adds on delivery (-1 if a header in its place is not one)."""
    offset = headers.get("x-stream-offset")
    # int(): pika reads a long as its own subclass of int, which hiredis does not take
    return int(offset) if isinstance(offset, int) and not isinstance(offset, bool) else -1
