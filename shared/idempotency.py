"""Exactly-once effects on at-least-once delivery: remember processed event ids in the
service's own Redis, in the same transaction as the effect.

    apply_once(redis, settings.key("processed", event.id), lambda tx: tx.hset(...))

Two replicas handling the same event at once both WATCH the marker; the second EXEC
fails, re-reads the marker and sees the work done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import Redis, WatchError
from redis.client import Pipeline

PROCESSED_TTL_S = 7 * 24 * 3600


def apply_once(
    redis: Redis,
    marker: str,
    effect: Callable[[Pipeline], Any],
    *,
    ttl_s: int | None = PROCESSED_TTL_S,
) -> bool:
    """Queue `effect`'s commands in one MULTI with the marker; False if already done.

    `ttl_s=None` keeps the marker for good: for effects whose events can come back much
    later (a replay of the whole event log)."""
    with redis.pipeline() as tx:
        while True:
            try:
                tx.watch(marker)
                if tx.exists(marker):
                    return False
                tx.multi()
                effect(tx)
                tx.set(marker, 1, ex=ttl_s)
                tx.execute()
                return True
            except WatchError:
                continue
