"""Real SMTP: the mailer sends through the local sink (a real process), read back with Mailbox."""

from __future__ import annotations

import dataclasses
import smtplib
from collections.abc import Iterator

import pytest
import requests

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.mail import Mailbox
from harness.waiting import wait_until
from services.notifications.mailer import SmtpMailer, UnsafeEmail
from tests.integration.notifications.conftest import cancellation, confirmation, sample_order_id
from tests.support.events import ORDER_ID


@pytest.fixture
def sink() -> Iterator[SandboxedStack]:
    with sandboxed_stack("mailer") as stack:
        stack.up("smtp-sink")
        yield stack


@pytest.fixture
def mailer(sink: SandboxedStack) -> SmtpMailer:
    return SmtpMailer(sink.infra.smtp_url, sender="Shop <shop@example.com>")


def test_a_sent_email_shows_in_the_sink_like_in_mailpit(mailer: SmtpMailer, sink: SandboxedStack) -> None:
    mailbox = Mailbox(sink.url("smtp-sink"))
    notification = confirmation(email="grace@example.com")

    mailer.send(notification)

    [mail] = mailbox.wait_for_count(1, timeout=10)
    assert mail.message_id == f"{ORDER_ID}.order_confirmed@notifications.shop"
    assert (mail.order_id, mail.template) == (ORDER_ID, "order_confirmed")
    assert mail.sender == "shop@example.com"
    assert mail.recipients == ("grace@example.com",)
    assert mail.subject == f"Your order {ORDER_ID} is confirmed"
    assert mail.created.endswith("Z")


def test_the_mailbox_pages_through_everything_oldest_first_and_clears(
    mailer: SmtpMailer, sink: SandboxedStack
) -> None:
    mailbox = Mailbox(sink.url("smtp-sink"))
    order_ids = [sample_order_id(n) for n in range(7)]
    for order_id in order_ids:
        mailer.send(cancellation(order_id))

    mails = mailbox.list()  # more than one page: the sink's default page is 50, Mailbox asks for 500
    assert [m.order_id for m in mails] == order_ids
    assert mailbox.count() == 7

    mailbox.clear()
    assert mailbox.count() == 0
    assert mailbox.list() == []


def test_the_sink_paginates_newest_first_like_mailpit(mailer: SmtpMailer, sink: SandboxedStack) -> None:
    for n in (1, 2, 3):
        mailer.send(confirmation(sample_order_id(n)))

    page = requests.get(
        sink.url("smtp-sink") + "/api/v1/messages", params={"start": 1, "limit": 1}, timeout=5
    )

    body = page.json()
    assert (body["total"], body["count"], body["start"]) == (3, 1, 1)
    assert body["messages"][0]["MessageID"] == f"{sample_order_id(2)}.order_confirmed@notifications.shop"


def test_an_email_that_would_gain_a_recipient_never_reaches_the_server(
    mailer: SmtpMailer, sink: SandboxedStack
) -> None:
    mailbox = Mailbox(sink.url("smtp-sink"))
    # past the contract (it refuses both addresses): the writer refuses on its own
    for recipient in (
        "grace@example.com,postmaster@example.com",
        "grace@example.com\r\nBcc: eve@example.com",
    ):
        with pytest.raises(UnsafeEmail):
            mailer.send(dataclasses.replace(confirmation(), recipient=recipient))
    mailer.send(confirmation(sample_order_id(2), email="grace@example.com"))

    [mail] = mailbox.wait_for_count(1, timeout=10)  # only the last one: the refused ones were never sent
    assert (mail.order_id, mail.recipients) == (sample_order_id(2), ("grace@example.com",))


def test_an_unreachable_smtp_server_raises_an_os_error_for_the_task_to_retry(sink: SandboxedStack) -> None:
    mailer = SmtpMailer(sink.infra.smtp_url)
    sink.stop("smtp-sink")
    wait_until(lambda: not _answers(mailer), 10, 0.1, "the sink gone")

    with pytest.raises(OSError):
        mailer.send(confirmation())


def _answers(mailer: SmtpMailer) -> bool:
    try:
        with smtplib.SMTP(mailer.host, mailer.port, timeout=1) as smtp:
            return smtp.noop()[0] == 250
    except OSError:
        return False
