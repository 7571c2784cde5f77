"""What the notifications processes read from the environment besides the shared settings."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ConsumerSettings

SERVICE = "notifications"
DEFAULT_SENDER = "Event-Driven Shop <orders@shop.example>"


class NotificationsSettings(ConsumerSettings):
    consumer_prefetch: int = Field(50, validation_alias="NOTIFICATIONS_CONSUMER_PREFETCH")
    # the handler enqueues a task (a broker round trip): on a pool, so the I/O thread keeps up
    consumer_workers: int = Field(8, validation_alias="NOTIFICATIONS_CONSUMER_WORKERS")
    notify_sender: str = DEFAULT_SENDER
    # where the notify_delay_ms knob starts (knobs.py): an artificial delay per email
    notify_delay_ms: int = 0
    # a Celery rate limit per worker, such as "100/s", on sending; empty: none
    notify_rate_limit: str = ""
