"""Exactly-once effects on at-least-once delivery, in the service's own Redis.

    apply_once(redis, settings.key("processed", event.id), lambda tx: tx.hset(...))

remembers processed event ids in the same transaction as the effect: two replicas handling
the same event at once both WATCH the marker; the second EXEC fails, re-reads the marker and
sees the work done. `AddIfAbsent` stores a record (a hash) only once, and `Lease` lets one
task at a time work on it (payments' ledger, notifications' store).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
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


_ADD_IF_ABSENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
if KEYS[2] then redis.call('SADD', KEYS[2], KEYS[1]) end
return 1
"""


class AddIfAbsent:
    """Store a record once: a second request, or a redelivered event, finds it there and
    changes nothing. One round trip, atomic (Lua)."""

    def __init__(self, redis: Redis) -> None:
        self._add = redis.register_script(_ADD_IF_ABSENT)

    def __call__(self, key: str, fields: Mapping[str, object], *, index: str = "") -> bool:
        """HSET `fields` at `key` unless the key exists; also add `key` to the set `index`, if
        given, in the same step. False if the record was already there."""
        keys = [key, index] if index else [key]
        return bool(self._add(keys=keys, args=as_hash_args(fields)))


# Take the lease and read the record it guards in one round trip.
_TAKE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return false end
if not KEYS[2] then return {} end
return redis.call('HGETALL', KEYS[2])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """One holder at a time for a piece of work (a charge, an email) across replicas.

    A lease, not a lock: SET NX with an expiry, so if its holder dies it runs out and a
    redelivered task takes over; released only by its own holder (token check in Lua).
    """

    def __init__(self, redis: Redis, lease_s: int) -> None:
        self._lease_s = lease_s
        self._take = redis.register_script(_TAKE)
        self._release = redis.register_script(_RELEASE)

    @contextlib.contextmanager
    def hold(self, key: str, busy: Exception, *, read: str = "") -> Iterator[dict[str, str]]:
        """Run the block holding `key`; raise `busy` if another holder has it.

        Yields the hash at `read` as it is once the lease is held (empty if missing or
        not asked for): what the holder works from, fetched in the same round trip."""
        token = uuid.uuid4().hex
        taken = self._take(keys=[key, read] if read else [key], args=[token, self._lease_s])
        if taken is None:
            raise busy
        try:
            yield as_hash(taken)
        finally:
            self._release(keys=[key], args=[token])


def as_hash_args(fields: Mapping[str, object]) -> list[object]:
    """A hash as HSET and Lua scripts take it: a flat field, value list."""
    return [item for pair in fields.items() for item in pair]


def as_hash(reply: list[str]) -> dict[str, str]:
    """A hash as a Lua script returns it (HGETALL's flat field, value list) as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True))
