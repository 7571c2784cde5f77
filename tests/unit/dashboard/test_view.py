"""The dashboard's reducer: events in, order board and stream lines out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.dashboard.view import DashboardView, Snapshot, chart_points, epoch_ms
from shared.envelope import Event, decode, new_event
from tests.support.events import unlisted

PLACED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ORDER = "order-1"


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
    data = {"payment_id": "pay-1", "amount_cents": 2580, "currency": "EUR"}
    return event("payment.authorized", data, after_ms, "payments")


def confirmed(after_ms: int) -> Event:
    return event("order.confirmed", {"customer_email": "ada@example.com", "total_cents": 2580}, after_ms)


def cancelled(after_ms: int) -> Event:
    return event(
        "order.cancelled", {"customer_email": "ada@example.com", "reason": "card_declined"}, after_ms
    )


def notified(after_ms: int) -> Event:
    data = {"notification_id": "n-1", "channel": "email", "recipient": "ada@example.com", "template": "x"}
    return event("notification.sent", data, after_ms, "notifications")


def test_a_placed_order_is_pending_with_its_details() -> None:
    update = DashboardView().apply(placed())

    assert update is not None
    assert update.order.status == "PENDING"
    assert update.order.customer_email == "ada@example.com"
    assert update.order.total_cents == 2580
    assert update.order.placed_at == epoch_ms(PLACED_AT)
    assert update.item.latency_ms == 0
    assert update.item.summary == "2 items · 25.80 EUR · tok_visa"


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
    view.apply(event("payment.declined", {"payment_id": "p", "reason": "card_declined"}, 90, "payments"))
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
        data = {"order_id": f"o{n}", "customer_email": "ada@example.com", "total_cents": 100}
        view.apply(new_event("order.confirmed", data, source="orders"))

    assert list(view.orders) == ["o1", "o2"]


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

    update = view.apply(untyped("x.happened", {"customer_email": 42, "reason": ["?"]}, "order-9"))
    assert update is not None and update.order.customer_email is None
