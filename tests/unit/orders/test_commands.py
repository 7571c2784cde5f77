"""Validation of a PlaceOrder request: every refusal names the field and the reason."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.orders.commands import InvalidJson, PlaceOrder, parse_place_order
from shared.web import field_errors

VALID = {
    "customer_email": "ada@example.com",
    "items": [{"sku": "MUG-CERAMIC", "qty": 2}],
    "payment_token": "tok_visa",
}


def with_changes(**changes: object) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def refusals(body: bytes) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_place_order(body)
    return {e["field"]: e["reason"] for e in field_errors(caught.value)}


def test_a_valid_request_parses() -> None:
    command = parse_place_order(json.dumps(VALID).encode())

    assert command.customer_email == "ada@example.com"
    assert [(line.sku, line.qty) for line in command.items] == [("MUG-CERAMIC", 2)]


@pytest.mark.parametrize(
    ("body", "field", "reason_part"),
    [
        (
            json.dumps({"items": VALID["items"], "payment_token": "tok_visa"}).encode(),
            "customer_email",
            "required",
        ),
        (with_changes(customer_email="not-an-email"), "customer_email", "email"),
        (with_changes(customer_email=42), "customer_email", "string"),
        (with_changes(items=[]), "items", "at least 1"),
        (with_changes(items=[{"sku": "MUG-CERAMIC", "qty": 1}] * 51), "items", "at most 50"),
        (with_changes(items="MUG-CERAMIC"), "items", "array"),
        (
            with_changes(items=[{"sku": "NO-SUCH-THING", "qty": 1}]),
            "items[0].sku",
            "unknown sku 'NO-SUCH-THING'",
        ),
        (with_changes(items=[{"qty": 1}]), "items[0].sku", "required"),
        (
            with_changes(items=[{"sku": "MUG-CERAMIC", "qty": 0}]),
            "items[0].qty",
            "greater than or equal to 1",
        ),
        (
            with_changes(items=[{"sku": "MUG-CERAMIC", "qty": -3}]),
            "items[0].qty",
            "greater than or equal to 1",
        ),
        (
            with_changes(items=[{"sku": "MUG-CERAMIC", "qty": 10**9}]),
            "items[0].qty",
            "less than or equal to 100",
        ),
        (with_changes(items=[{"sku": "MUG-CERAMIC", "qty": "2"}]), "items[0].qty", "valid integer"),
        (with_changes(items=[{"sku": "MUG-CERAMIC", "qty": 1.5}]), "items[0].qty", "valid integer"),
        (with_changes(items=[{"sku": "MUG-CERAMIC", "qty": True}]), "items[0].qty", "valid integer"),
        (with_changes(payment_token=""), "payment_token", "at least 1 character"),
        (with_changes(payment_token=["tok_visa"]), "payment_token", "string"),
        (with_changes(total_cents=1), "total_cents", "not permitted"),
        (b"[1, 2]", "body", "object"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(body: bytes, field: str, reason_part: str) -> None:
    errors = refusals(body)

    assert field in errors, errors
    assert reason_part in errors[field]


def test_non_json_is_told_apart_from_invalid_json() -> None:
    with pytest.raises(InvalidJson):
        parse_place_order(b'{"customer_email": ')


def test_the_fingerprint_tells_a_retry_from_a_different_request() -> None:
    first = PlaceOrder.model_validate_json(json.dumps(VALID))
    again = PlaceOrder.model_validate_json(json.dumps(VALID, indent=2))
    other = PlaceOrder.model_validate_json(with_changes(payment_token="tok_chargeDeclined"))

    assert first.fingerprint() == again.fingerprint()
    assert first.fingerprint() != other.fingerprint()
