"""How events reach the browser sessions: the dashboard's own feed, a capped Redis stream.

The dashboard's consumer process is the only reader of the `dashboard` queue (a queue's
replicas compete for messages, they don't each get a copy). It appends every event to a
capped Redis stream in the dashboard's namespace; every browser session, in any web
worker, reads its recent history from that stream (XREVRANGE) and then follows it (XREAD).
So a browser session costs no AMQP connection, the web process scales to any number of
workers and threads, and a browser sees the same events whichever worker serves it.

What the feed keeps is already fit for anonymous browsers: payment tokens never leave
orders and payments, so they are dropped here, and email addresses are masked. The events
are kept untyped, as sent (the view reads every field defensively).

Delivery is at least once, so the feed may hold an event twice; sessions drop duplicates
by event id (see view.DashboardView), which is why the consumer keeps no processed-marker.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.dashboard.view import NOT_SHOWN
from shared.envelope import Event

FEED_MAX_EVENTS = 20_000
START = "0-0"
SECRET_FIELDS = frozenset({"payment_token"})
_LOCAL_PART = r"[^@\s<>\"',;:()\[\]]"  # a character of an address before its @
# Tried from the start of a run of such characters only: linear in the text, however long.
EMAIL = re.compile(rf"(?<!{_LOCAL_PART})({_LOCAL_PART}){_LOCAL_PART}*@([^@\s]+)")
MAX_DEPTH = 16  # nesting kept of an event's data; deeper junk is dropped


def mask_email(text: str) -> str:
    """`jane@example.com` → `j***@example.com`, for every address in the text."""
    return EMAIL.sub(r"\1***@\2", text)


def redact(value: Any, depth: int = 0) -> Any:
    """An event's data as the dashboard may keep and show it: secret fields dropped, email
    addresses masked, at any depth; what JSON cannot carry to a browser (NaN, infinities) and
    junk deeper than anyone shows are left out."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {key: redact(item, depth + 1) for key, item in value.items() if key not in SECRET_FIELDS}
    if isinstance(value, list):
        return [redact(item, depth + 1) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):  # a typed field (an order's `placed_at`), as JSON writes it
        return value.isoformat()
    return mask_email(value) if isinstance(value, str) else value


def append(redis: Any, feed_key: str, event: Event) -> None:
    """The consumer's handler for every event type."""
    # the data as decoded, not as pydantic writes JSON: that refuses a lone surrogate JSON allows
    kept = {**event.model_dump(mode="json", exclude={"data"}), "data": redact(event.data.model_dump())}
    redis.xadd(
        feed_key,
        {"event": json.dumps(kept, allow_nan=False), "source": event.source, "type": event.type},
        maxlen=FEED_MAX_EVENTS,
        approximate=True,
    )


def last_id(redis: Any, feed_key: str) -> str:
    """Where a session starts following: everything after it is live."""
    newest = redis.xrevrange(feed_key, count=1)
    return _text(newest[0][0]) if newest else START


def recent(redis: Any, feed_key: str, until: str, since_ms: int, limit: int) -> list[Event]:
    """The last `limit` events appended from `since_ms` (epoch ms) up to entry `until`, oldest first.

    Feed entry ids are the milliseconds they were appended at, so the window costs one
    bounded XREVRANGE, however busy the feed is.
    """
    if until == START:
        return []
    entries = redis.xrevrange(feed_key, max=until, min=since_ms, count=limit)
    return [event for _entry_id, fields in reversed(entries) if (event := read_entry(fields)) is not None]


def follow(redis: Any, feed_key: str, after: str, block_ms: int) -> tuple[str, list[Event]]:
    """The events appended after `after` (waiting up to block_ms for one), and the new position."""
    answer = redis.xread({feed_key: after}, block=block_ms, count=500)
    events = []
    for _key, entries in answer or []:
        for entry_id, fields in entries:
            after = _text(entry_id)
            if (event := read_entry(fields)) is not None:
                events.append(event)
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
        recent_entry = int(_text(entry_id).split("-")[0]) >= since
        counts[source] += recent_entry and _text(fields.get("type", b"")) not in NOT_SHOWN
    return {source: round(n / window_s, 2) for source, n in counts.items() if source}


def read_entry(fields: dict[str, str]) -> Event | None:
    """One feed entry back as an event, redacted again (an entry may predate redaction);
    None for an entry no event can be read from."""
    try:
        raw = json.loads(fields["event"])
    except (KeyError, ValueError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    try:
        return Event.model_validate({**raw, "data": redact(raw.get("data") or {})})
    except ValidationError:
        return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
