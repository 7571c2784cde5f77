"""How events reach the browser sessions: recent history from the log, live ones from a Redis stream.

The dashboard's consumer process is the only reader of the `dashboard` queue (a queue's
replicas compete for messages, they don't each get a copy). It appends every event to a
capped Redis stream in the dashboard's namespace; every browser session, in any web
worker, follows that stream with XREAD. So the web process scales to any number of
workers and threads, and a browser sees the same events whichever worker serves it.

Delivery is at least once, so the feed may hold an event twice; sessions drop duplicates
by event id (see view.DashboardView), which is why the consumer keeps no processed-marker.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pika.exceptions

from services.dashboard.view import NOT_SHOWN
from shared.envelope import Event, InvalidEvent, decode
from shared.replay import read_log

FEED_MAX_EVENTS = 20_000
START = "0-0"


def append(redis: Any, feed_key: str, event: Event) -> None:
    """The consumer's handler for every event type."""
    redis.xadd(
        feed_key,
        {"event": event.to_json(), "source": event.source, "type": event.type},
        maxlen=FEED_MAX_EVENTS,
        approximate=True,
    )


def last_id(redis: Any, feed_key: str) -> str:
    """Where a session starts following: everything after it is live."""
    newest = redis.xrevrange(feed_key, count=1)
    return newest[0][0] if newest else START


def follow(redis: Any, feed_key: str, after: str, block_ms: int) -> tuple[str, list[Event]]:
    """The events appended after `after` (waiting up to block_ms for one), and the new position."""
    answer = redis.xread({feed_key: after}, block=block_ms, count=500)
    events = []
    for _key, entries in answer or []:
        for entry_id, fields in entries:
            after = entry_id
            try:
                events.append(decode(_bytes(fields["event"]), any_type=True))
            except InvalidEvent:
                continue  # written by a newer dashboard than this one: not ours to show
    return after, events


def publish_rates(
    redis: Any, feed_key: str, window_s: float = 10.0, lookback: int = 2000
) -> dict[str, float]:
    """Events per second by source over the last seconds, for every source among the last events.

    Feed entry ids are millisecond timestamps, so the window needs no parsing of events.
    A heartbeat shows its source is there, but is no business event to count.
    """
    since = int((time.time() - window_s) * 1000)
    counts: Counter[str] = Counter()
    for entry_id, fields in redis.xrevrange(feed_key, count=lookback):
        source = _text(fields.get("source", b""))
        recent = int(_text(entry_id).split("-")[0]) >= since
        counts[source] += recent and _text(fields.get("type", b"")) not in NOT_SHOWN
    return {source: round(n / window_s, 2) for source, n in counts.items() if source}


def recent_history(
    amqp_url: str, since: datetime, until: datetime, limit: int, senders: Mapping[str, str] | None = None
) -> list[Event]:
    """The last `limit` events of the log published between `since` and about `until`.

    The log is read from `limit` entries before its last chunk, not from `since`, so a busy
    quarter of an hour costs no more than a quiet one. Reading stops once it reaches
    events newer than `until`: from there on the live feed delivers them. `senders`: forged
    entries are left out, as the live feed leaves them out (read_log).
    """
    with _log_from(amqp_url, "last") as newest:
        last_chunk = next((offset for offset, _event in newest), None)
    if last_chunk is None:
        return []
    recent: deque[Event] = deque(maxlen=limit)
    with _log_from(amqp_url, max(0, last_chunk - limit), senders) as entries:
        for _offset, event in entries:
            if event.time > until:
                break
            if event.time >= since:
                recent.append(event)
    return list(recent)


@contextlib.contextmanager
def _log_from(
    amqp_url: str, start: str | int, senders: Mapping[str, str] | None = None
) -> Iterator[Iterator[tuple[int, Event]]]:
    """read_log, left early without fuss: the broker refuses to take back the entries still in
    flight (a stream has no requeue) and closes the connection, which is fine for a reader done.
    """
    entries = read_log(amqp_url, start, idle_timeout_s=0.3, any_type=True, senders=senders)
    try:
        yield entries
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError):
            entries.close()


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
