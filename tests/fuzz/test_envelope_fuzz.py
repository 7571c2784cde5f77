"""The envelope decoder and the consumer's decision on arbitrary bytes, JSON and headers.

What may escape `decode`: InvalidEvent only (the consumer dead-letters it as `invalid`).
What may escape `EventConsumer.outcome_of`: nothing; and whatever it decides, the message can
be moved to a retry queue or the DLQ (`shared.consumer.move`) as pika would send it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pika
from hypothesis import given
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from shared.consumer import Delivery, EventConsumer, PermanentError, move
from shared.contract import EVENT_TYPES, Email
from shared.envelope import Event, InvalidEvent, decode
from shared.settings import Settings
from tests.support.events import of_type, unlisted

# JSON as a publisher may write it: any nesting, huge and negative numbers, any text.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=0, max_value=400).map(lambda digits: -(10**digits) + 1)  # 10^400 and such
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
ENVELOPE_FIELDS = ["id", "source", "type", "time", "subject", "data", "correlationid", "traceparent"]


def wire(event_type: str) -> dict[str, Any]:
    """A valid event of the type as it travels (an unlisted type as a newer service sends it)."""
    if event_type in EVENT_TYPES:
        return json.loads(of_type(event_type).to_json())
    return json.loads(unlisted())


@st.composite
def tampered_events(draw: st.DrawFn) -> bytes:
    """A valid event with some envelope or data fields replaced by arbitrary JSON (or removed)."""
    body = wire(draw(st.sampled_from([*EVENT_TYPES, "points.awarded"])))
    for field in draw(st.lists(st.sampled_from(ENVELOPE_FIELDS), max_size=3)):
        body[field] = draw(json_values)
    data = body.get("data")
    if isinstance(data, dict) and data:
        for field in draw(st.lists(st.sampled_from(sorted(data)), max_size=3)):
            data[field] = draw(json_values)
    return json.dumps(body).encode()


bodies = (
    st.binary(max_size=2000) | json_values.map(lambda value: json.dumps(value).encode()) | tampered_events()
)


def check_decode(body: bytes, *, any_type: bool) -> Event | None:
    try:
        event = decode(body, any_type=any_type)
    except InvalidEvent:
        return None
    assert decode(event.to_json(), any_type=any_type) == event  # what an observer sends on survives
    return event


@given(bodies)
def test_decode_returns_an_event_or_raises_invalid_event(body: bytes):
    check_decode(body, any_type=False)


@given(bodies)
def test_decode_of_any_type_returns_an_event_or_raises_invalid_event(body: bytes):
    check_decode(body, any_type=True)


# What AMQP tables carry, as pika decodes them: also floats and decimals, which pika cannot send.
header_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.decimals(allow_nan=False, allow_infinity=False, places=2)
    | st.text(max_size=50)
    | st.binary(max_size=50)
    | st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
CONSUMER_HEADERS = ["x-attempt", "x-death-reason", "x-error", "x-original-routing-key", "x-death"]
headers = st.dictionaries(st.sampled_from(CONSUMER_HEADERS) | st.text(max_size=20), header_values, max_size=6)


class SideChannel:
    """The confirm channel a message is moved on: encodes it as pika would put it on the wire."""

    def basic_publish(self, exchange: str, key: str, body: bytes, props: Any, mandatory: bool) -> None:
        props.encode()


def raising(error: Exception):
    def handle(_event: Event) -> None:
        raise error

    return handle


SETTINGS = Settings(service="fuzz", amqp_url="amqp://fuzz:pw@unused", redis_url="redis://unused")


@given(
    body=bodies,
    headers=headers,
    sender=st.sampled_from([None, "orders", "payments", "fuzz", "guest"]),
    error=st.sampled_from([None, PermanentError("no"), TimeoutError("slow"), ValueError("\ud800")]),
)
def test_the_consumer_decides_on_any_message_and_can_always_move_it(
    body: bytes, headers: dict[str, Any], sender: str | None, error: Exception | None
):
    handle = raising(error) if error else (lambda _event: None)
    consumer = EventConsumer("fuzz", dict.fromkeys([*EVENT_TYPES, "*"], handle), SETTINGS)
    routing_key = "order.placed"

    outcome = consumer.outcome_of(body, headers, routing_key, sender)

    assert outcome.action in {"ack", "retry", "dead_letter"}
    if outcome.action != "ack":
        properties = pika.BasicProperties(headers=headers, user_id=sender)
        assert move(SideChannel(), "fuzz", "fuzz", Delivery(1, routing_key, properties, body), outcome)


API_EMAIL = TypeAdapter(EmailStr)  # what the orders API takes (services/orders/commands.py)
CONTRACT_EMAIL = TypeAdapter(Email)


@given(st.emails() | st.text(max_size=40).map(lambda local: f"{local}@example.com"))
def test_every_address_the_orders_api_takes_passes_the_contract(address: str):
    """Else an order placed through the API would make an event the contract refuses."""
    try:
        normalized = API_EMAIL.validate_python(address)
    except ValidationError:
        return
    assert CONTRACT_EMAIL.validate_python(normalized) == normalized
