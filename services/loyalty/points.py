"""The loyalty rules and their Redis store: plain functions, no broker in sight."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from shared.contract import OrderConfirmed, OrderPlaced
from shared.idempotency import apply_once
from shared.settings import Settings

CENTS_PER_POINT = 100


def points_for(total_cents: int) -> int:
    """One point per whole euro spent."""
    return total_cents // CENTS_PER_POINT


@dataclass
class LoyaltyStore:
    redis: Redis
    settings: Settings

    def _customer(self, email: str) -> str:
        return self.settings.key("customer", email.lower())

    def record_order_placed(self, order: OrderPlaced) -> bool:
        marker = self.settings.key("counted", "placed", order.order_id)
        customer = self._customer(order.customer_email)
        return apply_once(self.redis, marker, lambda tx: tx.hincrby(customer, "orders_placed", 1), ttl_s=None)

    def award_points(self, order: OrderConfirmed) -> bool:
        """Credit the order's points once, however often (and by whichever path) it arrives.

        The markers never expire: a backfill can bring back events of any age."""
        marker = self.settings.key("counted", "confirmed", order.order_id)

        def credit(tx) -> None:
            customer = self._customer(order.customer_email)
            tx.hincrby(customer, "points", points_for(order.total_cents))
            tx.hincrby(customer, "orders_confirmed", 1)
            tx.sadd(self.settings.key("customers"), order.customer_email.lower())

        return apply_once(self.redis, marker, credit, ttl_s=None)

    def account(self, email: str) -> dict[str, int]:
        raw = self.redis.hgetall(self._customer(email))
        return {field: int(raw.get(field, 0)) for field in ("points", "orders_placed", "orders_confirmed")}

    def customers(self) -> list[str]:
        return sorted(self.redis.smembers(self.settings.key("customers")))

    def count(self, path: str) -> None:
        """How many events arrived through the backfill and through the live queue."""
        self.redis.hincrby(self.settings.key("stats"), path, 1)

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.redis.hgetall(self.settings.key("stats")).items()}

    def log_position(self) -> int | None:
        value = self.redis.get(self.settings.key("log_position"))
        return int(value) if value is not None else None

    def checkpoint(self, offset: int, backfilled: int) -> None:
        """Backfill progress in one round trip: the last log offset read, events applied since."""
        with self.redis.pipeline() as tx:
            tx.set(self.settings.key("log_position"), offset)
            tx.hincrby(self.settings.key("stats"), "backfilled", backfilled)
            tx.execute()
