"""The dashboard's reducer: events in, order board and stream lines out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from services.dashboard.view import MAX_TEXT, DashboardView, Snapshot, chart_points, epoch_ms
from shared.envelope import Event, decode, new_event
from tests.support.events import NOTIFICATION_ID, ORDER_ID, PAYMENT_ID, unlisted

PLACED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ORDER = ORDER_ID


def event(event_type: str, data: dict, after_ms: int = 0, source: str = "orders") -> Event:
    base = new_event(event_type, {"order_id": ORDER, **data}, source=source)
    return base.model_copy(update={"time": PLACED_AT + timedelta(milliseconds=after_ms)})


def placed(after_ms: int = 0) -> Event:
    return event(
        "order.placed",
        {
            "customer_email": "ada@example.com",
            "items": [{"sku": "MUG", "qty": 2, "unit_price_cents": 1290}],
            "total_cents": 2580,
            "currency": "EUR",
            "payment_token": "tok_visa",
        },
        after_ms,
    )


def authorized(after_ms: int) -> Event:
    data = {"payment_id": PAYMENT_ID, "amount_cents": 2580, "currency": "EUR"}
    return event("payment.authorized", data, after_ms, "payments")


def confirmed(after_ms: int) -> Event:
    return event("order.confirmed", {"customer_email": "ada@example.com", "total_cents": 2580}, after_ms)


def cancelled(after_ms: int) -> Event:
    return event(
        "order.cancelled", {"customer_email": "ada@example.com", "reason": "card_declined"}, after_ms
    )


def notified(after_ms: int) -> Event:
    data = {"notification_id": NOTIFICATION_ID, "channel": "email", "recipient": "a***@example.com"}
    data["template"] = "x"
    return event("notification.sent", data, after_ms, "notifications")


def test_a_placed_order_is_pending_with_its_details() -> None:
    update = DashboardView().apply(placed())

    assert update is not None
    assert update.order.status == "PENDING"
    assert update.order.customer_email == "ada@example.com"
    assert update.order.total_cents == 2580
    assert update.order.placed_at == epoch_ms(PLACED_AT)
    assert update.item.latency_ms == 0
    assert update.item.summary == "2 items · 25.80 EUR"  # the payment token never leaves orders and payments


def test_the_card_carries_its_total_written_as_every_amount_is() -> None:
    view = DashboardView()
    placement = view.apply(placed()).order.to_json()
    confirmation_only = DashboardView().apply(confirmed(0)).order.to_json()

    assert placement["total_text"] == "25.80 EUR"
    assert view.apply(confirmed(180)).order.to_json()["total_text"] == "25.80 EUR"
    assert confirmation_only["total_text"] is None  # the card learns its total from the placement


def test_the_order_moves_to_confirmed_and_each_event_carries_its_latency() -> None:
    view = DashboardView()
    updates = [view.apply(e) for e in (placed(), authorized(120), confirmed(180), notified(450))]

    assert [u.item.latency_ms for u in updates] == [0, 120, 180, 450]
    final = updates[-1].order
    assert (final.status, final.payment, final.notified) == ("CONFIRMED", "authorized", True)


def test_a_declined_payment_ends_cancelled_with_the_reason() -> None:
    view = DashboardView()
    view.apply(placed())
    declined = {"payment_id": PAYMENT_ID, "reason": "card_declined"}
    view.apply(event("payment.declined", declined, 90, "payments"))
    update = view.apply(cancelled(130))

    assert update.order.status == "CANCELLED"
    assert update.order.reason == "card_declined"
    assert update.order.payment == "declined"


def test_a_terminal_status_never_changes_again() -> None:
    view = DashboardView()
    view.apply(placed())
    view.apply(confirmed(100))

    assert view.apply(cancelled(200)).order.status == "CONFIRMED"
    assert view.apply(placed(300)).order.status == "CONFIRMED"


def test_events_out_of_order_still_end_in_the_right_state() -> None:
    view = DashboardView()
    early = view.apply(confirmed(180))
    late = view.apply(placed())

    assert early.item.latency_ms is None  # the placement was not seen yet
    assert late.order.status == "CONFIRMED"
    assert late.order.customer_email == "ada@example.com"


def test_a_duplicate_event_is_shown_once() -> None:
    view = DashboardView()
    first = placed()

    assert view.apply(first) is not None
    assert view.apply(first) is None


def test_heartbeats_are_not_order_events() -> None:
    heartbeat = new_event(
        "service.heartbeat",
        {"service": "payments", "process": "consumer", "instance": "h-1"},
        source="payments",
    )

    assert DashboardView().apply(heartbeat) is None


def test_latency_is_never_negative_when_clocks_disagree() -> None:
    view = DashboardView()
    view.apply(placed(50))

    assert view.apply(authorized(20)).item.latency_ms == 0


def test_the_board_keeps_the_most_recent_orders_only() -> None:
    view = DashboardView(max_orders=2)
    for n in range(3):
        data = {"order_id": f"00000000-0000-4000-8000-00000000000{n}", "customer_email": "ada@example.com"}
        view.apply(new_event("order.confirmed", {**data, "total_cents": 100}, source="orders"))

    assert [order_id[-1] for order_id in view.orders] == ["1", "2"]


def test_the_snapshot_has_items_board_and_chart_points() -> None:
    view, snapshot = DashboardView(), Snapshot(max_items=3)
    for e in (placed(), authorized(120), confirmed(180), notified(450)):
        snapshot.add(view.apply(e))
    body = snapshot.to_json(view)

    assert [i["type"] for i in body["items"]] == [
        "payment.authorized",
        "order.confirmed",
        "notification.sent",
    ]
    assert [o["status"] for o in body["orders"]] == ["CONFIRMED"]
    assert body["placed"] == [epoch_ms(PLACED_AT)]
    assert body["end_to_end"] == [(epoch_ms(PLACED_AT) + 450, 450)]


def test_only_placements_and_notifications_make_chart_points() -> None:
    view = DashboardView()
    items = [view.apply(e).item for e in (placed(), authorized(120), notified(450))]

    assert [chart_points(i) for i in items] == [
        {"placed": epoch_ms(PLACED_AT)},
        {},
        {"end_to_end": (epoch_ms(PLACED_AT) + 450, 450)},
    ]


def untyped(event_type: str, data: dict, subject: str | None) -> Event:
    """A type the contract does not list yet, decoded as the dashboard does."""
    return decode(unlisted(data, event_type, subject), any_type=True)


def test_a_type_the_contract_does_not_list_is_shown_without_changing_the_order() -> None:
    view = DashboardView()
    view.apply(placed())

    update = view.apply(untyped("points.awarded", {"order_id": ORDER, "points": 12}, ORDER))

    assert update is not None
    assert (update.item.type, update.item.summary) == ("points.awarded", "")
    assert (update.order.status, update.order.customer_email) == ("PENDING", "ada@example.com")


def test_untyped_data_of_any_shape_never_breaks_the_view() -> None:
    view = DashboardView()
    odd = [
        untyped("x.happened", {"order_id": ["not", "an", "id"]}, None),
        untyped("x.happened", {"order_id": {"nested": 1}}, None),
        untyped("x.happened", {}, None),
    ]
    assert [view.apply(e) for e in odd] == [None, None, None]  # no order to show them on

    update = view.apply(untyped("x.happened", {"customer_email": 42, "reason": ["?"]}, ORDER))
    assert update is not None and update.order.customer_email is None


def as_the_feed_keeps_it(event_type: str, data: dict[str, Any], time: datetime = PLACED_AT) -> Event:
    """An event read back from the dashboard's feed: untyped, its data as sent (feed.py)."""
    envelope = json.loads(placed().to_json())
    return Event.model_validate({**envelope, "type": event_type, "time": time.isoformat(), "data": data})


def strict_json(value: Any) -> str:
    """What the stream sends: JSON a browser parses (no NaN, no Infinity)."""
    return json.dumps(value, allow_nan=False)


def test_a_total_near_10_to_the_400_is_shown_as_unknown_and_the_stream_goes_on() -> None:
    """Found by issue 15: JSON allows it, and it used to raise OverflowError out of the view."""
    view, snapshot = DashboardView(), Snapshot()
    huge = {"order_id": ORDER, "customer_email": "a***@example.com", "currency": "EUR"}
    events = [
        as_the_feed_keeps_it("order.placed", {**huge, "total_cents": 10**400, "items": [{"qty": 10**400}]}),
        as_the_feed_keeps_it("order.confirmed", {**huge, "total_cents": float("inf")}),
        as_the_feed_keeps_it("payment.authorized", {**huge, "amount_cents": float("nan")}),
    ]

    updates = [view.apply(e) for e in events]
    for update in updates:
        snapshot.add(update)
        strict_json(update.to_json())
    body = snapshot.to_json(view)

    assert [o["total_text"] for o in body["orders"]] == [None]
    assert [i["summary"] for i in body["items"]] == ["0 items · ?", "confirmed, ? total", "? authorized"]
    strict_json(body)


def test_an_event_the_view_cannot_show_is_skipped_counted_and_the_next_one_shown() -> None:
    view = DashboardView()
    broken = placed().model_copy(update={"data": None})  # no decoder makes this: the last line of defence

    assert view.apply(broken) is None
    assert view.apply(broken) is None  # counted once
    assert view.skipped == 1
    assert view.apply(confirmed(100)).order.status == "CONFIRMED"


def test_texts_of_any_type_or_length_are_shown_bounded() -> None:
    data = {"order_id": ORDER, "reason": "x" * 100_000, "customer_email": ["a@b.c"], "payment_id": 7}

    update = DashboardView().apply(as_the_feed_keeps_it("order.cancelled", data))

    assert len(update.item.summary) == len(update.order.reason) == MAX_TEXT
    assert update.order.customer_email is None
