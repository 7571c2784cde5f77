"""The local SMTP sink's mailbox: what it shows of a message, whatever headers it gets."""

from __future__ import annotations

import pytest

from infra.smtp_sink import Mailbox


def message(subject: bytes, to: bytes = b"ada@example.com") -> bytes:
    return (
        b"From: =?utf-8?q?Sh=C3=B6p?= <shop@example.com>\r\n"
        b"To: " + to + b"\r\n"
        b"Subject: " + subject + b"\r\n"
        b"Message-ID: <n-1.order_confirmed@notifications.shop>\r\n"
        b"\r\n"
        b"Thank you!\r\n"
    )


def test_a_message_is_listed_like_mailpit_lists_it() -> None:
    stored = Mailbox().add(
        message(b"=?utf-8?q?Your_order_=E2=9C=93_is_confirmed?=", b"Ada <ada@example.com>")
    )

    summary = stored.summary()
    assert summary["MessageID"] == "n-1.order_confirmed@notifications.shop"
    assert summary["From"] == {"Name": "Shöp", "Address": "shop@example.com"}
    assert summary["To"] == [{"Name": "Ada", "Address": "ada@example.com"}]
    assert summary["Subject"] == "Your order ✓ is confirmed"


def test_a_folded_header_is_unfolded() -> None:
    stored = Mailbox().add(message(b"Your order 0123456789 is\r\n confirmed"))

    assert stored.subject == "Your order 0123456789 is confirmed"


@pytest.mark.parametrize(
    "subject",
    [b"=?utf-8?b?a?=", b"=?x-unknown?q?abc?=", b"=?utf-8?q?=FF?=", b"caf\xe9 =?utf-8?q?ok?="],
    ids=["bad-base64", "unknown-charset", "not-utf-8", "raw-latin-1"],
)
def test_a_header_that_cannot_be_decoded_is_kept_as_written_and_the_message_accepted(subject: bytes) -> None:
    mailbox = Mailbox()

    stored = mailbox.add(message(subject))

    assert stored.subject  # shown as written rather than refused
    assert mailbox.page(0, 10) == (1, [stored])
