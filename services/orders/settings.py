"""What the orders processes read from the environment besides the shared settings."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ConsumerSettings

SERVICE = "orders"


class OrdersSettings(ConsumerSettings):
    consumer_prefetch: int = Field(50, validation_alias="ORDERS_CONSUMER_PREFETCH")
    # a transition is two Redis round trips: quicker on the connection's thread than handed to a pool
    consumer_workers: int = Field(0, validation_alias="ORDERS_CONSUMER_WORKERS")
    orders_relay_batch: int = 500  # outbox entries the relay publishes per batch
    orders_relay_claim_idle_ms: int = 30_000  # take over entries a crashed relay left pending this long
    # Orders placed per client (IP address) by `POST /api/orders`, in the limits library's
    # notation; high enough by default that the demos, `make load` and `make bench` never meet it.
    orders_rate_limit: str = "1000/second"
