"""The local SMTP sink: what its mailbox shows of a message, whatever headers it gets; its API's login."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
import requests

from infra.smtp_sink import Mailbox, http_handler


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


def test_with_mailpit_credentials_the_api_asks_for_them_and_the_health_endpoints_do_not() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), http_handler(Mailbox(), "mail:s3cret other:pw"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    messages = f"http://127.0.0.1:{port}/api/v1/messages"
    try:
        assert requests.get(messages, timeout=5).status_code == 401
        assert requests.get(messages, auth=("mail", "wrong"), timeout=5).status_code == 401
        assert requests.delete(messages, timeout=5).status_code == 401
        assert requests.get(messages, auth=("mail", "s3cret"), timeout=5).json()["total"] == 0
        # what the tests and demos do: the credentials in the URL
        assert requests.get(f"http://other:pw@127.0.0.1:{port}/api/v1/messages", timeout=5).ok
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        server.shutdown()
