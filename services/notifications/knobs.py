"""Operator knobs that can change while notifications runs, without a restart.

The scaling demo slows every email down (a stand-in for a slow mail provider) and then
adds workers: only the workers may change, so the delay cannot be an environment
variable fixed at start-up. Knobs live in the service's own Redis, start from the
environment (NOTIFY_DELAY_MS), and workers re-read them at most once a second.
"""

from __future__ import annotations

import time

from redis import Redis

from services.notifications.settings import NotificationsSettings

# Capped well below the send claim (store.CLAIM_LEASE_S = 30 s) minus the SMTP timeout (10 s):
# a send must finish inside its claim, or a duplicate task could take over and mail twice.
LIMITS = {"notify_delay_ms": (0, 10_000)}


class InvalidKnob(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Knobs:
    def __init__(self, redis: Redis, settings: NotificationsSettings, cache_s: float = 1.0) -> None:
        self._redis = redis
        self._key = settings.key("knobs")
        self._defaults = {"notify_delay_ms": settings.notify_delay_ms}
        self._cache_s = cache_s
        self._cached: tuple[float, dict[str, int]] = (float("-inf"), self._defaults)

    def current(self) -> dict[str, int]:
        stored = self._redis.hgetall(self._key)
        return {**self._defaults, **{name: int(value) for name, value in stored.items() if name in LIMITS}}

    def change(self, values: object) -> dict[str, int]:
        """Validate every value first, then store them all; returns the knobs now in force."""
        if not isinstance(values, dict) or not values:
            raise InvalidKnob("body", f"a JSON object with any of {sorted(LIMITS)}")
        for name, value in values.items():
            if name not in LIMITS:
                raise InvalidKnob(name, f"unknown knob; known: {sorted(LIMITS)}")
            low, high = LIMITS[name]
            if type(value) is not int or not low <= value <= high:
                raise InvalidKnob(name, f"an integer from {low} to {high}")
        self._redis.hset(self._key, mapping=values)
        return self.current()

    def delay_ms(self) -> int:
        read_at, values = self._cached
        if time.monotonic() - read_at > self._cache_s:
            values = self.current()
            self._cached = (time.monotonic(), values)
        return values["notify_delay_ms"]
