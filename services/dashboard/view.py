"""What the browser shows, computed from events: the order board, the stream and chart points.

One reducer serves both paths into a browser session (recent history from the dashboard's
feed when it connects, then live events from that feed), so the browser only renders what
it is sent. Events may arrive twice (history and live overlap; delivery is at least once)
or out of order: duplicates are dropped by event id and an order's status only moves
forward, from PENDING to one terminal state.

The feed holds events as sent, untyped (see feed.py), so every field is read defensively:
a value of the wrong type or out of range is shown as missing. An event the view still
cannot show is skipped and counted, never raised into the live stream.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from shared.envelope import Event
from shared.money import format_cents

log = logging.getLogger(__name__)

STATUS_AFTER = {"order.placed": "PENDING", "order.confirmed": "CONFIRMED", "order.cancelled": "CANCELLED"}
TERMINAL = frozenset({"CONFIRMED", "CANCELLED"})
NOT_SHOWN = frozenset({"service.heartbeat"})
MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a browser's JSON.parse reads exactly
MAX_TEXT = 300  # characters of a reason or summary the page shows
NOTIFICATION_FIELDS = ("channel", "recipient", "template")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def whole_number(value: Any) -> int | None:
    """`value` if it is an integer a browser reads exactly, else None (shown as missing)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_SAFE_INTEGER:
        return value
    return None


def text(value: Any) -> str | None:
    """`value` cut to what the page shows if it is a string, else None (shown as missing)."""
    return value[:MAX_TEXT] if isinstance(value, str) else None


@dataclass
class OrderCard:
    """One order as the board shows it, merged from every event about it."""

    order_id: str
    status: str = "PENDING"
    customer_email: str | None = None  # masked by the feed
    total_cents: int | None = None
    currency: str | None = None
    placed_at: int | None = None  # epoch ms of order.placed, the origin of every latency
    updated_at: int | None = None
    payment: str | None = None  # "authorized" | "declined"
    notified: bool = False
    reason: str | None = None

    @property
    def total_text(self) -> str | None:
        """The total as the page shows it: written here, like every amount the server sends."""
        return None if self.total_cents is None else format_cents(self.total_cents, self.currency or "")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total_text": self.total_text}


@dataclass(frozen=True)
class FeedItem:
    """One line of the live event stream."""

    id: str
    type: str
    source: str
    order_id: str
    time: int  # epoch ms, as stamped by the producer
    latency_ms: int | None  # since the order was placed; None when its placement was not seen
    summary: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Update:
    item: FeedItem
    order: OrderCard

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item.to_json(), "order": self.order.to_json(), "points": chart_points(self.item)}


def latency_ms(card: OrderCard, event_time_ms: int) -> int | None:
    """Time from the order's placement to this event; clocks of two hosts never make it negative."""
    if card.placed_at is None:
        return None
    return max(0, event_time_ms - card.placed_at)


def amount(cents: Any, currency: Any = "") -> str:
    cents = whole_number(cents)
    return "?" if cents is None else format_cents(cents, text(currency) or "")


def item_count(lines: Any) -> int:
    if not isinstance(lines, list):
        return 0
    return sum(whole_number(line.get("qty")) or 0 for line in lines if isinstance(line, dict))


def summarize(event_type: str, data: dict[str, Any]) -> str:
    match event_type:
        case "order.placed":
            count = item_count(data.get("items"))
            noun = "item" if count == 1 else "items"
            return f"{count} {noun} · {amount(data.get('total_cents'), data.get('currency'))}"
        case "payment.authorized":
            return f"{amount(data.get('amount_cents'), data.get('currency'))} authorized"
        case "payment.declined" | "order.cancelled":
            return text(data.get("reason")) or ""
        case "order.confirmed":
            return f"confirmed, {amount(data.get('total_cents'))} total"
        case "notification.sent":
            channel, recipient, template = (text(data.get(f)) or "?" for f in NOTIFICATION_FIELDS)
            return f"{channel} to {recipient} ({template})"
    return ""


def apply_to_card(card: OrderCard, event_type: str, data: dict[str, Any], time_ms: int) -> None:
    """Merge one event into its order's card; the status leaves PENDING at most once."""
    if event_type == "order.placed":
        card.total_cents = whole_number(data.get("total_cents"))
        card.currency = text(data.get("currency"))
        card.placed_at = time_ms
    elif event_type == "payment.authorized":
        card.payment = "authorized"
    elif event_type == "payment.declined":
        card.payment = "declined"
    elif event_type == "notification.sent":
        card.notified = True
    new_status = STATUS_AFTER.get(event_type)
    if new_status in TERMINAL and card.status not in TERMINAL:
        card.status = new_status
        card.reason = text(data.get("reason"))
    card.customer_email = card.customer_email or text(data.get("customer_email"))
    card.updated_at = max(card.updated_at or 0, time_ms)


class DashboardView:
    """The state of one browser session: its orders and the event ids it has already seen."""

    def __init__(self, max_orders: int = 2000, max_seen: int = 50_000) -> None:
        self.orders: OrderedDict[str, OrderCard] = OrderedDict()
        self.skipped = 0  # events it could not show
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max_orders = max_orders
        self._max_seen = max_seen

    def apply(self, event: Event) -> Update | None:
        """The update to send for this event, or None when there is nothing new to show."""
        order_id = event.subject or getattr(event.data, "order_id", None)
        if event.id in self._seen or event.type in NOT_SHOWN or not isinstance(order_id, str) or not order_id:
            return None  # no order to show it on (an untyped event's order_id may be anything)
        self._remember(event.id)
        try:
            update = self._update(event, order_id)
        except Exception:  # whatever an event holds, the stream of every other event goes on
            self.skipped += 1
            log.warning("event %s (%s) skipped: cannot be shown", event.id, event.type, exc_info=True)
            return None
        self.orders[order_id] = update.order
        if len(self.orders) > self._max_orders:
            self.orders.popitem(last=False)
        return update

    def _update(self, event: Event, order_id: str) -> Update:
        """The event merged into a copy of its order's card: the board changes only once it is whole."""
        data = event.data.model_dump()
        time_ms = epoch_ms(event.time)
        known = self.orders.get(order_id)
        card = dataclasses.replace(known) if known else OrderCard(order_id)
        apply_to_card(card, event.type, data, time_ms)
        item = FeedItem(
            id=event.id,
            type=event.type,
            source=event.source,
            order_id=order_id,
            time=time_ms,
            latency_ms=latency_ms(card, time_ms),
            summary=summarize(event.type, data)[:MAX_TEXT],
        )
        return Update(item, card)

    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        if len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)


@dataclass
class Snapshot:
    """What a browser gets when it connects: recent items, the board and the chart points."""

    max_items: int = 1500
    items: deque[FeedItem] = field(init=False)
    placed: list[int] = field(default_factory=list)  # epoch ms of each order.placed
    end_to_end: list[tuple[int, int]] = field(default_factory=list)  # (notified at, ms since placed)

    def __post_init__(self) -> None:
        self.items = deque(maxlen=self.max_items)

    def add(self, update: Update) -> None:
        self.items.append(update.item)
        for kind, point in chart_points(update.item).items():
            getattr(self, kind).append(point)

    def to_json(self, view: DashboardView) -> dict[str, Any]:
        return {
            "items": [item.to_json() for item in self.items],
            "orders": [card.to_json() for card in view.orders.values()],
            "placed": self.placed,
            "end_to_end": self.end_to_end,
        }


def chart_points(item: FeedItem) -> dict[str, Any]:
    """The chart points one item contributes: a placement, or an end-to-end latency."""
    if item.type == "order.placed":
        return {"placed": item.time}
    if item.type == "notification.sent" and item.latency_ms is not None:
        return {"end_to_end": (item.time, item.latency_ms)}
    return {}
