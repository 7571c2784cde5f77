"""notifications as real processes (the Procfile commands) with the local SMTP sink.

Order outcomes go in with the shared Publisher, as orders would send them; the email is
read from the sink's Mailpit-compatible API, `notification.sent` from an observer queue
bound in the sandbox vhost, and the record from the read API.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator

import pytest
import requests

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.mail import Mailbox
from harness.sandbox import quiescent
from harness.waiting import wait_until
from services.notifications.mailer import SmtpMailer
from shared.envelope import Event, new_event
from shared.publisher import Publisher
from tests.support.bus import BusObserver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def notifications() -> Iterator[SandboxedStack]:
    """SMTP sink, notifications consumer, worker and API in their own sandbox, for this module."""
    with sandboxed_stack("notifications") as stack:
        stack.up("smtp-sink", "notifications")
        yield stack


@pytest.fixture
def publisher(notifications: SandboxedStack) -> Iterator[Publisher]:
    """Plays orders; the notifications queue exists from the start (up() declares the core topology)."""
    publisher = Publisher(notifications.sandbox.amqp_url_for("orders"), name="test-orders")
    yield publisher
    publisher.close()


@pytest.fixture
def observer(notifications: SandboxedStack) -> Iterator[BusObserver]:
    observer = BusObserver(notifications.sandbox.amqp_url, binding="notification.sent")
    yield observer
    observer.close()


@pytest.fixture
def mailbox(notifications: SandboxedStack) -> Mailbox:
    box = Mailbox(notifications.url("smtp-sink"))
    box.clear()
    return box


def outcome(event_type: str, **data: object) -> Event:
    order_id = str(uuid.uuid4())
    return new_event(
        event_type, {"order_id": order_id, "customer_email": "ada@example.com", **data}, source="orders"
    )


def notifications_of(stack: SandboxedStack, order_id: str) -> list[dict]:
    response = requests.get(
        stack.url("notifications") + "/api/notifications", params={"order_id": order_id}, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


def test_each_order_outcome_sends_exactly_one_email_whatever_the_redeliveries(
    notifications: SandboxedStack, publisher: Publisher, mailbox: Mailbox, observer: BusObserver
) -> None:
    confirmed = outcome("order.confirmed", total_cents=2500)
    cancelled = outcome("order.cancelled", reason="card_declined")
    publisher.publish_many([confirmed, cancelled, confirmed])

    wait_until(lambda: observer.of_order(confirmed.subject) and observer.of_order(cancelled.subject), 30)
    wait_until(
        lambda: quiescent(notifications.sandbox, "notifications"), 60, 0.2, "every delivery and task settled"
    )

    mails = mailbox.list()
    assert sorted((m.order_id, m.template) for m in mails) == sorted(
        [(confirmed.subject, "order_confirmed"), (cancelled.subject, "order_cancelled")]
    )
    mail = next(m for m in mails if m.order_id == confirmed.subject)
    assert mail.recipients == ("ada@example.com",)
    assert mail.subject == f"Your order {confirmed.subject} is confirmed"
    assert [len(observer.of_order(o.subject)) for o in (confirmed, cancelled)] == [1, 1]
    sent = observer.of_order(confirmed.subject)[0]
    assert sent.correlationid == confirmed.correlationid
    assert sent.data.template == "order_confirmed" and sent.data.channel == "email"


def test_the_read_api_shows_the_sent_notification(
    notifications: SandboxedStack, publisher: Publisher, mailbox: Mailbox, observer: BusObserver
) -> None:
    confirmed = outcome("order.confirmed", total_cents=990)
    publisher.publish(confirmed)

    event = wait_until(lambda: observer.of_order(confirmed.subject), 30, 0.1, "notification.sent")[0]

    [record] = notifications_of(notifications, confirmed.subject)
    assert record["notification_id"] == event.data.notification_id
    assert record["status"] == "sent"
    assert record["template"] == "order_confirmed"
    assert record["recipient"] == "ada@example.com"
    assert notifications_of(notifications, str(uuid.uuid4())) == []


def test_the_read_api_names_the_missing_order_id(notifications: SandboxedStack) -> None:
    response = requests.get(notifications.url("notifications") + "/api/notifications", timeout=5)

    assert response.status_code == 400
    assert response.json()["field"] == "order_id"


def test_an_email_is_retried_with_backoff_until_the_smtp_server_is_back_and_sent_once(
    notifications: SandboxedStack, publisher: Publisher, observer: BusObserver
) -> None:
    smtp = SmtpMailer(notifications.infra.smtp_url)
    notifications.stop("smtp-sink")
    wait_until(lambda: not _smtp_answers(smtp), 10, 0.1, "the SMTP sink gone")
    failures_before = send_failures(notifications)
    try:
        confirmed = outcome("order.confirmed", total_cents=1200)
        publisher.publish(confirmed)
        wait_until(lambda: send_failures(notifications) > failures_before, 30, 0.2, "a failed send attempt")
        assert notifications_of(notifications, confirmed.subject)[0]["status"] == "queued"
    finally:
        notifications.start("smtp-sink")
        notifications.wait_ready("smtp-sink")

    wait_until(lambda: observer.of_order(confirmed.subject), 90, 0.2, "notification.sent after the retries")
    mails = Mailbox(notifications.url("smtp-sink")).list()
    assert [(m.order_id, m.template) for m in mails] == [(confirmed.subject, "order_confirmed")]


def send_failures(stack: SandboxedStack) -> float:
    """Transient failures of send_notification so far, from the service's /metrics."""
    metrics = requests.get(stack.url("notifications") + "/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("shop_tasks_total{") and 'task="send_notification"' in line and "transient" in line
    )


def _smtp_answers(mailer: SmtpMailer) -> bool:
    try:
        with smtplib.SMTP(mailer.host, mailer.port, timeout=1) as smtp:
            return smtp.noop()[0] == 250
    except OSError:
        return False
