"""The email each notification becomes."""

from __future__ import annotations

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
