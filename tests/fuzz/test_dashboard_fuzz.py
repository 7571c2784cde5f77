"""The dashboard's event path with arbitrary events and dead-letter headers: no exception escapes
the view, the snapshot or the dead-letter description, what goes to a browser is JSON it parses
(no NaN, no Infinity), and no payment token or whole email address reaches it.

Events take both ways into the view: from the wire, through the contract and the consumer's
handler (feed.append), and straight from the feed's store, as an older dashboard might have
left an entry there (untyped, its data as sent)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from services.dashboard import feed
from services.dashboard.dead_letters import describe
from services.dashboard.view import DashboardView, Snapshot
from shared.contract import EVENT_TYPES
from shared.envelope import InvalidEvent, decode
from tests.support.events import ORDER_ID, order_placed

FEED_KEY = "t:dashboard:feed"
TOKEN = "tok_fuzz_secret"
EMAIL = "fuzzed.customer@example.com"

# Every character: control characters, line breaks and lone surrogates included.
texts = st.text(st.characters(), max_size=40) | st.sampled_from(
    ["", "\x00", "\r\n", "\u2028", "\ud800", "x" * 5000]
)
# The customer's address, alone or inside other text, wherever an event's data may hold it.
emails = st.builds(
    lambda before, after: before + EMAIL + after,
    st.sampled_from(["", "to ", "<"]),
    st.sampled_from(["", ",postmaster", ">"]),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([2**53, 2**63, -(2**63) - 1, 10**400]),
    st.floats(),  # nan and both infinities among them
)
scalars = st.none() | st.booleans() | numbers | texts | emails
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts | emails, inner, max_size=4),
    max_leaves=25,
)
event_types = st.sampled_from(list(EVENT_TYPES)) | st.sampled_from(["points.awarded", "x.y.z"]) | texts
FIELDS = sorted({name for model in EVENT_TYPES.values() for name in model.model_fields} | {"payment_token"})
# A payload with the contract's field names holding anything, on top of a real one some of the time.
payloads = st.builds(
    lambda base, fields, extra: {**base, **fields, **extra},
    st.sampled_from([{}, json.loads(order_placed(TOKEN).to_json())["data"] | {"customer_email": EMAIL}]),
    st.dictionaries(st.sampled_from(FIELDS), junk, max_size=6),
    st.dictionaries(texts, junk, max_size=3),
)
moments = st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()) | texts
subjects = st.none() | st.just(ORDER_ID) | texts


class FakeFeed:
    """The Redis stream as the consumer writes it and a browser session follows it: XADD and XREAD."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, str]]] = []

    def xadd(self, _key: str, fields: dict[str, str], **_capping: Any) -> str:
        self.entries.append((f"{len(self.entries) + 1}-0", fields))
        return self.entries[-1][0]

    def xread(self, streams: dict[str, str], **_waiting: Any) -> list[tuple[str, list]]:
        [(key, after)] = streams.items()
        newer = [entry for entry in self.entries if _number(entry[0]) > _number(after)]
        return [(key, newer)] if newer else []


def _number(entry_id: str) -> int:
    return int(entry_id.split("-")[0])


def envelope(event_type: Any, data: Any, time: Any, subject: Any) -> dict[str, Any]:
    return {
        **json.loads(order_placed().to_json()),
        "type": event_type,
        "data": data,
        "time": time,
        "subject": subject,
    }


def shown_to_browsers(store: FakeFeed) -> list[str]:
    """Everything the stream would send for the feed's events: the updates, then a snapshot."""
    _position, events = feed.follow(store, FEED_KEY, feed.START, block_ms=0)
    view, snapshot = DashboardView(), Snapshot()
    sent = []
    for event in events:
        if (update := view.apply(event)) is not None:
            snapshot.add(update)
            sent.append(json.dumps(update.to_json(), allow_nan=False))
    sent.append(json.dumps(snapshot.to_json(view), allow_nan=False))
    return sent


def assert_fit_for_anonymous_browsers(sent: list[str]) -> None:
    for text in sent:
        assert TOKEN not in text
        assert EMAIL not in text


@given(event_types, payloads, moments, subjects)
@example("order.placed", {"total_cents": 10**400}, "2026-01-01T12:00:00+00:00", ORDER_ID)
def test_an_event_from_the_wire_is_refused_by_the_contract_or_shown(
    event_type: Any, data: Any, time: Any, subject: Any
) -> None:
    body = json.dumps(envelope(event_type, data, time, subject)).encode()  # NaN, Infinity: as JSON allows
    store = FakeFeed()
    try:
        event = decode(body, any_type=True)
    except InvalidEvent:
        return  # the consumer dead-letters it
    feed.append(store, FEED_KEY, event)

    assert_fit_for_anonymous_browsers(shown_to_browsers(store))


@given(st.lists(st.tuples(event_types, junk | payloads, moments, subjects), min_size=1, max_size=5))
@example([("order.placed", {"order_id": ORDER_ID, "total_cents": 10**400}, "2026-01-01T12:00Z", None)])
def test_whatever_the_feed_holds_the_view_shows_or_skips(entries: list[tuple[Any, Any, Any, Any]]) -> None:
    store = FakeFeed()
    for event_type, data, time, subject in entries:
        stored = json.dumps(envelope(event_type, data, time, subject), default=str)
        store.xadd(FEED_KEY, {"event": stored, "source": "orders", "type": "any"})

    assert_fit_for_anonymous_browsers(shown_to_browsers(store))


header_names = st.sampled_from(
    [
        "x-attempt",
        "x-death-reason",
        "x-error",
        "x-dead-lettered-at",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-first-death-exchange",
        "x-last-death-queue",
    ]
)
death_entries = st.dictionaries(
    st.sampled_from(["queue", "reason", "count", "time", "exchange", "routing-keys"]) | texts,
    junk | st.datetimes(timezones=st.none() | st.timezones()) | st.sampled_from(["payments", "payments.dlq"]),
    max_size=6,
)
headers = (
    st.none()
    | junk
    | st.dictionaries(
        header_names | st.just("x-death") | texts,
        junk
        | st.lists(death_entries | junk, max_size=4)
        | st.datetimes(timezones=st.none() | st.timezones()),
        max_size=8,
    )
)
bodies = (
    st.binary(max_size=300)
    | st.builds(lambda: order_placed().to_json())
    | texts.map(lambda text: text.encode("utf-8", "surrogatepass"))
)


@given(headers, bodies, st.none() | texts)
def test_a_dead_letter_with_any_headers_is_described(headers: Any, body: bytes, message_id: Any) -> None:
    letter = describe(headers, body, message_id if isinstance(message_id, str) else None)

    json.dumps(letter.to_json(), allow_nan=False)
    assert letter.attempts is None or letter.attempts >= 0
    assert letter.replays >= 0
