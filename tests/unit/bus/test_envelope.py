"""The CloudEvents envelope and the event contract, without a broker."""

from __future__ import annotations

import json

import pytest

from shared.contract import EVENT_TYPES, MAX_CENTS, MAX_LINES, OrderPlaced
from shared.envelope import CONTENT_TYPE, InvalidEvent, decode, new_event
from tests.support.events import ORDER_ID, PAYMENT_ID, unlisted

ORDER = {
    "order_id": ORDER_ID,
    "customer_email": "ada@example.com",
    "items": [{"sku": "SKU-1", "qty": 2, "unit_price_cents": 500}],
    "total_cents": 1000,
    "currency": "EUR",
    "payment_token": "tok_visa",
}


def test_an_event_survives_the_wire_unchanged():
    event = new_event("order.placed", ORDER, source="orders")

    assert decode(event.to_json()) == event


def test_a_type_the_contract_does_not_list_is_refused_unless_any_type_is_observed():
    body = unlisted()

    with pytest.raises(InvalidEvent, match=r"unknown event type 'points\.awarded'"):
        decode(body)
    event = decode(body, any_type=True)

    assert (event.type, event.subject) == ("points.awarded", ORDER_ID)
    assert event.data.model_dump() == {"order_id": ORDER_ID, "points": 12}  # untyped, as sent
    assert decode(event.to_json(), any_type=True) == event


def test_the_envelope_is_cloudevents_1_0_with_the_order_as_subject():
    wire = json.loads(new_event("order.placed", ORDER, source="orders").to_json())

    assert wire["specversion"] == "1.0"
    assert wire["type"] == "order.placed"
    assert wire["source"] == "orders"
    assert wire["subject"] == ORDER_ID
    assert wire["datacontenttype"] == "application/json"
    assert {"id", "time", "correlationid", "traceparent", "data"} <= wire.keys()
    assert CONTENT_TYPE == "application/cloudevents+json"


def test_an_event_caused_by_another_keeps_its_correlation_id_and_trace():
    cause = new_event("order.placed", ORDER, source="orders")
    effect = new_event(
        "payment.authorized",
        {"order_id": ORDER_ID, "payment_id": PAYMENT_ID, "amount_cents": 1000, "currency": "EUR"},
        source="payments",
        caused_by=cause,
    )

    assert effect.correlationid == cause.correlationid
    assert effect.traceparent.split("-")[1] == cause.traceparent.split("-")[1]
    assert effect.traceparent != cause.traceparent


def test_an_unknown_type_is_refused():
    with pytest.raises(InvalidEvent, match=r"unknown event type 'order\.shipped'"):
        new_event("order.shipped", {"order_id": ORDER_ID}, source="orders")


@pytest.mark.parametrize(
    ("field", "value"),
    [("customer_email", "not-an-email"), ("items", []), ("total_cents", -1), ("order_id", None)],
)
def test_invalid_data_is_refused_naming_the_field(field: str, value: object):
    with pytest.raises(InvalidEvent, match=field):
        new_event("order.placed", {**ORDER, field: value}, source="orders")


@pytest.mark.parametrize(
    "address",
    [
        "a@b.c,postmaster@example.com",
        "a@b.c,postmaster",
        "a@b.c;b@c.d",
        "Ada <a@b.c>",
        "a@b.c\r\nBcc: eve@example.com",
        "a@b.c\nx",
        '"a b"@c.de',
        "a b@c.de",
        "a@b.c (comment)",
        "a@b",
        f"{'a' * 250}@b.cd",
    ],
)
def test_an_email_is_one_bare_address(address: str):
    """A separator, a display name, a quote or a line break would add a recipient or a header."""
    with pytest.raises(InvalidEvent, match="customer_email"):
        new_event("order.placed", {**ORDER, "customer_email": address}, source="orders")


@pytest.mark.parametrize("address", ["ada@example.com", "o'brien+shop@mail.example.co.uk", "zoë@exämple.de"])
def test_addresses_the_orders_api_accepts_pass_the_contract(address: str):
    assert new_event("order.placed", {**ORDER, "customer_email": address}, source="orders")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_id", f"{ORDER_ID}:claim"),
        ("order_id", "ABCDEF01-0000-4000-8000-000000000001"),  # one id, one spelling: lower case
        ("order_id", "o-1"),
        ("total_cents", 2**63),
        ("total_cents", MAX_CENTS + 1),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("payment_token", "tok visa"),
        ("payment_token", "t" * 65),
        ("items", [{"sku": "SKU-1", "qty": 10**40, "unit_price_cents": 500}]),
        ("items", [{"sku": "SKU\r\n1", "qty": 1, "unit_price_cents": 500}]),
        ("items", [{"sku": "SKU-1", "qty": 1, "unit_price_cents": 500}] * (MAX_LINES + 1)),
    ],
)
def test_ids_strings_and_numbers_are_bounded(field: str, value: object):
    with pytest.raises(InvalidEvent, match=field):
        new_event("order.placed", {**ORDER, field: value}, source="orders")


def test_a_reason_is_a_code_not_a_line_of_text():
    data = {"order_id": ORDER_ID, "customer_email": "ada@example.com", "reason": "declined\r\nX-Evil: 1"}

    with pytest.raises(InvalidEvent, match="reason"):
        new_event("order.cancelled", data, source="orders")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),
        ("source", "orders\r\n"),
        ("type", "Order.Placed"),
        ("type", "x" * 100),
        ("subject", "o\n1"),
        ("correlationid", "c" * 256),
        ("traceparent", "00-abc"),
    ],
)
def test_the_envelope_s_fields_are_bounded(field: str, value: str):
    wire = json.loads(new_event("order.placed", ORDER, source="orders").to_json())

    with pytest.raises(InvalidEvent, match=field):
        decode(json.dumps({**wire, field: value}).encode(), any_type=True)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff{", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "x"}', "'type' is missing"),
        (b'{"type": "order.teleported", "data": {}}', "unknown event type"),
        (b"[" * 100_000, "not JSON"),  # deeper than the parser recurses
        (b'{"n": ' + b"9" * 5_000 + b"}", "not JSON"),  # more digits than Python converts
        (b'{"n": NaN}', "not JSON"),  # Python's parser takes it, JSON has no such value
    ],
)
def test_decoding_garbage_raises_invalid_event(body: bytes, reason: str):
    with pytest.raises(InvalidEvent, match=reason):
        decode(body)


def test_decoding_a_good_payload_with_a_broken_envelope_names_the_field():
    wire = json.loads(new_event("order.placed", ORDER, source="orders").to_json())
    del wire["time"]

    with pytest.raises(InvalidEvent, match="time"):
        decode(json.dumps(wire).encode())


def test_consumers_are_tolerant_readers_of_fields_added_later():
    data = OrderPlaced.model_validate({**ORDER, "gift_wrap": True})

    assert data.model_dump()["gift_wrap"] is True


def test_every_registered_type_is_past_tense_and_routable():
    for event_type in EVENT_TYPES:
        noun, verb = event_type.split(".")
        assert noun and verb.endswith(("ed", "sent", "beat")), event_type
