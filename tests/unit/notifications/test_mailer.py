"""The email each notification becomes."""

from __future__ import annotations

import email.policy
import io
from email import message_from_bytes
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.message import EmailMessage

import pytest

from services.notifications.mailer import compose
from services.notifications.model import Notification
from shared.envelope import new_event


def notification(event_type: str, **data: object) -> Notification:
    payload = {"order_id": "o-1", "customer_email": "ada@example.com", **data}
    return Notification.for_outcome(new_event(event_type, payload, source="orders"))


def test_a_confirmation_names_the_order_and_its_total() -> None:
    message = compose(notification("order.confirmed", total_cents=2505), sender="Shop <shop@example.com>")

    assert message["To"] == "ada@example.com"
    assert message["From"] == "Shop <shop@example.com>"
    assert message["Subject"] == "Your order o-1 is confirmed"
    assert message["Message-ID"] == "<o-1.order_confirmed@notifications.shop>"
    assert "Total: 25.05" in message.get_content()


def test_a_cancellation_gives_the_reason() -> None:
    message = compose(notification("order.cancelled", reason="card_declined"))

    assert message["Subject"] == "Your order o-1 was cancelled"
    assert message["Message-ID"] == "<o-1.order_cancelled@notifications.shop>"
    assert "(card declined)" in message.get_content()


def as_sent(message: EmailMessage) -> bytes:
    """The bytes smtplib puts on the wire (SMTP.send_message flattens the same way)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=message.policy).flatten(message, linesep="\r\n")
    return out.getvalue()


def test_an_ascii_email_is_sent_as_it_reads() -> None:
    order_id = "4f0c2a9e-1111-2222-3333-444455556666"  # a Message-ID line past 78 columns
    wire = as_sent(compose(notification("order.confirmed", order_id=order_id, total_cents=1250)))

    assert f"\r\nMessage-ID: <{order_id}.order_confirmed@notifications.shop>\r\n".encode() in wire
    assert b"Content-Transfer-Encoding: 7bit\r\n" in wire
    assert f"your order {order_id} is confirmed.".encode() in wire  # not broken by quoted-printable
    parsed = message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Subject"] == f"Your order {order_id} is confirmed"
    assert "Total: 12.50" in parsed.get_content()


def test_a_header_past_the_line_limit_is_still_folded() -> None:
    long_sender = "Big Shop " * 150 + "<s@x.io>"
    wire = as_sent(compose(notification("order.confirmed", total_cents=1), sender=long_sender))

    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    assert message_from_bytes(wire, policy=email.policy.default)["From"].addresses[0].username == "s"


def test_an_address_beyond_ascii_gets_the_full_policy() -> None:
    message = compose(notification("order.confirmed", customer_email="zoë@exämple.com", total_cents=1))

    parsed = message_from_bytes(message.as_bytes(policy=email.policy.SMTPUTF8), policy=email.policy.default)
    assert parsed["To"] == "zoë@exämple.com"


def test_a_body_line_past_the_limit_is_encoded_not_sent_as_is() -> None:
    wire = as_sent(compose(notification("order.cancelled", reason="x" * 1200)))

    assert b"Content-Transfer-Encoding: 7bit" not in wire
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    assert "x" * 1200 in message_from_bytes(wire, policy=email.policy.default).get_content()


def test_a_header_with_a_control_character_is_not_written_as_is() -> None:
    message = compose(notification("order.cancelled", order_id="o\x1cBcc: eve@example.com", reason="r"))

    with pytest.raises(HeaderParseError):
        as_sent(message)
