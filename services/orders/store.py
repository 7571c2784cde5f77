"""Orders in Redis, with the outbox beside them: every change and its event in one round trip.

Each write is a Lua script, which Redis runs atomically: placing an order writes the
order, its idempotency record, its index entries and its `order.placed` outbox entry,
or nothing; a transition checks the processed-event marker and the current status,
then writes the new status, the outbox entry and the marker together. The outbox is a
Redis Stream read by the relay through a consumer group (see relay.py).

Keys (all inside the service's namespace): `order:<id>` hash, `orders:by_time` and
`orders:<STATUS>` sorted sets (score = placed time), `idempotency:<key>` hash,
`processed:<event id>` marker, `outbox` stream, `outbox:dead` stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from redis import Redis, ResponseError

from services.orders.model import Order, OrderLine, OrderStatus
from shared.envelope import Event
from shared.idempotency import PROCESSED_TTL_S, as_hash_args
from shared.settings import Settings
from shared.tracing import stored_traceparent

IDEMPOTENCY_TTL_S = 24 * 3600
OUTBOX_GROUP = "relay"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The shebang makes Redis refuse the whole script up front (e.g. when out of memory)
# instead of failing halfway through its writes.
_PLACE = """#!lua
-- KEYS: order, outbox, index by time, index by status[, idempotency record]
-- ARGV: order id, score, event json, event type, fingerprint, idempotency ttl, order fields...
if #KEYS == 5 then
  local claimed = redis.call('HMGET', KEYS[5], 'order_id', 'fingerprint')
  if claimed[1] then return {0, claimed[1], claimed[2]} end
  redis.call('HSET', KEYS[5], 'order_id', ARGV[1], 'fingerprint', ARGV[5])
  redis.call('EXPIRE', KEYS[5], ARGV[6])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('XADD', KEYS[2], '*', 'type', ARGV[4], 'event', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return {1}
"""

_TRANSITION = """#!lua
-- KEYS: order, processed marker, outbox, index of the old status, index of the new status
-- ARGV: expected status, order id, event json, event type, marker ttl, score, changed fields...
if redis.call('EXISTS', KEYS[2]) == 1 then return 'duplicate' end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= ARGV[1] then return 'stale' end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('XADD', KEYS[3], '*', 'type', ARGV[4], 'event', ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[2])
redis.call('SET', KEYS[2], 1, 'EX', ARGV[5])
return 'applied'
"""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a request with a different body."""


@dataclass(frozen=True)
class Placement:
    order: Order
    created: bool  # False: the Idempotency-Key was seen before and this is its order


class TransitionOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this event was processed before
    STALE = "stale"  # the order changed since it was read: decide again
    MISSING = "missing"


class OrderStore:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._place = redis.register_script(_PLACE)
        self._transition = redis.register_script(_TRANSITION)

    def _order_key(self, order_id: str) -> str:
        return self.settings.key("order", order_id)

    def _index_key(self, status: OrderStatus | None) -> str:
        return self.settings.key("orders", status.value if status else "by_time")

    def add(
        self, order: Order, placed: Event, idempotency_key: str | None = None, fingerprint: str = ""
    ) -> Placement:
        """Store a new order with its event, unless its Idempotency-Key already names one."""
        keys = [
            self._order_key(order.id),
            self.settings.key("outbox"),
            self._index_key(None),
            self._index_key(order.status),
        ]
        if idempotency_key is not None:
            keys.append(self.settings.key("idempotency", idempotency_key))
        args = [
            order.id,
            _score(order.placed_at),
            _outbox_json(placed),
            placed.type,
            fingerprint,
            IDEMPOTENCY_TTL_S,
            *as_hash_args(to_fields(order)),
        ]
        result = self._place(keys=keys, args=args)
        if result[0] == 1:
            return Placement(order, created=True)
        existing_id, existing_fingerprint = result[1], result[2]
        if existing_fingerprint != fingerprint:
            raise IdempotencyConflict(idempotency_key)
        existing = self.get(existing_id)
        assert existing is not None, "an idempotency record is written with its order"
        return Placement(existing, created=False)

    def get(self, order_id: str) -> Order | None:
        fields = self.redis.hgetall(self._order_key(order_id))
        return from_fields(fields) if fields else None

    def get_for_event(self, order_id: str, event_id: str) -> tuple[Order | None, bool]:
        """The order and whether this event was already processed, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._order_key(order_id))
            pipe.exists(self.settings.key("processed", event_id))
            fields, processed = pipe.execute()
        return (from_fields(fields) if fields else None), bool(processed)

    def transition(self, before: Order, after: Order, cause_id: str, event: Event) -> TransitionOutcome:
        """Store `after` and its event if the order is still as `before` and `cause_id` is new."""
        unchanged = to_fields(before)
        changed = {k: v for k, v in to_fields(after).items() if unchanged.get(k) != v}
        result = self._transition(
            keys=[
                self._order_key(after.id),
                self.settings.key("processed", cause_id),
                self.settings.key("outbox"),
                self._index_key(before.status),
                self._index_key(after.status),
            ],
            args=[
                before.status.value,
                after.id,
                _outbox_json(event),
                event.type,
                PROCESSED_TTL_S,
                _score(after.placed_at),
                *as_hash_args(changed),
            ],
        )
        return TransitionOutcome(result)

    def list(self, status: OrderStatus | None = None, limit: int = 50) -> list[Order]:
        """Newest first."""
        order_ids = self.redis.zrevrange(self._index_key(status), 0, limit - 1)
        with self.redis.pipeline(transaction=False) as pipe:
            for order_id in order_ids:
                pipe.hgetall(self._order_key(order_id))
            found = pipe.execute()
        return [from_fields(fields) for fields in found if fields]


@dataclass(frozen=True)
class OutboxEntry:
    entry_id: str
    event_json: str


class Outbox:
    """The outbox stream as the relay sees it: a consumer group shared by all relays."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.stream = settings.key("outbox")
        self.dead_stream = settings.key("outbox", "dead")

    def ensure_group(self) -> None:
        """Created at id 0, so entries written before the first relay started are read too."""
        try:
            self.redis.xgroup_create(self.stream, OUTBOX_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_new(self, consumer: str, count: int, block_ms: int) -> list[OutboxEntry]:
        replies = self.redis.xreadgroup(
            OUTBOX_GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [entry for _stream, entries in replies or [] for entry in _entries(entries)]

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[OutboxEntry]:
        """Take over entries another relay read but never settled (it crashed or hangs)."""
        reply = self.redis.xautoclaim(self.stream, OUTBOX_GROUP, consumer, min_idle_ms, "0-0", count=count)
        return list(_entries(reply[1]))

    def settle(self, entry_ids: list[str]) -> None:
        """Published and confirmed: acknowledge and delete, in one transaction."""
        with self.redis.pipeline(transaction=True) as tx:
            tx.xack(self.stream, OUTBOX_GROUP, *entry_ids)
            tx.xdel(self.stream, *entry_ids)
            tx.execute()

    def park(self, entry: OutboxEntry, reason: str) -> None:
        """An entry that can never be published is kept aside with the reason, not retried forever."""
        with self.redis.pipeline(transaction=True) as tx:
            tx.xadd(
                self.dead_stream, {"entry_id": entry.entry_id, "event": entry.event_json, "reason": reason}
            )
            tx.xack(self.stream, OUTBOX_GROUP, entry.entry_id)
            tx.xdel(self.stream, entry.entry_id)
            tx.execute()

    def leave(self, consumer: str) -> None:
        """Forget this relay's name in the group, unless it still holds unsettled entries."""
        if not self.redis.xpending_range(self.stream, OUTBOX_GROUP, "-", "+", 1, consumername=consumer):
            self.redis.xgroup_delconsumer(self.stream, OUTBOX_GROUP, consumer)


def _entries(raw: list[Any]) -> Iterator[OutboxEntry]:
    for entry_id, fields in raw:
        if fields:  # an entry deleted while pending comes back without fields
            yield OutboxEntry(entry_id, fields["event"])


def _outbox_json(event: Event) -> str:
    """The event as the relay will publish it; with tracing on, its `traceparent` is the span
    storing it (the POST, or the consumer's handling), which the relay's publish continues."""
    traceparent = stored_traceparent(event.traceparent)
    if traceparent != event.traceparent:
        event = event.model_copy(update={"traceparent": traceparent})
    return event.to_json().decode()


def to_fields(order: Order) -> dict[str, str]:
    fields = {
        "id": order.id,
        "status": order.status.value,
        "customer_email": order.customer_email,
        "payment_token": order.payment_token,
        "currency": order.currency,
        "lines": json.dumps([[ln.sku, ln.name, ln.qty, ln.unit_price_cents] for ln in order.lines]),
        "placed_at": order.placed_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "confirmed_at": order.confirmed_at.isoformat() if order.confirmed_at else "",
        "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else "",
        "cancel_reason": order.cancel_reason or "",
    }
    return {k: v for k, v in fields.items() if v}


def from_fields(fields: dict[str, str]) -> Order:
    return Order(
        id=fields["id"],
        status=OrderStatus(fields["status"]),
        customer_email=fields["customer_email"],
        payment_token=fields["payment_token"],
        currency=fields["currency"],
        lines=tuple(OrderLine(*line) for line in json.loads(fields["lines"])),
        placed_at=datetime.fromisoformat(fields["placed_at"]),
        updated_at=datetime.fromisoformat(fields["updated_at"]),
        confirmed_at=_optional_time(fields.get("confirmed_at")),
        cancelled_at=_optional_time(fields.get("cancelled_at")),
        cancel_reason=fields.get("cancel_reason") or None,
    )


def _optional_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _score(when: datetime) -> int:
    """Microseconds since the epoch: exact in a double, and fine enough to keep placement order."""
    return (when - _EPOCH) // timedelta(microseconds=1)
