"""The email each notification becomes, and what no notification can make it do.

Notifications are built here without the contract: the writer must be safe on its own,
whatever strings an event that slipped past the contract (or an old record) carries."""

from __future__ import annotations

import email.policy
import io
from email import message_from_bytes
from email.generator import BytesGenerator
from email.message import EmailMessage, Message

import pytest

from services.notifications.mailer import SmtpMailer, UnsafeEmail, compose
from shared.consumer import PermanentError
from tests.support.events import ORDER_ID
from tests.unit.notifications.fakes import HEADERS, RecordingSmtp, notification


def as_sent(message: EmailMessage) -> bytes:
    """The bytes smtplib puts on the wire (SMTP.send_message flattens the same way)."""
    out = io.BytesIO()
    BytesGenerator(out, policy=message.policy).flatten(message, linesep="\r\n")
    return out.getvalue()


def read_back(message: EmailMessage) -> Message:
    return message_from_bytes(as_sent(message), policy=email.policy.default)


def test_a_confirmation_names_the_order_and_its_total() -> None:
    message = compose(notification(detail="2505"), sender="Shop <shop@example.com>")

    assert message["To"] == "ada@example.com"
    assert message["From"] == "Shop <shop@example.com>"
    assert message["Subject"] == f"Your order {ORDER_ID} is confirmed"
    assert message["Message-ID"] == f"<{ORDER_ID}.order_confirmed@notifications.shop>"
    assert "Total: 25.05" in message.get_content()


def test_a_cancellation_gives_the_reason() -> None:
    message = compose(notification("order_cancelled", detail="card_declined"))

    assert message["Subject"] == f"Your order {ORDER_ID} was cancelled"
    assert message["Message-ID"] == f"<{ORDER_ID}.order_cancelled@notifications.shop>"
    assert "(card declined)" in message.get_content()


def test_an_ascii_email_is_sent_as_it_reads() -> None:
    wire = as_sent(compose(notification(detail="1250")))  # a Message-ID line past 78 columns

    assert f"\r\nMessage-ID: <{ORDER_ID}.order_confirmed@notifications.shop>\r\n".encode() in wire
    assert b"Content-Transfer-Encoding: 7bit\r\n" in wire
    assert f"your order {ORDER_ID} is confirmed.".encode() in wire  # not broken by quoted-printable
    parsed = message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Subject"] == f"Your order {ORDER_ID} is confirmed"
    assert "Total: 12.50" in parsed.get_content()


def test_a_header_past_the_line_limit_is_still_folded() -> None:
    long_sender = "Big Shop " * 150 + "<s@x.io>"
    wire = as_sent(compose(notification(), sender=long_sender))

    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    assert message_from_bytes(wire, policy=email.policy.default)["From"].addresses[0].username == "s"


def test_an_address_beyond_ascii_gets_the_full_policy() -> None:
    message = compose(notification(recipient="zoë@exämple.com"))

    parsed = message_from_bytes(message.as_bytes(policy=email.policy.SMTPUTF8), policy=email.policy.default)
    assert parsed["To"] == "zoë@exämple.com"


def test_a_body_line_past_the_limit_is_encoded_not_sent_as_is() -> None:
    wire = as_sent(compose(notification("order_cancelled", detail="x" * 1200)))

    assert b"Content-Transfer-Encoding: 7bit" not in wire
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))
    assert "x" * 1200 in message_from_bytes(wire, policy=email.policy.default).get_content()


# Finding 5 of issue 15: an order id with a line break went into Subject and Message-ID as is.
@pytest.mark.parametrize(
    "order_id",
    [
        f"{ORDER_ID}\r\nBcc: eve@example.com",
        f"{ORDER_ID}\nBcc: eve@example.com",
        f"{ORDER_ID}\rBcc: eve@example.com",
        f"{ORDER_ID}\r\n Bcc: eve@example.com",  # a continuation line
        "o\x1cBcc: eve@example.com",  # str.splitlines() breaks here too, and so may a mail system
        "o\x85Bcc: eve@example.com",
        "o\u2028Bcc: eve@example.com",
        "é\r\nBcc: eve@example.com",  # past ASCII: the header would be encoded, not written as is
    ],
)
def test_an_order_id_with_a_line_break_is_refused(order_id: str) -> None:
    for template in ("order_confirmed", "order_cancelled"):
        with pytest.raises(UnsafeEmail, match=r"Subject|Message-ID"):
            compose(notification(template, order_id=order_id, detail="1"))


@pytest.mark.parametrize("order_id", ["o 1", "o>, <x", "o\x00", "o@evil.example"])
def test_an_order_id_that_breaks_the_message_id_is_refused(order_id: str) -> None:
    with pytest.raises(UnsafeEmail, match="Message-ID"):
        compose(notification(order_id=order_id))


def test_a_reason_with_line_breaks_stays_in_the_body() -> None:
    reason = "declined\r\nBcc: eve@example.com\r\n\r\nX-Injected: 1"
    parsed = read_back(compose(notification("order_cancelled", detail=reason)))

    assert list(parsed.keys()) == HEADERS
    assert parsed["To"].addresses[0].addr_spec == "ada@example.com"
    assert "Bcc: eve@example.com" in parsed.get_content()


@pytest.mark.parametrize(
    "recipient",
    [
        "a@b.c,postmaster",
        "a@b.c, eve@example.com",
        "a@b.c;eve@example.com",
        "a@b.c\r\nBcc: x@y.z",
        "a@b.c\nBcc: x@y.z",
        "<a@b.c>",
        "Eve <eve@example.com>",
        '"a@b.c" <eve@example.com>',
        "a@b.c (Eve) eve@example.com",
        "undisclosed: eve@example.com;",
        "a@b.c\x00",
        "",
    ],
)
def test_a_recipient_that_is_not_exactly_one_address_is_refused(recipient: str) -> None:
    with pytest.raises(UnsafeEmail, match="To"):
        compose(notification(recipient=recipient))


def test_a_quoted_local_part_is_one_recipient() -> None:
    parsed = read_back(compose(notification(recipient='"a,b"@example.com')))

    assert [address.addr_spec for address in parsed["To"].addresses] == ['"a,b"@example.com']


def test_a_refused_email_is_a_permanent_error_for_the_consumer_to_dead_letter() -> None:
    assert issubclass(UnsafeEmail, PermanentError)


@pytest.mark.parametrize(
    "sender", ["Shop\r\nBcc: eve@example.com <s@x.io>", "s@x.io, eve@example.com", "Shop"]
)
def test_a_mailer_refuses_a_sender_that_is_not_one_address(sender: str) -> None:
    with pytest.raises(UnsafeEmail, match="From"):
        SmtpMailer("smtp://127.0.0.1:25", sender=sender)


def test_a_sender_with_a_line_break_is_refused_by_compose_too() -> None:
    with pytest.raises(UnsafeEmail, match="From"):
        compose(notification(), sender="Shop <s@x.io>\r\nBcc: eve@example.com")


def test_the_envelope_names_the_sender_and_the_one_recipient() -> None:
    smtp = RecordingSmtp()
    mailer = SmtpMailer("smtp://mail:25", sender="Shop <shop@example.com>", connect=lambda *_a, **_k: smtp)

    mailer.send(notification(recipient='"a,b"@example.com'))

    [wire] = smtp.messages
    assert smtp.envelope(b"mail FROM:") == [b"<shop@example.com>"]
    assert smtp.envelope(b"rcpt TO:") == [b'<"a,b"@example.com>']
    assert list(message_from_bytes(wire, policy=email.policy.default).keys()) == HEADERS
