"""Operator knobs that can change while notifications runs, without a restart.

The scaling demo slows every email down (a stand-in for a slow mail provider) and then
adds workers: only the workers may change, so the delay cannot be an environment
variable fixed at start-up. Knobs live in the service's own Redis, start from the
environment (NOTIFY_DELAY_MS), and workers re-read them at most once a second.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field, model_validator
from redis import Redis

from services.notifications.settings import NotificationsSettings


class KnobValues(BaseModel):
    """The knobs in force (`GET /api/settings`)."""

    notify_delay_ms: int


class KnobChange(BaseModel):
    """A change of some knobs (`PUT /api/settings`): strict integers, unknown names refused.

    The delay is capped well below the send claim (store.CLAIM_LEASE_S = 30 s) minus the SMTP
    timeout (10 s): a send must finish inside its claim, or a duplicate task could mail twice."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    notify_delay_ms: int | None = Field(None, ge=0, le=10_000)

    @model_validator(mode="after")
    def _changes_something(self) -> KnobChange:
        if not self.model_dump(exclude_none=True):
            raise ValueError(f"name at least one knob of {sorted(KnobChange.model_fields)}")
        return self


class Knobs:
    def __init__(self, redis: Redis, settings: NotificationsSettings, cache_s: float = 1.0) -> None:
        self._redis = redis
        self._key = settings.key("knobs")
        self._defaults = {"notify_delay_ms": settings.notify_delay_ms}
        self._cache_s = cache_s
        self._cached: tuple[float, dict[str, int]] = (float("-inf"), self._defaults)

    def current(self) -> dict[str, int]:
        stored = self._redis.hgetall(self._key)
        known = KnobValues.model_fields
        return {**self._defaults, **{name: int(value) for name, value in stored.items() if name in known}}

    def change(self, change: KnobChange) -> dict[str, int]:
        """Store every knob the (validated) change names; returns the knobs now in force."""
        self._redis.hset(self._key, mapping=change.model_dump(exclude_none=True))
        return self.current()

    def delay_ms(self) -> int:
        read_at, values = self._cached
        if time.monotonic() - read_at > self._cache_s:
            values = self.current()
            self._cached = (time.monotonic(), values)
        return values["notify_delay_ms"]
