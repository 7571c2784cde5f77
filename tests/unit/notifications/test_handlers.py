"""The notifications handlers with an in-memory store, a list as outbox and a list as broker."""

from __future__ import annotations

import smtplib

import pytest

from services.notifications import handlers
from services.notifications.mailer import UnsafeEmail
from services.notifications.model import Notification, SendInProgress
from shared.envelope import Event, new_event
from shared.metrics import PROCESS_REGISTRY
from tests.support.events import ORDER_ID
from tests.unit.notifications.fakes import FakeNotifications

OTHER_ORDER_ID = "00000000-0000-4000-8000-000000000002"


def confirmed(order_id: str = ORDER_ID) -> Event:
    data = {"order_id": order_id, "customer_email": "ada@example.com", "total_cents": 2500}
    return new_event("order.confirmed", data, source="orders")


def cancelled(order_id: str = ORDER_ID) -> Event:
    data = {"order_id": order_id, "customer_email": "ada@example.com", "reason": "card_declined"}
    return new_event("order.cancelled", data, source="orders")


class Notifications:
    """The notifications service around fakes: what a test drives and inspects."""

    def __init__(self) -> None:
        self.store = FakeNotifications()
        self.enqueued: list[str] = []
        self.emails: list[Notification] = []
        self.published: list[Event] = []

    def receive(self, event: Event) -> None:
        handlers.queue_notification(event, store=self.store, enqueue_send=self.enqueued.append)

    def send(self, notification_id: str) -> str:
        return handlers.send_notification(
            notification_id, store=self.store, send_email=self.emails.append, publish=self.published.append
        )


@pytest.fixture
def service() -> Notifications:
    return Notifications()


def test_an_order_outcome_queues_one_notification_and_enqueues_its_sending(service: Notifications) -> None:
    service.receive(confirmed())

    [notification] = service.store.for_order(ORDER_ID)
    assert (notification.template, notification.recipient, notification.status) == (
        "order_confirmed",
        "ada@example.com",
        "queued",
    )
    assert service.enqueued == [notification.notification_id]


def test_the_notification_id_is_the_same_for_a_redelivered_outcome_and_differs_per_outcome(
    service: Notifications,
) -> None:
    service.receive(confirmed())
    service.receive(confirmed())  # a redelivery, or the same outcome published twice
    service.receive(cancelled(OTHER_ORDER_ID))

    assert len(service.store.notifications) == 2
    assert service.enqueued[0] == service.enqueued[1] != service.enqueued[2]


def past_the_contract(event: Event, **data: object) -> Event:
    """`event` with data the contract would refuse: what the email writer must survive on its own."""
    return event.model_copy(update={"data": event.data.model_copy(update=data)})


@pytest.mark.parametrize(
    "data",
    [
        {"customer_email": "ada@example.com,postmaster"},
        {"customer_email": "ada@example.com\r\nBcc: eve@example.com"},
        {"order_id": f"{ORDER_ID}\r\nBcc: eve@example.com"},
    ],
)
def test_an_outcome_whose_email_would_gain_a_header_or_a_recipient_is_dead_lettered_not_queued(
    service: Notifications, data: dict[str, str]
) -> None:
    with pytest.raises(UnsafeEmail):  # a PermanentError: the consumer parks the event with this reason
        service.receive(past_the_contract(confirmed(), **data))

    assert service.store.notifications == {}
    assert service.enqueued == []


def test_sending_emails_once_and_announces_notification_sent(service: Notifications) -> None:
    outcome = confirmed()
    service.receive(outcome)
    [notification_id] = set(service.enqueued)

    assert service.send(notification_id) == "sent"

    [email] = service.emails
    assert email.message_id == f"<{ORDER_ID}.order_confirmed@notifications.shop>"
    [event] = service.published
    assert event.type == "notification.sent"
    assert (event.data.notification_id, event.data.channel, event.data.template) == (
        notification_id,
        "email",
        "order_confirmed",
    )
    assert event.correlationid == outcome.correlationid
    assert service.store.get(notification_id).status == "sent"


def test_sending_again_is_a_no_op(service: Notifications) -> None:
    service.receive(cancelled())
    service.receive(cancelled())
    first, again = service.enqueued

    assert service.send(first) == "sent"
    assert service.send(again) == "duplicate"

    assert len(service.emails) == 1
    assert len(service.published) == 1


def test_a_failed_email_is_raised_for_the_task_to_retry_and_then_sent_once(service: Notifications) -> None:
    service.receive(confirmed())
    [notification_id] = service.enqueued

    def smtp_down(_notification: Notification) -> None:
        raise smtplib.SMTPServerDisconnected("connection lost")

    with pytest.raises(smtplib.SMTPServerDisconnected):
        handlers.send_notification(
            notification_id, store=service.store, send_email=smtp_down, publish=service.published.append
        )
    assert service.store.get(notification_id).status == "queued"
    assert service.store.claimed == set()

    assert service.send(notification_id) == "sent"
    assert len(service.emails) == 1


def test_a_failed_publish_is_retried_without_sending_the_email_again(service: Notifications) -> None:
    service.receive(confirmed())
    [notification_id] = service.enqueued

    def broker_down(_event: Event) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        handlers.send_notification(
            notification_id, store=service.store, send_email=service.emails.append, publish=broker_down
        )

    assert service.send(notification_id) == "sent"
    assert len(service.emails) == 1
    assert len(service.published) == 1


def test_a_notification_another_task_is_sending_is_left_to_it(service: Notifications) -> None:
    service.receive(confirmed())
    [notification_id] = service.enqueued
    service.store.claimed.add(notification_id)

    with pytest.raises(SendInProgress):
        service.send(notification_id)

    assert service.emails == []


def test_an_unknown_notification_does_nothing(service: Notifications) -> None:
    assert service.send("n-unknown") == "unknown"
    assert service.emails == []


def test_an_email_sent_is_timed_from_when_its_order_was_placed(service: Notifications) -> None:
    placed = {"placed_at": "2026-01-05T09:30:00+00:00"}
    emailed = {"stage": "emailed"}
    before = PROCESS_REGISTRY.get_sample_value("shop_order_stage_seconds_count", emailed) or 0.0
    service.receive(
        new_event("order.confirmed", {**confirmed().data.model_dump(), **placed}, source="orders")
    )
    [notification_id] = set(service.enqueued)

    service.send(notification_id)
    service.send(notification_id)  # nothing sent again: not timed again

    assert PROCESS_REGISTRY.get_sample_value("shop_order_stage_seconds_count", emailed) == before + 1
