"""What the payments processes read from the environment besides the shared settings."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ConsumerSettings

SERVICE = "payments"


class PaymentsSettings(ConsumerSettings):
    consumer_prefetch: int = Field(50, validation_alias="PAYMENTS_CONSUMER_PREFETCH")
    # the handler enqueues a task (a broker round trip): on a pool, so the I/O thread keeps up
    consumer_workers: int = Field(8, validation_alias="PAYMENTS_CONSUMER_WORKERS")
    # make the simulated gateway slow or unreliable on demand (demos, tests)
    gateway_latency_ms: int = 0
    gateway_failure_rate: float = 0.0
